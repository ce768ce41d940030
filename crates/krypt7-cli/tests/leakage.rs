//! Class 13 of the hostile-server suite (`docs/security.md`): a full scripted session of the
//! real `krypt7` binary (sign-up, items of every kind and a file holding canary strings,
//! sync, search, lock, a second device, mail with an attachment to another account that
//! reads, searches and saves it) leaves no canary in any request, in the server's
//! database, blob store or logs, or in the clear in either device's cache; and the binary
//! opens no connection to any host but the configured server.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::{
    io::Write,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use krypt7_hostile::{Cert, Proxy, Server, Tunnel, files_containing, leaks};
use serde_json::Value;

/// The server's log lines, as its binary would print them (JSON), kept in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CANARIES: &[&str] = &[
    "CanaryTitle7f3a",
    "canary-user-91c2",
    "canary-url-5b7e.example",
    "canary-note-2d4f",
    "CanaryTag8e1b",
    "CanaryFolder4c6d",
    "canary-pass-0a9e",
    "Canary Cardholder 3e5f",
    "4000123412349876",
    "Canary Identity 77b1",
    "canary.contact-6f2e@example.org",
    "Canary Organization 12ab",
    "canary-file-3b8d.txt",
    "canary-file-body-71aa",
    "canary-password-55aa",
    "CanarySubject9d4c",
    "canary-mail-body-3c7b",
    "canary-attach-8f1e.txt",
    "canary-attach-body-6a0d",
    "Canary Recipient 5e2a",
];

struct Cli {
    env: Vec<(String, String)>,
}

