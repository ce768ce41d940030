//! `krypt7 mail …` against a real server: the scripted path, and exactly-once delivery
//! through kill -9.

use std::process::{Command, Stdio};

use krypt7_server::{Config, clock::Clock};

use super::krypt7;

/// A signed-up, unlocked account: its session.
fn account(dir: &std::path::Path, base: &[(&str, &str)], name: &str) -> String {
    let r = krypt7(
        dir,
        base,
        &["--json", "signup", "--username", name, "--password-stdin"],
        Some("a long password here\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sk = r.json()["secret_key"].as_str().unwrap().to_string();
    let r = krypt7(
        dir,
        &[("KRYPT7_SECRET_KEY", &sk)],
        &["--json", "unlock", "--password-stdin"],
        Some("a long password here"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()["session"].as_str().unwrap().to_string()
}

/// A real server (mail domain `domain`) and signed-up, unlocked accounts on their own
/// devices: the server, its directory, and each account's device and session.
pub(crate) async fn accounts<const N: usize>(
    domain: &str,
    names: [&str; N],
) -> (
    krypt7_server::RunningServer,
    tempfile::TempDir,
    [(tempfile::TempDir, String); N],
) {
    let sdir = tempfile::tempdir().unwrap();
    let mut config = Config::new(sdir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.mail_domain = domain.into();
    let server = krypt7_server::start(config, Clock::default())
        .await
        .unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = sdir.path().join("data/ca.pem");
    let base = [
        ("KRYPT7_SERVER", url.as_str()),
        ("KRYPT7_CA", ca.to_str().unwrap()),
    ];
    let devices = names.map(|name| {
        let dir = tempfile::tempdir().unwrap();
        let session = account(dir.path(), &base, name);
        (dir, session)
    });
    (server, sdir, devices)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_from_the_command_line() {
    let (server, _sdir, [(da, sa), (db, sb)]) = accounts("mail.test", ["ann", "ben"]).await;
    let ann = [("KRYPT7_SESSION", sa.as_str())];
    let ben = [("KRYPT7_SESSION", sb.as_str())];

    // The body from standard input; the message is filed in Sent, delivered.
    let r = krypt7(
        da.path(),
        &ann,
        &[
            "--json",
            "mail",
            "send",
            "--to",
            "ben@mail.test",
            "--subject",
            "Keys",
        ],
        Some("The spare key is under the mat.\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["status"], "sent", "{}", r.stdout);
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "ls", "--folder", "sent"],
        None,
    );
    assert_eq!(r.json()[0]["subject"], "Keys", "{}", r.stdout);

    // The recipient lists it (unread), reads it, and it is read after.
    let r = krypt7(db.path(), &ben, &["--json", "mail", "ls", "--unread"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["from"], "ann@mail.test");
    assert_eq!(list[0]["signature"], "pinned");
    let id = list[0]["id"].as_str().unwrap().to_string();
    let r = krypt7(db.path(), &ben, &["mail", "read", &id], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("From:    ann@mail.test"), "{}", r.stdout);
    assert!(
        r.stdout.contains("The spare key is under the mat."),
        "{}",
        r.stdout
    );
    let r = krypt7(db.path(), &ben, &["--json", "mail", "ls", "--unread"], None);
    assert_eq!(r.json(), serde_json::json!([]));
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "mv", &id, "Archive"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "ls", "--folder", "archive"],
        None,
    );
    assert_eq!(r.json()[0]["id"], id.as_str());
    // Marks: unread again, starred, labelled; then a label off.
    let r = krypt7(
        db.path(),
        &ben,
        &[
            "--json", "mail", "mark", &id, "--unread", "--star", "--label", "keys", "--label",
            "home",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = r.json();
    assert_eq!(
        (&m["read"], &m["starred"], &m["labels"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(true),
            &serde_json::json!(["keys", "home"])
        ),
        "{m}"
    );
    let r = krypt7(db.path(), &ben, &["--json", "mail", "ls", "--unread"], None);
    assert_eq!(r.json()[0]["id"], id.as_str());
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "mark", &id, "--read", "--unlabel", "keys"],
        None,
    );
    assert_eq!(r.json()["labels"], serde_json::json!(["home"]));
    assert_eq!(r.json()["read"], serde_json::json!(true));

    // A reply quotes the message and threads with it; a forward carries it on.
    let r = krypt7(
        db.path(),
        &ben,
        &[
            "--json",
            "mail",
            "reply",
            &id,
            "--body",
            "Found it, thanks.",
        ],
        None,
    );
    assert_eq!(r.json()["status"], "sent", "{} {}", r.stdout, r.stderr);
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "ls", "--folder", "inbox"],
        None,
    );
    let reply = r.json()[0].clone();
    assert_eq!(reply["subject"], "Re: Keys", "{}", r.stdout);
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "ls", "--folder", "sent"],
        None,
    );
    assert_eq!(reply["thread"], r.json()[0]["thread"], "one thread");
    let reply_id = reply["id"].as_str().unwrap().to_string();
    let r = krypt7(da.path(), &ann, &["mail", "read", &reply_id], None);
    assert!(r.stdout.contains("Found it, thanks."), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("wrote:\n> The spare key is under the mat."),
        "{}",
        r.stdout
    );
    let r = krypt7(
        da.path(),
        &ann,
        &[
            "--json", "mail", "forward", &reply_id, "--to", "ben", "--body", "FYI",
        ],
        None,
    );
    assert_eq!(r.json()["status"], "sent", "{}", r.stderr);

    // A draft, then sent: it leaves Drafts and reaches its recipient.
    let r = krypt7(
        da.path(),
        &ann,
        &[
            "--json",
            "mail",
            "draft",
            "--to",
            "ben",
            "--subject",
            "Later",
            "--body",
            "Soon.",
        ],
        None,
    );
    assert_eq!(r.json()["status"], "draft", "{} {}", r.stdout, r.stderr);
    let draft = r.json()["id"].as_str().unwrap().to_string();
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "send-draft", &draft],
        None,
    );
    assert_eq!(r.json()["status"], "sent", "{} {}", r.stdout, r.stderr);
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "ls", "--folder", "drafts"],
        None,
    );
    assert_eq!(r.json(), serde_json::json!([]));
    let r = krypt7(db.path(), &ben, &["--json", "mail", "ls", "--unread"], None);
    assert!(r.stdout.contains("\"Later\""), "{}", r.stdout);

    // The mailbox as an mbox and one message as .eml, read back by Python's mail modules.
    let mbox = da.path().join("mail.mbox");
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "export", "--mbox", mbox.to_str().unwrap()],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let eml = db.path().join("one.eml");
    let r = krypt7(
        db.path(),
        &ben,
        &[
            "mail",
            "export",
            "--eml",
            eml.to_str().unwrap(),
            "--id",
            &id,
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = Command::new("python3")
        .arg("-c")
        .arg(
            "import mailbox, email, sys\n\
             print('|'.join(sorted(m['subject'] for m in mailbox.mbox(sys.argv[1]))))\n\
             print(email.message_from_binary_file(open(sys.argv[2], 'rb'))['subject'])",
        )
        .arg(&mbox)
        .arg(&eml)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        "Fwd: Re: Keys|Keys|Later|Re: Keys\nKeys\n",
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&mbox).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Search, on the recipient's device: by a word of the text, in a folder, as a table.
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "search", "spare MAT"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found = r.json();
    let mut subjects: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    // The message, the reply quoting it, and the forward carrying it.
    assert_eq!(subjects, ["Fwd: Re: Keys", "Keys", "Re: Keys"], "{found}");
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "search", "spare", "--folder", "Archive"],
        None,
    );
    let found = r.json();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], id.as_str());
    let r = krypt7(db.path(), &ben, &["mail", "search", "from:ann"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Keys") && r.stdout.contains("ann@mail.test"),
        "{}",
        r.stdout
    );
    let r = krypt7(db.path(), &ben, &["mail", "search", " "], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("a search needs words"), "{}", r.stderr);

    // The mbox brought into the other account: every message, marked imported (not signed),
    // in the folder asked for; a second import adds nothing; a file that is no message is
    // refused with nothing added.
    let import = |args: &[&str]| {
        let mut a = vec!["--json", "mail", "import"];
        a.extend_from_slice(args);
        krypt7(db.path(), &ben, &a, None)
    };
    let r = import(&[mbox.to_str().unwrap(), "--folder", "Old"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (r.json()["read"].as_u64(), r.json()["added"].as_u64()),
        (Some(4), Some(4)),
        "{}",
        r.stdout
    );
    let r = import(&[mbox.to_str().unwrap(), "--folder", "Old"]);
    assert_eq!(r.json()["added"], 0, "{}", r.stdout);
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "ls", "--folder", "Old"],
        None,
    );
    let old = r.json();
    assert_eq!(old.as_array().unwrap().len(), 4, "{old}");
    assert!(
        old.as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "imported" && m["signature"] == ""),
        "{old}"
    );
    let junk = db.path().join("junk.eml");
    std::fs::write(&junk, "not a message at all").unwrap();
    let r = import(&[mbox.to_str().unwrap(), junk.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("message 5 of 5 is not an RFC 5322 message"),
        "{}",
        r.stderr
    );

    // An attachment: sent with --attach, listed by `mail read`, saved by `mail save`.
    let photo = da.path().join("photo.jpg");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&photo, &bytes).unwrap();
    let r = krypt7(
        da.path(),
        &ann,
        &[
            "--json",
            "mail",
            "send",
            "--to",
            "ben",
            "--subject",
            "Photo",
            "--body",
            "See attached.",
            "--attach",
            photo.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.json()["status"], "sent", "{} {}", r.stdout, r.stderr);
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "search", "subject:photo"],
        None,
    );
    let pid = r.json()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.json()[0]["attachments"][0]["name"],
        "photo.jpg",
        "{}",
        r.stdout
    );
    let r = krypt7(db.path(), &ben, &["mail", "read", &pid], None);
    assert!(
        r.stdout.contains("Attached 0: photo.jpg (300000 bytes"),
        "{}",
        r.stdout
    );
    let saved = db.path().join("saved.jpg");
    let r = krypt7(
        db.path(),
        &ben,
        &[
            "--json",
            "mail",
            "save",
            &pid,
            "--out",
            saved.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&saved).unwrap() == bytes);
    let r = krypt7(
        db.path(),
        &ben,
        &[
            "mail",
            "save",
            &pid,
            "--index",
            "3",
            "--out",
            saved.to_str().unwrap(),
            "--force",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no file 3"), "{}", r.stderr);

    // Blocking: Ann's messages leave Ben's Inbox; the list names her; unblocked, it is empty.
    let r = krypt7(db.path(), &ben, &["--json", "mail", "block", "ann"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.json()["moved_to_spam"].as_u64().unwrap() >= 1,
        "{}",
        r.stdout
    );
    let r = krypt7(db.path(), &ben, &["--json", "mail", "blocked"], None);
    assert_eq!(r.json(), serde_json::json!(["ann@mail.test"]));
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "ls", "--folder", "Inbox"],
        None,
    );
    assert!(
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["from"] != "ann@mail.test"),
        "{}",
        r.stdout
    );
    let r = krypt7(
        db.path(),
        &ben,
        &["--json", "mail", "unblock", "ann@mail.test"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = krypt7(db.path(), &ben, &["--json", "mail", "blocked"], None);
    assert_eq!(r.json(), serde_json::json!([]));

    // Clear errors, nothing sent: an unknown user, another domain, no recipient.
    for (args, message) in [
        (
            vec!["mail", "send", "--to", "nobody", "--body", "x"],
            "no user nobody",
        ),
        (
            vec![
                "mail",
                "send",
                "--to",
                "ben@elsewhere.example",
                "--body",
                "x",
            ],
            "this server only",
        ),
        (vec!["mail", "send", "--body", "x"], "needs a recipient"),
    ] {
        let r = krypt7(da.path(), &ann, &args, None);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
    }
    let r = krypt7(
        da.path(),
        &ann,
        &["--json", "mail", "ls", "--folder", "sent"],
        None,
    );
    assert_eq!(
        r.json().as_array().unwrap().len(),
        4,
        "Keys, its forward, Later and Photo"
    );
    server.stop().await;
}

/// Messages sent with the sending process killed (SIGKILL) at moments spread over its whole
/// run: after the next sync, each message filed in the sender's Sent has reached the
/// recipient exactly once, and nothing else has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_sent_exactly_once_through_kill_9() {
    let (server, _sdir, [(da, sa), (db, sb)]) = accounts("localhost", ["kim", "lee"]).await;
    let kim = [("KRYPT7_SESSION", sa.as_str())];
    let lee = [("KRYPT7_SESSION", sb.as_str())];
    // Kim's device knows Lee's key first (as after any earlier message).
    let r = krypt7(da.path(), &kim, &["keys", "show", "lee"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // How long one send takes here, uninterrupted; the kills are spread over that time.
    let send = |subject: &str| {
        Command::new(env!("CARGO_BIN_EXE_krypt7"))
            .arg("--data-dir")
            .arg(da.path())
            .args([
                "mail",
                "send",
                "--to",
                "lee",
                "--body",
                "x",
                "--subject",
                subject,
            ])
            .envs(kim)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let started = std::time::Instant::now();
    assert!(send("whole").wait().unwrap().success());
    let whole = started.elapsed();
    let mut killed = 0;
    for i in 0..16u32 {
        let mut child = send(&format!("kill {i}"));
        std::thread::sleep(whole * i / 16);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed > 0,
        "no send was interrupted: the spread of kills is too late"
    );
    let r = krypt7(da.path(), &kim, &["--json", "sync"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let subjects = |dir: &std::path::Path, env: &[(&str, &str)], folder: &str| {
        let r = krypt7(
            dir,
            env,
            &["--json", "mail", "ls", "--folder", folder],
            None,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut v: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(
                    m["status"],
                    if folder == "sent" { "sent" } else { "received" }
                );
                m["subject"].as_str().unwrap().to_string()
            })
            .collect();
        v.sort();
        v
    };
    let sent = subjects(da.path(), &kim, "sent");
    let got = subjects(db.path(), &lee, "inbox");
    eprintln!(
        "{killed} of 16 sends killed; {} messages in Sent",
        sent.len()
    );
    assert!(!sent.is_empty());
    assert_eq!(
        got, sent,
        "each message in Sent arrived once, and nothing else"
    );
    server.stop().await;
}
