//! The CLI at a terminal, driven through a real pseudo-terminal: sign-up is guided (strength
//! shown, the Emergency Kit written and its keeping confirmed), unlock asks for the password
//! (and the Secret Key) hidden, a mistake is asked again, nothing typed shows in what the
//! terminal displayed, and `krypt7 unlock` writes only the line to evaluate on standard
//! output. A second factor is asked when the server wants one; destructive commands are
//! refused unless confirmed; progress bars show at a terminal only. Without a terminal, the
//! scripted interface is unchanged.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Session};
use krypt7_crypto::secret_key::SecretKey;
use krypt7_server::{Config, clock::Clock};

const PASSWORD: &str = "terminal-canary-pw-61c2";

/// Runs `krypt7 ARGS` in a pseudo-terminal, its standard output to `out` (a file), so what
/// the terminal shows is the prompts and messages only.
fn at_terminal(env: &[(&str, &str)], args: &str, out: &std::path::Path) -> Session {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "exec '{}' {args} > '{}'",
        env!("CARGO_BIN_EXE_krypt7"),
        out.display()
    ));
    c.env_remove("KRYPT7_SESSION")
        .env_remove("KRYPT7_SECRET_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut s = Session::spawn(c).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(60)));
    s
}

/// Waits for `text`, keeping what the terminal showed up to and including it.
fn wait(s: &mut Session, shown: &mut Vec<u8>, text: &str) {
    let got = s.expect(text).unwrap_or_else(|e| {
        panic!(
            "waiting for {text:?}: {e}; shown so far: {}",
            String::from_utf8_lossy(shown)
        )
    });
    shown.extend_from_slice(got.before());
    shown.extend_from_slice(&got[0]);
}

