//! A `krypt7 sync --watch` whose CLI session ends keeps nothing secret in its memory: the
//! watcher runs on a session and pulls an item another device added (the scan of the
//! running process finds its session key, so the scan can find what is there), then
//! `krypt7 lock` ends the session; the watcher stops, and its memory as it exits (kept by
//! gdb's `gcore` at the `exit_group` system call) holds neither the item's fields, nor the
//! account password, nor the Secret Key, in UTF-8 or UTF-16 (docs/sync.md, "Being told
//! about changes"). The core must hold the session key, still in the environment, so the
//! scan of it can find what is there.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use krypt7_hostile::{Server, memory};
use serde_json::Value;

const PASSWORD: &str = "watch-password-6c1d";
const TITLE: &str = "WatchCanaryTitle9b2e";
const USER: &str = "watch-canary-user-4f70";
const SECRET: &str = "watch-canary-pass-d83a";
/// Long enough for gdb, a sync and a core file on a slow machine; the test normally takes
/// a few seconds.
const WAIT: Duration = Duration::from_secs(120);

fn cli(env: &[(&str, &str)], dir: &Path, args: &[&str], stdin: &str) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_krypt7"));
    c.arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("KRYPT7_SESSION")
        .env_remove("KRYPT7_SECRET_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "krypt7 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The `krypt7` process gdb started (gdb's child, through the shell it starts it with).
fn watcher(gdb: u32) -> Option<memory::Proc> {
    memory::tree("gdb")
        .into_iter()
        .find(|p| p.name == "krypt7" && p.pid != gdb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_whose_session_ended_holds_no_secret() {
    let server = Server::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, &server.ca).unwrap();
    let ca = ca.to_string_lossy().into_owned();
    let base = [("KRYPT7_SERVER", server.url.as_str()), ("KRYPT7_CA", &ca)];
    let (d1, d2) = (work.path().join("one"), work.path().join("two"));

    let sk = cli(
        &base,
        &d1,
        &["signup", "--username", "wanda", "--password-stdin"],
        PASSWORD,
    )["secret_key"]
        .as_str()
        .unwrap()
        .to_string();
    let with_sk = [base[0], base[1], ("KRYPT7_SECRET_KEY", sk.as_str())];
    cli(
        &with_sk,
        &d2,
        &["login", "--username", "wanda", "--password-stdin"],
        PASSWORD,
    );
    let session = cli(&with_sk, &d1, &["unlock", "--password-stdin"], PASSWORD)["session"]
        .as_str()
        .unwrap()
        .to_string();

    // The watcher, on the session alone (neither the password nor the Secret Key reaches
    // it), under gdb: at its exit_group the memory goes to a core file.
    let core = work.path().join("watcher");
    let mut gdb = Command::new("gdb")
        .args(["-q", "-nx", "-batch", "-ex", "set pagination off"])
        .args(["-ex", "catch syscall exit_group", "-ex", "run"])
        .arg("-ex")
        .arg(format!("gcore {}", core.display()))
        .args(["-ex", "kill", "--args"])
        .arg(env!("CARGO_BIN_EXE_krypt7"))
        .arg("--json")
        .arg("--data-dir")
        .arg(&d1)
        .args(["sync", "--watch"])
        .env_remove("KRYPT7_SECRET_KEY")
        .envs(base)
        .env("KRYPT7_SESSION", &session)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gdb (cargo xtask test installs it)");
    let (lines, seen) = mpsc::channel();
    let out = gdb.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(l);
        }
    });
    let pulled = |want: u64| {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = seen
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the watcher never synced {want} item(s) in"));
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["pulled"].as_u64() == Some(want)
            {
                return;
            }
        }
    };
    pulled(0);

    // Another device adds an item and syncs; the push channel brings it to the watcher.
    let s2 = cli(&with_sk, &d2, &["unlock", "--password-stdin"], PASSWORD)["session"]
        .as_str()
        .unwrap()
        .to_string();
    let on_two = [base[0], base[1], ("KRYPT7_SESSION", s2.as_str())];
    let (user, secret) = (format!("username={USER}"), format!("password={SECRET}"));
    cli(
        &on_two,
        &d2,
        &[
            "item", "add", "login", "--title", TITLE, "--field", &user, "--field", &secret,
        ],
        "",
    );
    cli(&on_two, &d2, &["sync"], "");
    pulled(1);
    let secrets = [
        ("the item's title", TITLE),
        ("the item's username", USER),
        ("the item's password", SECRET),
        ("the account password", PASSWORD),
        ("the Secret Key", sk.as_str()),
    ];
    let running = watcher(gdb.id()).expect("the watcher process under gdb");
    // The scan must find what the watcher does hold: its session key, which stays in its
    // environment for its whole life (so it is not among the secrets looked for after).
    let held = [("the session key", session.as_str())];
    let before = memory::scan(std::slice::from_ref(&running), &held).unwrap();
    let items = memory::scan(std::slice::from_ref(&running), &secrets).unwrap();
    eprintln!("the running watcher's memory: {before:?}, and of the secrets: {items:?}");
    assert!(
        !before.is_empty(),
        "the scan found nothing in the running watcher: it cannot be trusted"
    );
    // The session ends; the watcher sees it, stops, and gdb keeps its memory as it exits.
    cli(&base, &d1, &["lock"], "");
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = gdb.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher did not stop when its session ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut gdb.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "gdb: {err}");
    assert!(
        err.contains("the session ended"),
        "the watcher ended for another reason: {err}"
    );
    let kept = memory::scan_core(&core, &held).unwrap();
    assert!(
        !kept.is_empty(),
        "the core holds nothing the watcher held: it cannot be trusted"
    );
    let after = memory::scan_core(&core, &secrets).unwrap();
    eprintln!(
        "the watcher's memory as it exited ({} MB): {after:?}",
        std::fs::metadata(&core).unwrap().len() >> 20
    );
    assert!(
        after.is_empty(),
        "secrets left in the watcher's memory after its session ended: {after:?}"
    );
}