impl Cli {
    fn run(&self, dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Value {
        let mut c = Command::new(env!("CARGO_BIN_EXE_krypt7"));
        c.arg("--json")
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env_remove("KRYPT7_SESSION")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "krypt7 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or(Value::Null)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_13_no_canary_leaves_the_device_and_no_other_host_is_contacted() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();
    let server = Server::start().await.unwrap();
    let proxy = Proxy::start(&server, Cert::Good).await.unwrap();
    let tunnel = Tunnel::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, &proxy.ca).unwrap();
    let mut cli = Cli {
        env: vec![
            ("KRYPT7_SERVER".into(), proxy.url.clone()),
            ("KRYPT7_CA".into(), ca.to_string_lossy().into()),
            // Every connection the binary opens goes through the recording tunnel.
            ("HTTPS_PROXY".into(), tunnel.url.clone()),
            ("https_proxy".into(), tunnel.url.clone()),
            ("ALL_PROXY".into(), tunnel.url.clone()),
        ],
    };
    let (d1, d2) = (work.path().join("one"), work.path().join("two"));
    let password = "canary-password-55aa";

    let sk = cli.run(
        &d1,
        &["signup", "--username", "carol", "--password-stdin"],
        Some(password),
    )["secret_key"]
        .as_str()
        .unwrap()
        .to_string();
    cli.env.push(("KRYPT7_SECRET_KEY".into(), sk.clone()));
    let session = cli.run(&d1, &["unlock", "--password-stdin"], Some(password))["session"]
        .as_str()
        .unwrap()
        .to_string();
    cli.env.push(("KRYPT7_SESSION".into(), session));
    let items: &[&[&str]] = &[
        &[
            "login",
            "--title",
            "CanaryTitle7f3a",
            "--field",
            "username=canary-user-91c2",
            "--field",
            "password=canary-pass-0a9e",
            "--field",
            "url=https://canary-url-5b7e.example/login",
            "--field",
            "notes=canary-note-2d4f",
            "--tag",
            "CanaryTag8e1b",
            "--folder",
            "CanaryFolder4c6d",
        ],
        &[
            "card",
            "--title",
            "Card",
            "--field",
            "cardholder=Canary Cardholder 3e5f",
            "--field",
            "number=4000123412349876",
        ],
        &[
            "identity",
            "--title",
            "Me",
            "--field",
            "name=Canary Identity 77b1",
        ],
        &[
            "contact",
            "--title",
            "Friend",
            "--field",
            "emails=canary.contact-6f2e@example.org",
            "--field",
            "organization=Canary Organization 12ab",
        ],
        &[
            "note",
            "--title",
            "Note",
            "--field",
            "notes=canary-note-2d4f",
        ],
    ];
    for args in items {
        let mut a = vec!["item", "add"];
        a.extend_from_slice(args);
        cli.run(&d1, &a, None);
    }
    let file = work.path().join("canary-file-3b8d.txt");
    std::fs::write(&file, "canary-file-body-71aa\n".repeat(1000)).unwrap();
    cli.run(&d1, &["file", "put", file.to_str().unwrap()], None);
    cli.run(&d1, &["sync"], None);
    let found = cli.run(&d1, &["search", "canary"], None);
    assert!(found.as_array().unwrap().len() >= 4, "{found}");
    cli.run(&d1, &["lock"], None);

    // A second device signs in, syncs, and downloads the file.
    cli.env.retain(|(k, _)| k != "KRYPT7_SESSION");
    cli.run(
        &d2,
        &[
            "login",
            "--username",
            "carol",
            "--secret-key",
            &sk,
            "--password-stdin",
        ],
        Some(password),
    );
    let session = cli.run(&d2, &["unlock", "--password-stdin"], Some(password))["session"]
        .as_str()
        .unwrap()
        .to_string();
    cli.env.push(("KRYPT7_SESSION".into(), session));
    let listed = cli.run(&d2, &["file", "ls"], None);
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let out = work.path().join("downloaded");
    cli.run(
        &d2,
        &["file", "get", &id, "--out", out.to_str().unwrap()],
        None,
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());

    // Mail: the second device sends a message with an attachment to another account (by a
    // display name), which takes it in, reads it, searches it and saves the attachment.
    let d3 = work.path().join("three");
    let mut dave = Cli {
        env: cli
            .env
            .iter()
            .filter(|(k, _)| k != "KRYPT7_SECRET_KEY" && k != "KRYPT7_SESSION")
            .cloned()
            .collect(),
    };
    let dave_password = "dave-password-e6c1";
    let dave_sk = dave.run(
        &d3,
        &["signup", "--username", "dave", "--password-stdin"],
        Some(dave_password),
    )["secret_key"]
        .as_str()
        .unwrap()
        .to_string();
    dave.env.push(("KRYPT7_SECRET_KEY".into(), dave_sk));
    let session = dave.run(&d3, &["unlock", "--password-stdin"], Some(dave_password))["session"]
        .as_str()
        .unwrap()
        .to_string();
    dave.env.push(("KRYPT7_SESSION".into(), session));
    let attachment = work.path().join("canary-attach-8f1e.txt");
    std::fs::write(&attachment, "canary-attach-body-6a0d\n".repeat(500)).unwrap();
    let sent = cli.run(
        &d2,
        &[
            "mail",
            "send",
            "--to",
            "Canary Recipient 5e2a <dave>",
            "--subject",
            "CanarySubject9d4c",
            "--body",
            "canary-mail-body-3c7b",
            "--attach",
            attachment.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(sent["status"], "sent", "{sent}");
    let inbox = dave.run(&d3, &["mail", "ls", "--folder", "Inbox"], None);
    assert_eq!(inbox[0]["subject"], "CanarySubject9d4c", "{inbox}");
    let id = inbox[0]["id"].as_str().unwrap().to_string();
    let read = dave.run(&d3, &["mail", "read", &id], None);
    assert!(
        read["raw"]
            .as_str()
            .unwrap()
            .contains("Canary Recipient 5e2a"),
        "{read}"
    );
    assert!(
        read["text"]
            .as_str()
            .unwrap()
            .contains("canary-mail-body-3c7b"),
        "{read}"
    );
    let found = dave.run(&d3, &["mail", "search", "canary-mail-body-3c7b"], None);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let saved = work.path().join("saved-attachment");
    dave.run(
        &d3,
        &["mail", "save", &id, "--out", saved.to_str().unwrap()],
        None,
    );
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&attachment).unwrap()
    );

    // Nothing identifying left in any request: URL, headers or body, in any wire form.
    let seen = proxy.seen();
    assert!(seen.len() > 10, "the session made {} requests", seen.len());
    let canaries: Vec<&[u8]> = CANARIES.iter().map(|c| c.as_bytes()).collect();
    let found = leaks(&seen, &canaries);
    assert!(found.is_empty(), "{found:#?}");
    // Nor in the server's database, its write-ahead log, its blob store, its logs; nor in
    // the clear in either device's cache.
    let log_text = logs.0.lock().unwrap().clone();
    assert!(!log_text.is_empty(), "the server logged nothing at all");
    for c in CANARIES {
        for dir in [server.data_dir(), d1.clone(), d2.clone(), d3.clone()] {
            let hits = files_containing(&dir, c.as_bytes());
            assert!(hits.is_empty(), "{c} in {hits:?}");
        }
        assert!(
            !log_text.windows(c.len()).any(|w| w == c.as_bytes()),
            "{c} in the server's logs"
        );
    }
    // Every connection went to the configured server (the proxy) and nowhere else.
    let port = proxy.url.rsplit(':').next().unwrap().to_string();
    let opened = tunnel.requests();
    assert!(!opened.is_empty(), "the binary did not use the tunnel");
    for line in &opened {
        assert_eq!(
            line,
            &format!("CONNECT localhost:{port} HTTP/1.1"),
            "{opened:?}"
        );
    }
}