fn finish(mut s: Session, shown: &mut Vec<u8>) -> String {
    // Eof matches everything left, as its match (nothing comes before it).
    let rest = s.expect(Eof).unwrap();
    shown.extend_from_slice(rest.as_bytes());
    format!("{:?}", s.get_process().wait().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_at_a_terminal_is_asked_hidden_and_scripts_are_unchanged() {
    let sdir = tempfile::tempdir().unwrap();
    let mut config = Config::new(sdir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let clock = Clock::default();
    let server = krypt7_server::start(config, clock.clone()).await.unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = sdir.path().join("data/ca.pem");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("device");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let env = [
        ("KRYPT7_SERVER", url.as_str()),
        ("KRYPT7_CA", ca.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
    ];
    let base = format!("--data-dir '{}'", data.display());

    // Without a terminal: the clear error naming --password-stdin, nothing created.
    let piped = Command::new(env!("CARGO_BIN_EXE_krypt7"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "signup",
            "--username",
            "tess",
        ])
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(1), "{err}");
    assert!(err.contains("--password-stdin"), "{err}");

    // Sign-up, guided: what the Secret Key is, then the new password twice, hidden, its
    // strength shown (a weak one kept only if wanted); too short and different are asked
    // again. Then the Emergency Kit, written where it says, and its keeping confirmed.
    let out = dir.path().join("signup.out");
    let mut s = at_terminal(&env, &format!("{base} signup --username tess"), &out);
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Two secrets protect it");
    wait(&mut s, &mut shown, "New password (at least 8 characters): ");
    s.send_line("password").unwrap();
    wait(&mut s, &mut shown, "Strength: very weak");
    wait(&mut s, &mut shown, "Use this weak password anyway? [y/N] ");
    s.send_line("n").unwrap();
    wait(&mut s, &mut shown, "New password (at least 8 characters): ");
    s.send_line("short").unwrap();
    wait(&mut s, &mut shown, "shorter than 8 characters");
    wait(&mut s, &mut shown, "New password (at least 8 characters): ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "The same password again: ");
    s.send_line("not the same password").unwrap();
    wait(&mut s, &mut shown, "The two passwords differ");
    wait(&mut s, &mut shown, "New password (at least 8 characters): ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "Strength: ");
    wait(&mut s, &mut shown, "The same password again: ");
    s.send_line(PASSWORD).unwrap();
    let kit = home.join("krypt7-emergency-kit-tess");
    wait(
        &mut s,
        &mut shown,
        "Your Emergency Kit (readable by you only):",
    );
    wait(
        &mut s,
        &mut shown,
        "Have you stored your Emergency Kit? [y/N] ",
    );
    s.send_line("no").unwrap();
    wait(&mut s, &mut shown, "a new device cannot open this account");
    wait(
        &mut s,
        &mut shown,
        "Have you stored your Emergency Kit? [y/N] ",
    );
    s.send_line("y").unwrap();
    wait(&mut s, &mut shown, "eval \"$(krypt7 unlock)\"");
    let status = finish(s, &mut shown);
    assert!(
        status.contains("Exited(") && status.ends_with(", 0)"),
        "{status}"
    );
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    for ext in ["txt", "html"] {
        let file = kit.with_extension(ext);
        assert!(shown_text.contains(file.to_str().unwrap()), "{shown_text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    assert!(
        !shown_text.contains(PASSWORD),
        "the password showed: {shown_text}"
    );
    assert!(
        !shown_text.contains("short\r") && !shown_text.contains("not the same"),
        "{shown_text}"
    );
    let signed_up = std::fs::read_to_string(&out).unwrap();
    let sk = signed_up
        .split_whitespace()
        .find(|w| w.starts_with("K1-"))
        .unwrap_or_else(|| panic!("no Secret Key in {signed_up}"))
        .to_string();
    SecretKey::parse(&sk).unwrap();
    // Locked again, as after any command.
    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_krypt7"))
            .args(["--data-dir", data.to_str().unwrap(), "lock"])
            .status()
            .unwrap()
            .code(),
        Some(0)
    );

    // Unlock: the Secret Key (this device keeps none) with a typo its check symbol catches,
    // then a wrong password, each asked again; only the export line on standard output.
    let typo = (0..sk.len())
        .rev()
        .filter(|&i| sk.as_bytes()[i].is_ascii_alphabetic())
        .flat_map(|i| ["A", "B", "C"].map(|c| format!("{}{c}{}", &sk[..i], &sk[i + 1..])))
        .find(|t| *t != sk && SecretKey::parse(t).is_err())
        .unwrap();
    let out = dir.path().join("unlock.out");
    let mut s = at_terminal(&env, &format!("{base} unlock"), &out);
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Secret Key (from your Emergency Kit): ");
    s.send_line(&typo).unwrap();
    wait(&mut s, &mut shown, "That Secret Key is not right");
    wait(&mut s, &mut shown, "Secret Key (from your Emergency Kit): ");
    s.send_line(&sk).unwrap();
    wait(&mut s, &mut shown, "Password: ");
    s.send_line("not the password").unwrap();
    wait(
        &mut s,
        &mut shown,
        "Wrong password or Secret Key; type the password again.",
    );
    wait(&mut s, &mut shown, "Password: ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "eval \"$(krypt7 unlock)\"");
    let status = finish(s, &mut shown);
    assert!(status.ends_with(", 0)"), "{status}");
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    for secret in [PASSWORD, sk.as_str(), typo.as_str()] {
        assert!(
            !shown_text.contains(secret),
            "{secret} showed: {shown_text}"
        );
    }
    let line = std::fs::read_to_string(&out).unwrap();
    let session = line
        .strip_prefix("export KRYPT7_SESSION=")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("standard output is not only the export line: {line:?}"));
    assert!(
        !session.is_empty() && !session.contains(char::is_whitespace),
        "{line:?}"
    );
    // The session works for the next commands, as a script would use it.
    let listed = Command::new(env!("CARGO_BIN_EXE_krypt7"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
            "item",
            "list",
        ])
        .env("KRYPT7_SESSION", session)
        .output()
        .unwrap();
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let kit_text = std::fs::read_to_string(kit.with_extension("txt")).unwrap();
    assert!(kit_text.contains(&sk), "the kit holds the Secret Key");

    let with_session = |extra: &[(&'static str, &'static str)]| {
        let mut e: Vec<(&str, &str)> = env.to_vec();
        e.push(("KRYPT7_SESSION", session));
        e.extend_from_slice(extra);
        e
    };
    progress(&dir, &base, &with_session(&[]), &data);
    confirmations(&dir, &base, &with_session(&[]), &data);
    second_factor(&dir, &base, &env, &with_session(&[]), &sk, &clock);
    server.stop().await;
}

/// A plain `krypt7 ARGS` with `env` (no terminal: a script).
fn scripted(
    env: &[(&str, &str)],
    data: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_krypt7"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("KRYPT7_SESSION")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An upload shows a progress bar at a terminal; none with --json, none in a pipe.
fn progress(dir: &tempfile::TempDir, base: &str, env: &[(&str, &str)], data: &std::path::Path) {
    let big = dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    let out = dir.path().join("put.out");
    let mut s = at_terminal(env, &format!("{base} file put '{}'", big.display()), &out);
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Uploading");
    wait(&mut s, &mut shown, "(100%)");
    assert!(finish(s, &mut shown).ends_with(", 0)"));
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    assert!(shown_text.contains("/s"), "a rate: {shown_text}");

    let s = at_terminal(
        env,
        &format!("{base} --json file put '{}'", big.display()),
        &out,
    );
    let mut shown = Vec::new();
    assert!(finish(s, &mut shown).ends_with(", 0)"));
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    assert!(
        !shown_text.contains("Uploading"),
        "with --json: {shown_text}"
    );
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("{\"chunks\"")
    );

    let (code, stdout, stderr) = scripted(env, data, &["file", "put", big.to_str().unwrap()], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("Uploading") && !stdout.contains("Uploading"),
        "in a pipe: {stderr}"
    );
}

/// `item purge` at a terminal: "no" keeps the item, "yes" deletes it; a script needs --yes.
fn confirmations(
    dir: &tempfile::TempDir,
    base: &str,
    env: &[(&str, &str)],
    data: &std::path::Path,
) {
    let (code, stdout, stderr) = scripted(
        env,
        data,
        &["--json", "item", "add", "note", "--title", "Old note"],
        "",
    );
    assert_eq!(code, 0, "{stderr}");
    let id = stdout.split('"').nth(3).unwrap().to_string();
    let out = dir.path().join("purge.out");
    for (answer, kept) in [("n", true), ("y", false)] {
        let mut s = at_terminal(env, &format!("{base} item purge {id}"), &out);
        let mut shown = Vec::new();
        wait(
            &mut s,
            &mut shown,
            "Delete \"Old note\" for good, with its history? [y/N] ",
        );
        s.send_line(answer).unwrap();
        let status = finish(s, &mut shown);
        assert_eq!(status.ends_with(", 0)"), !kept, "{status}");
        let (code, _, _) = scripted(env, data, &["item", "get", &id], "");
        assert_eq!(code == 0, kept, "after {answer:?}");
    }
}

/// With an authenticator app on, signing in on a new device and a confirmed change ask for
/// its code at the terminal (once the server says it needs one); the account is deleted only
/// once its username is typed again.
fn second_factor(
    dir: &tempfile::TempDir,
    base: &str,
    env: &[(&str, &str)],
    session_env: &[(&str, &str)],
    sk: &str,
    clock: &Clock,
) {
    let data = dir.path().join("device");
    let mut stepped = session_env.to_vec();
    stepped.push(("KRYPT7_SECRET_KEY", sk));
    let (code, stdout, stderr) = scripted(
        &stepped,
        &data,
        &["--json", "account", "totp-setup", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{stderr}");
    let url = stdout
        .split('"')
        .find(|p| p.starts_with("otpauth://"))
        .unwrap()
        .to_string();
    let now_code = |clock: &Clock| {
        krypt7_client::totp::code_at(&url, clock.now() as u64)
            .unwrap()
            .code
    };
    let (code, _, stderr) = scripted(
        session_env,
        &data,
        &["account", "totp-confirm", &now_code(clock)],
        "",
    );
    assert_eq!(code, 0, "{stderr}");

    // A new device: Secret Key, password, then the code.
    clock.advance(30);
    let second = dir.path().join("second");
    let out = dir.path().join("login.out");
    let mut s = at_terminal(
        env,
        &format!("--data-dir '{}' login --username tess", second.display()),
        &out,
    );
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Secret Key (from your Emergency Kit): ");
    s.send_line(sk).unwrap();
    wait(&mut s, &mut shown, "Password: ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "Code from your authenticator app: ");
    s.send_line(now_code(clock)).unwrap();
    let status = finish(s, &mut shown);
    assert!(
        status.ends_with(", 0)"),
        "{status}: {}",
        String::from_utf8_lossy(&shown)
    );
    assert!(std::fs::read_to_string(&out).unwrap().contains("tess"));

    // Deleting the account: confirmed with the password, the username typed again (a wrong
    // one refuses, nothing deleted), and the code.
    clock.advance(30);
    let out = dir.path().join("delete.out");
    let mut s = at_terminal(session_env, &format!("{base} account delete"), &out);
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Confirm it is you.");
    wait(&mut s, &mut shown, "Secret Key (from your Emergency Kit): ");
    s.send_line(sk).unwrap();
    wait(&mut s, &mut shown, "Password: ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "Type the username to delete it: ");
    s.send_line("tes").unwrap();
    let status = finish(s, &mut shown);
    assert!(status.ends_with(", 1)"), "{status}");
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    assert!(shown_text.contains("nothing was deleted"), "{shown_text}");
    let (code, _, stderr) = scripted(session_env, &data, &["account", "info"], "");
    assert_eq!(code, 0, "still there: {stderr}");

    let mut s = at_terminal(session_env, &format!("{base} account delete"), &out);
    let mut shown = Vec::new();
    wait(&mut s, &mut shown, "Secret Key (from your Emergency Kit): ");
    s.send_line(sk).unwrap();
    wait(&mut s, &mut shown, "Password: ");
    s.send_line(PASSWORD).unwrap();
    wait(&mut s, &mut shown, "Type the username to delete it: ");
    s.send_line("tess").unwrap();
    wait(&mut s, &mut shown, "Code from your authenticator app: ");
    s.send_line(now_code(clock)).unwrap();
    let status = finish(s, &mut shown);
    assert!(
        status.ends_with(", 0)"),
        "{status}: {}",
        String::from_utf8_lossy(&shown)
    );
    let shown_text = String::from_utf8_lossy(&shown).to_string();
    assert!(
        !shown_text.contains(PASSWORD) && !shown_text.contains(sk),
        "{shown_text}"
    );
}
