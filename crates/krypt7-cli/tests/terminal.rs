//! The CLI at a terminal, driven through a real pseudo-terminal: sign-up and unlock ask for
//! the password (and the Secret Key) hidden, a mistake is asked again, nothing typed shows
//! in what the terminal displayed, and `krypt7 unlock` writes only the line to evaluate on
//! standard output. Without a terminal, the scripted interface is unchanged.
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
    let rest = s.expect(Eof).unwrap();
    shown.extend_from_slice(rest.before());
    format!("{:?}", s.get_process().wait().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_at_a_terminal_is_asked_hidden_and_scripts_are_unchanged() {
    let sdir = tempfile::tempdir().unwrap();
    let mut config = Config::new(sdir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = krypt7_server::start(config, Clock::default())
        .await
        .unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = sdir.path().join("data/ca.pem");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("device");
    let env = [
        ("KRYPT7_SERVER", url.as_str()),
        ("KRYPT7_CA", ca.to_str().unwrap()),
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

    // Sign-up: the new password twice, hidden; too short and different are asked again.
    let out = dir.path().join("signup.out");
    let mut s = at_terminal(&env, &format!("{base} signup --username tess"), &out);
    let mut shown = Vec::new();
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
    wait(&mut s, &mut shown, "The same password again: ");
    s.send_line(PASSWORD).unwrap();
    let status = finish(s, &mut shown);
    assert!(
        status.contains("Exited(") && status.ends_with(", 0)"),
        "{status}"
    );
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
    server.stop().await;
}
