//! The `krypt7` binary against a real server over real TLS: the scripted path, and bad input
//! that must give a clear message, a non-zero exit and no change.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::{
    io::Write,
    process::{Command, Stdio},
};

use krypt7_server::{Config, clock::Clock};
use serde_json::Value;

mod import;
mod mail;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|_| panic!("not JSON: {} / {}", self.stdout, self.stderr))
    }
}

fn krypt7(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_krypt7"));
    c.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("KRYPT7_SESSION")
        .env_remove("KRYPT7_SECRET_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// Arguments, environment, standard input, expected exit code, expected message.
type Case<'a> = (
    Vec<&'a str>,
    Vec<(&'a str, &'a str)>,
    Option<&'a str>,
    i32,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_path_and_bad_input() {
    let sdir = tempfile::tempdir().unwrap();
    let mut config = Config::new(sdir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = krypt7_server::start(config, Clock::default())
        .await
        .unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = sdir.path().join("data/ca.pem");
    let ca = ca.to_str().unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let base = [("KRYPT7_SERVER", url.as_str()), ("KRYPT7_CA", ca)];

    // Sign up; the Secret Key comes back once, and the Emergency Kit is written.
    let kit = d1.path().join("kit");
    let kit_arg = kit.to_str().unwrap();
    let r = krypt7(
        d1.path(),
        &base,
        &[
            "--json",
            "signup",
            "--username",
            "carol",
            "--password-stdin",
            "--kit",
            kit_arg,
        ],
        Some("carol's long password\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sk = r.json()["secret_key"].as_str().unwrap().to_string();
    assert!(sk.starts_with("K1-"));
    let text = std::fs::read_to_string(kit.with_extension("txt")).unwrap();
    assert!(
        text.contains(&sk) && text.contains("carol") && text.contains(&url),
        "{text}"
    );
    let html = std::fs::read_to_string(kit.with_extension("html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains(&sk));
    // Unlock for a session; add and read items with it (the server URL is remembered).
    let r = krypt7(
        d1.path(),
        &[("KRYPT7_SECRET_KEY", &sk)],
        &["--json", "unlock", "--password-stdin"],
        Some("carol's long password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let session = r.json()["session"].as_str().unwrap().to_string();
    let s = [("KRYPT7_SESSION", session.as_str())];
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "item",
            "add",
            "login",
            "--title",
            "Bank",
            "--field",
            "username=carol",
            "--field",
            "password=p=w",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = krypt7(d1.path(), &s, &["--json", "item", "get", &id], None);
    assert_eq!(r.json()["fields"]["password"], "p=w");
    let r = krypt7(d1.path(), &s, &["--json", "status"], None);
    assert_eq!(
        (r.json()["pending"].as_i64(), r.json()["unlocked"].as_bool()),
        (Some(1), Some(true))
    );
    let r = krypt7(d1.path(), &s, &["--json", "sync"], None);
    assert_eq!(
        (r.code, r.json()["pushed"].as_i64()),
        (0, Some(1)),
        "{}",
        r.stderr
    );
    // The commit is this device's, by its name and clock.
    let changed = r.json()["last_change"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        changed.starts_with(&format!(
            "vault changed by {} (this device) at 20",
            krypt7_client::host_name()
        )) && changed.contains("(version "),
        "{changed}"
    );

    // Edit, trash, restore, history, purge.
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "item", "edit", &id, "--field", "password=p2"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(d1.path(), &s, &["--json", "item", "history", &id], None);
    assert_eq!(r.json()[0]["fields"]["password"], "p=w");
    assert_eq!(krypt7(d1.path(), &s, &["item", "rm", &id], None).code, 0);
    assert_eq!(
        krypt7(d1.path(), &s, &["--json", "item", "get", &id], None).json()["trashed"],
        true
    );
    assert_eq!(
        krypt7(d1.path(), &s, &["item", "restore", &id], None).code,
        0
    );
    assert_eq!(
        krypt7(d1.path(), &s, &["--json", "item", "get", &id], None).json()["trashed"],
        false
    );
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "item",
            "add",
            "note",
            "--title",
            "Scratch",
            "--field",
            "notes=gone soon",
        ],
        None,
    );
    let scratch = r.json()["id"].as_str().unwrap().to_string();
    // A script must say --yes; without it nothing is deleted.
    let r = krypt7(d1.path(), &s, &["item", "purge", &scratch], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("add --yes to confirm"), "{}", r.stderr);
    assert_eq!(
        krypt7(d1.path(), &s, &["item", "get", &scratch], None).code,
        0
    );
    assert_eq!(
        krypt7(d1.path(), &s, &["item", "purge", "--yes", &scratch], None).code,
        0
    );
    let r = krypt7(d1.path(), &s, &["item", "get", &scratch], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such item"));

    // Search.
    let r = krypt7(d1.path(), &s, &["--json", "search", "ban"], None);
    assert_eq!(r.json()[0]["title"], "Bank", "{}", r.stdout);
    let r = krypt7(d1.path(), &s, &["--json", "search", "carrol"], None);
    assert_eq!(
        r.json().as_array().unwrap().len(),
        1,
        "one typo still finds the username"
    );
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "search", "", "--kind", "note"],
        None,
    );
    assert_eq!(r.json().as_array().unwrap().len(), 0, "the note was purged");

    // Typed kinds, list fields, folders, tags and favourites.
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "item",
            "add",
            "contact",
            "--title",
            "Ada Lovelace",
            "--field",
            "emails=ada@example.org",
            "--field",
            "emails=ada@analytical.example",
            "--field",
            "organization=Analytical Engines",
            "--folder",
            "Personal",
            "--tag",
            "family",
            "--tag",
            "vip",
            "--favorite",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ada = r.json()["id"].as_str().unwrap().to_string();
    let got = krypt7(d1.path(), &s, &["--json", "item", "get", &ada], None).json();
    assert_eq!(
        got["fields"]["emails"],
        "ada@example.org\nada@analytical.example"
    );
    assert_eq!(
        (got["folder"].as_str(), got["favorite"].as_bool()),
        (Some("Personal"), Some(true))
    );
    let r = krypt7(d1.path(), &s, &["--json", "search", "analytical"], None);
    assert_eq!(
        r.json()[0]["id"],
        ada.as_str(),
        "contact fields are indexed"
    );
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "item", "list", "--favorites"],
        None,
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = krypt7(d1.path(), &s, &["--json", "folders"], None);
    assert_eq!(
        r.json(),
        serde_json::json!([{"name": "Personal", "items": 1}])
    );
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "item",
            "edit",
            &ada,
            "--untag",
            "vip",
            "--tag",
            "math",
            "--unfavorite",
            "--folder",
            "",
            "--remove-field",
            "organization",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = krypt7(d1.path(), &s, &["--json", "item", "get", &ada], None).json();
    assert_eq!(got["tags"], serde_json::json!(["family", "math"]));
    assert_eq!(
        (got["folder"].is_null(), got["favorite"].as_bool()),
        (true, Some(false))
    );
    assert!(got["fields"].get("organization").is_none());
    let r = krypt7(d1.path(), &s, &["--json", "tags"], None);
    assert_eq!(
        r.json(),
        serde_json::json!([{"name": "family", "items": 1}, {"name": "math", "items": 1}])
    );

    // One-time codes and the generator.
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "item",
            "add",
            "login",
            "--title",
            "2FA",
            "--field",
            "totp=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        ],
        None,
    );
    let totp_id = r.json()["id"].as_str().unwrap().to_string();
    let r = krypt7(d1.path(), &s, &["--json", "totp", &totp_id], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let code = r.json()["code"].as_str().unwrap().to_string();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert!((1..=30).contains(&r.json()["seconds_left"].as_i64().unwrap()));
    let r = krypt7(d1.path(), &s, &["totp", &id], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no TOTP secret"), "{}", r.stderr);
    let r = krypt7(
        d1.path(),
        &[],
        &["--json", "generate", "--passphrase", "--words", "7"],
        None,
    );
    assert_eq!(r.json()["value"].as_str().unwrap().split('-').count(), 7);
    assert!(r.json()["entropy_bits"].as_f64().unwrap() > 90.0);
    let r = krypt7(
        d1.path(),
        &[],
        &["--json", "generate", "--length", "32", "--no-symbols"],
        None,
    );
    let pw = r.json()["value"].as_str().unwrap().to_string();
    assert!(
        pw.len() == 32 && pw.chars().all(|c| c.is_ascii_alphanumeric()),
        "{pw}"
    );

    let r = krypt7(
        d2.path(),
        &base,
        &[
            "--json",
            "login",
            "--username",
            "carol",
            "--secret-key",
            &sk,
            "--password-stdin",
        ],
        Some("carol's long password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &[("KRYPT7_SECRET_KEY", &sk)],
        &["--json", "item", "list", "--password-stdin"],
        Some("carol's long password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()[0]["title"], "Bank");

    // Files: put, list, get (fingerprint checked), refuse to overwrite, trash.
    let src = d1.path().join("report.txt");
    std::fs::write(&src, "quarterly numbers\n".repeat(100_000)).unwrap();
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "file", "put", src.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["chunks"], 2);
    let r = krypt7(d1.path(), &s, &["--json", "file", "ls"], None);
    assert_eq!(r.json()[0]["title"], "report.txt");
    let dest = d1.path().join("report-copy.txt");
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "file",
            "get",
            &file_id,
            "--out",
            dest.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&src).unwrap());
    let r = krypt7(
        d1.path(),
        &s,
        &["file", "get", &file_id, "--out", dest.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    assert_eq!(
        krypt7(d1.path(), &s, &["file", "rm", &file_id], None).code,
        0
    );
    let r = krypt7(d1.path(), &s, &["--json", "file", "ls"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 0);
    assert_eq!(
        krypt7(d1.path(), &s, &["item", "restore", &file_id], None).code,
        0
    );

    // Attachments: any item carries files; `item get` lists them (never their keys).
    let bank = krypt7(d1.path(), &s, &["--json", "item", "list"], None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "Bank")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "file", "attach", &bank, src.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["files"], 1);
    let got = krypt7(d1.path(), &s, &["--json", "item", "get", &bank], None);
    assert_eq!(got.json()["files"][0]["name"], "report.txt");
    assert!(!got.stdout.contains("\"key\""), "{}", got.stdout);
    let dest = d1.path().join("attached-copy.txt");
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "file",
            "get",
            &bank,
            "--index",
            "0",
            "--out",
            dest.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(
        krypt7(d1.path(), &s, &["file", "detach", &bank, "0"], None).code,
        0
    );
    let got = krypt7(d1.path(), &s, &["--json", "item", "get", &bank], None);
    assert_eq!(got.json()["files"].as_array().unwrap().len(), 0);

    // Public keys: this account's own fingerprint, looked up and pinned from another device.
    let mine = krypt7(d1.path(), &s, &["--json", "keys", "mine"], None).json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = krypt7(d1.path(), &s, &["--json", "keys", "show", "carol"], None).json();
    assert_eq!(
        (shown["fingerprint"].as_str(), shown["verified"].as_bool()),
        (Some(mine.as_str()), Some(false))
    );
    let r = krypt7(d1.path(), &s, &["keys", "verify", "carol", "12345"], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not the one pinned"), "{}", r.stderr);
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "keys", "verify", "carol", &mine],
        None,
    );
    assert_eq!(r.json()["verified"], true, "{}", r.stderr);
    let r = krypt7(d1.path(), &s, &["--json", "keys", "list"], None);
    assert_eq!(r.json()[0]["username"], "carol");

    // `sync --watch` on the second device hears of a change on the first and pulls it.
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_krypt7"))
        .arg("--data-dir")
        .arg(d2.path())
        .args(["--json", "sync", "--watch", "--password-stdin"])
        .env("KRYPT7_SECRET_KEY", &sk)
        .env_remove("KRYPT7_SESSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    watcher
        .stdin
        .take()
        .unwrap()
        .write_all(b"carol's long password")
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let out = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    // A generous bound only so that a lost event fails instead of hanging the suite.
    let wait = std::time::Duration::from_secs(60);
    let first = rx.recv_timeout(wait).expect("the watcher's first sync");
    assert_eq!(first["pushed"], 0);
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "item", "add", "note", "--title", "Heard about"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(krypt7(d1.path(), &s, &["sync"], None).code, 0);
    let heard = rx.recv_timeout(wait).expect("a sync after the push event");
    assert!(heard["pulled"].as_i64() >= Some(1), "{heard}");
    assert_eq!(heard["verified"], 1, "{heard}");
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    let r = krypt7(
        d2.path(),
        &[("KRYPT7_SECRET_KEY", &sk)],
        &["--json", "search", "heard", "--password-stdin"],
        Some("carol's long password"),
    );
    assert_eq!(r.json()[0]["title"], "Heard about", "{}", r.stdout);

    // Bad input: a clear message, a non-zero exit, nothing changed.
    let list = || krypt7(d1.path(), &s, &["--json", "item", "list"], None).stdout;
    let before = list();
    let cases: Vec<Case> = vec![
        (
            vec!["item", "get", "00000000-0000-0000-0000-000000000000"],
            s.to_vec(),
            None,
            1,
            "no such item",
        ),
        (
            vec!["item", "get", "not-an-id"],
            s.to_vec(),
            None,
            1,
            "is not an item id",
        ),
        (
            vec!["item", "add", "login", "--title", "X", "--field", "novalue"],
            s.to_vec(),
            None,
            1,
            "name=value",
        ),
        (
            vec![
                "item",
                "add",
                "login",
                "--title",
                "X",
                "--field",
                "url=a",
                "--field",
                "username=a",
                "--field",
                "username=b",
            ],
            s.to_vec(),
            None,
            1,
            "given twice",
        ),
        (
            vec![
                "item",
                "add",
                "card",
                "--title",
                "X",
                "--field",
                "expiry=13/29",
            ],
            s.to_vec(),
            None,
            1,
            "MM/YY",
        ),
        (
            vec![
                "item",
                "add",
                "login",
                "--title",
                "X",
                "--field",
                "totp=not base32!",
            ],
            s.to_vec(),
            None,
            1,
            "one-time code secret",
        ),
        (
            vec!["item", "add", "spaceship", "--title", "X"],
            s.to_vec(),
            None,
            1,
            "unknown item kind",
        ),
        (
            vec!["item", "list", "--password-stdin"],
            vec![("KRYPT7_SECRET_KEY", sk.as_str())],
            Some("wrong password"),
            3,
            "wrong password or Secret Key",
        ),
        (
            vec!["item", "list", "--password-stdin"],
            vec![("KRYPT7_SECRET_KEY", "K1-AAAAAA-AAAAAA-AAAAA-AAAAA-AAAAB")],
            Some("carol's long password"),
            1,
            "invalid Secret Key",
        ),
        (
            vec!["item", "list"],
            vec![("KRYPT7_SESSION", "bm90LWEta2V5")],
            None,
            1,
            "not a session key",
        ),
        (
            // A device's session goes only to the server (and CA) it was set up with.
            vec!["sync"],
            vec![
                ("KRYPT7_SESSION", session.as_str()),
                ("KRYPT7_SERVER", "https://localhost:1"),
            ],
            None,
            1,
            "its session is not sent to https://localhost:1",
        ),
    ];
    for (args, env, stdin, code, message) in cases {
        let r = krypt7(d1.path(), &env, &args, stdin);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert_eq!(list(), before, "{args:?} changed something");
    }
    // A server that cannot be reached: exit 4.
    let fresh = tempfile::tempdir().unwrap();
    let r = krypt7(
        fresh.path(),
        &[("KRYPT7_SERVER", "https://localhost:1")],
        &["signup", "--username", "nobody", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be reached"), "{}", r.stderr);
    // A watched folder, one pass: a new file becomes a file item of that vault folder.
    let watched = tempfile::tempdir().unwrap();
    std::fs::write(watched.path().join("scan.txt"), "scanned").unwrap();
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "--json",
            "folder",
            "watch",
            watched.path().to_str().unwrap(),
            "--name",
            "Scans",
            "--once",
            "--settle-ms",
            "0",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["uploaded"][0], "scan.txt", "{}", r.stdout);
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "item", "list", "--folder", "Scans"],
        None,
    );
    assert_eq!(r.json()[0]["title"], "scan.txt", "{}", r.stdout);
    let r = krypt7(
        d1.path(),
        &s,
        &["folder", "watch", "/no/such/dir", "--once"],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
    // A server whose certificate is not signed by the configured CA.
    let other = tempfile::tempdir().unwrap();
    let fake_ca = other.path().join("ca.pem");
    krypt7_server_ca(&fake_ca);
    let r = krypt7(
        tempfile::tempdir().unwrap().path(),
        &[
            ("KRYPT7_SERVER", &url),
            ("KRYPT7_CA", fake_ca.to_str().unwrap()),
        ],
        &[
            "login",
            "--username",
            "carol",
            "--secret-key",
            &sk,
            "--password-stdin",
        ],
        Some("x"),
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("certificate is not trusted"),
        "{}",
        r.stderr
    );
    // Export: JSON needs an explicit flag; the encrypted file opens with its password only.
    let json_out = d1.path().join("export.json");
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "export",
            "--format",
            "json",
            "--out",
            json_out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--plaintext") && !json_out.exists(),
        "{}",
        r.stderr
    );
    let r = krypt7(
        d1.path(),
        &s,
        &[
            "export",
            "--format",
            "json",
            "--plaintext",
            "--out",
            json_out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let exported: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
    assert_eq!(exported["format"], "krypt7-export");
    assert!(
        exported["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item"]["title"] == "Bank")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&json_out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let enc_out = d1.path().join("export.k7x");
    let mut env = s.to_vec();
    env.push(("KRYPT7_EXPORT_PASSWORD", "export password 123"));
    let r = krypt7(
        d1.path(),
        &env,
        &[
            "export",
            "--format",
            "encrypted",
            "--out",
            enc_out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file = std::fs::read(&enc_out).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains("Bank"));
    let opened =
        krypt7_crypto::export::open(&krypt7_crypto::Password::new("export password 123"), &file)
            .unwrap();
    let v: Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(v["items"], exported["items"]);

    // The account.
    let r = krypt7(d1.path(), &s, &["--json", "account", "info"], None);
    assert_eq!(r.json()["username"], "carol", "{}", r.stderr);
    // Changing the account is confirmed with the password (a step-up), even on a session.
    let update = [
        "--json",
        "account",
        "update",
        "--email",
        "carol@example.org",
    ];
    let r = krypt7(d1.path(), &s, &update, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("confirm this with the password"),
        "{}",
        r.stderr
    );
    let with_key = [("KRYPT7_SECRET_KEY", sk.as_str())];
    let confirmed = |args: &[&str]| {
        let mut a = vec!["--json", "account", "--password-stdin"];
        a.extend_from_slice(&args[2..]);
        krypt7(d1.path(), &with_key, &a, Some("carol's long password"))
    };
    let r = confirmed(&update);
    assert_eq!(r.json()["email"], "carol@example.org", "{}", r.stderr);
    let r = krypt7(d1.path(), &s, &["--json", "account", "sessions"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 2, "two devices");
    // The device is named by its user: the device list shows the name, the next commit
    // is signed with it; a name with a control character is refused and changes nothing.
    let r = krypt7(
        d1.path(),
        &s,
        &["account", "rename-device", "bad\u{7}name"],
        None,
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("1 to 100 printable characters"),
        "{}",
        r.stderr
    );
    let r = krypt7(
        d1.path(),
        &s,
        &["--json", "account", "rename-device", "  Carol's laptop "],
        None,
    );
    assert_eq!(r.json()["device_name"], "Carol's laptop", "{}", r.stderr);
    let r = krypt7(d1.path(), &s, &["--json", "account", "sessions"], None);
    let names: Vec<(bool, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["current"].as_bool().unwrap(),
                d["device_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        names.contains(&(true, "Carol's laptop".to_string())),
        "{names:?}"
    );
    assert!(
        names.contains(&(false, krypt7_client::host_name())),
        "{names:?}"
    );
    assert_eq!(
        krypt7(
            d1.path(),
            &s,
            &["item", "add", "login", "--title", "renamed"],
            None
        )
        .code,
        0
    );
    let r = krypt7(d1.path(), &s, &["--json", "sync"], None);
    let changed = r.json()["last_change"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        changed.starts_with("vault changed by Carol's laptop (this device)"),
        "{changed}"
    );
    let r = krypt7(d1.path(), &s, &["--json", "account", "usage"], None);
    assert!(r.json()["usage_bytes"].as_i64().unwrap() > 0);
    let r = confirmed(&["--json", "account", "totp-setup"]);
    assert!(
        r.json()["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let r = krypt7(d1.path(), &s, &["account", "totp-confirm", "000000x"], None);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("wrong, expired or already used"),
        "{}",
        r.stderr
    );

    // The server moves to a new address: signing in there is needed (a session alone does
    // not carry the password), then the device follows and keeps working there.
    let moved = url.replace("localhost", "127.0.0.1");
    let r = krypt7(d1.path(), &s, &["account", "move-server", &moved], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--password-stdin"), "{}", r.stderr);
    let move_with = |password: &str| {
        krypt7(
            d1.path(),
            &[("KRYPT7_SECRET_KEY", sk.as_str())],
            &[
                "--json",
                "account",
                "move-server",
                &moved,
                "--password-stdin",
            ],
            Some(password),
        )
    };
    assert_eq!(move_with("not carol's password").code, 3);
    let r = move_with("carol's long password");
    assert_eq!(r.json()["server"], moved.as_str(), "{}", r.stderr);
    let r = krypt7(d1.path(), &s, &["--json", "account", "sessions"], None);
    assert_eq!(
        r.json().as_array().unwrap().len(),
        2,
        "the old session ended: {}",
        r.stderr
    );
    let r = krypt7(d1.path(), &s, &["--json", "sync"], None);
    assert_eq!(r.code, 0, "syncs at the new address: {}", r.stderr);

    // Lock ends the session.
    assert_eq!(krypt7(d1.path(), &[], &["lock"], None).code, 0);
    let r = krypt7(d1.path(), &s, &["item", "list"], None);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // Changing the password: standard input holds the current one, then the new one.
    let pw = [("KRYPT7_SECRET_KEY", sk.as_str())];
    let change = ["--json", "account", "--password-stdin", "change-password"];
    let r = krypt7(d1.path(), &pw, &change, Some("carol's long password\n"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("one line each"), "{}", r.stderr);
    let r = krypt7(
        d1.path(),
        &pw,
        &change,
        Some("carol's long password\ncarol's new password\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The second device learns of it when it syncs (the old password opens it until then),
    // then refuses the old password and unlocks with the new one, through the server once.
    let r = krypt7(
        d2.path(),
        &pw,
        &["sync", "--password-stdin"],
        Some("carol's long password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &["item", "list", "--password-stdin"],
        Some("carol's long password"),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("password was changed"), "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &["--json", "unlock", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &["item", "list", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "offline again: {}", r.stderr);

    // A new Secret Key, from the first device: printed first (standard error), then in the
    // result. The second device learns of it at its next sync, then unlocks with it.
    let r = krypt7(
        d1.path(),
        &pw,
        &["--json", "account", "--password-stdin", "new-secret-key"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new_sk = r.json()["secret_key"].as_str().unwrap().to_string();
    assert!(new_sk.starts_with("K1-") && new_sk != sk, "{new_sk}");
    assert!(
        r.stderr.contains(&new_sk),
        "printed before the change: {}",
        r.stderr
    );
    let r = krypt7(
        d1.path(),
        &pw,
        &["item", "list", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 3, "the old Secret Key opens nothing: {}", r.stderr);
    let pw = [("KRYPT7_SECRET_KEY", new_sk.as_str())];
    let r = krypt7(
        d1.path(),
        &pw,
        &["item", "list", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let old_pw = [("KRYPT7_SECRET_KEY", sk.as_str())];
    let r = krypt7(
        d2.path(),
        &old_pw,
        &["sync", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("Secret Key was changed"), "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &["--json", "unlock", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &["sync", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Deleting the account (from the second device) clears that device's cache too.
    let r = krypt7(
        d2.path(),
        &pw,
        &[
            "account",
            "--password-stdin",
            "delete",
            "--confirm",
            "nobody",
        ],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 1, "the wrong confirmation is refused: {}", r.stderr);
    let r = krypt7(
        d2.path(),
        &pw,
        &[
            "--json",
            "account",
            "--password-stdin",
            "delete",
            "--confirm",
            "carol",
        ],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["purged_by"].as_i64().is_some());
    let r = krypt7(
        d2.path(),
        &pw,
        &["item", "list", "--password-stdin"],
        Some("carol's new password"),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no account on this device"),
        "{}",
        r.stderr
    );
    server.stop().await;
}

/// Another development CA (a server that is not the one we trust).
fn krypt7_server_ca(path: &std::path::Path) {
    let dir = path.parent().unwrap();
    krypt7_server::tls::prepare(dir, None, None).unwrap();
}
