//! `kill -9` of a client in the middle of writes and syncs, 24 times: the cache always
//! opens, nothing acknowledged is lost, and the outbox is replayed once (every item reaches
//! the server exactly once, at revision 1).

use std::io::{BufRead, Write};

use krypt7_client::Client;

use crate::{Server, login_item};

const CHILD: &str = "KRYPT7_TEST_CRASH_CHILD";

/// The child: unlocks, then adds items forever, syncing every third one; prints each item's
/// id once its write has committed.
async fn child(spec: &str) -> ! {
    let [dir, url, ca, sk]: [&str; 4] = spec.split('\n').collect::<Vec<_>>().try_into().unwrap();
    let ca = std::fs::read(ca).unwrap();
    let mut c = Client::open(std::path::Path::new(dir), Some(url), Some(&ca)).unwrap();
    c.unlock(
        "crash test password",
        &krypt7_crypto::secret_key::SecretKey::parse(sk).unwrap(),
    )
    .unwrap();
    let mut out = std::io::stdout();
    for i in 0u64.. {
        let id = c
            .add_item(login_item(&format!("item {i}"), "u", "p"))
            .unwrap();
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
        if i % 3 == 2 {
            c.sync().await.unwrap();
            writeln!(out, "synced").unwrap();
            out.flush().unwrap();
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_and_syncs() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
    }
    let mut server = Server::start().await;
    let d = tempfile::tempdir().unwrap();
    let mut a = server.device(&d);
    let sk = a
        .signup("crash", "crash test password", None, None)
        .await
        .unwrap();
    drop(a);
    let ca_path = server.dir.path().join("data/ca.pem");
    let spec = format!(
        "{}\n{}\n{}\n{}",
        d.path().display(),
        server.url(),
        ca_path.display(),
        sk.to_human().as_str()
    );
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = Vec::new();
    for trial in 0..24 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "crash::kill_9_during_writes_and_syncs",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &spec)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Stop after a varying number of events: sometimes mid-write, sometimes mid-sync.
        let stop_after = 2 + trial % 7;
        let mut events = 0;
        while events < stop_after {
            let line = lines.next().expect("the child died on its own").unwrap();
            if let Ok(id) = line.trim().parse::<uuid::Uuid>() {
                acknowledged.push(id);
            }
            events += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut c = server.device(&d);
        c.unlock("crash test password", &sk)
            .unwrap_or_else(|e| panic!("trial {trial}: cannot unlock after kill -9: {e}"));
        for id in &acknowledged {
            assert!(
                c.item(*id).is_ok(),
                "trial {trial}: an acknowledged write was lost"
            );
        }
    }
    // Everything reaches the server once.
    let mut c = server.device(&d);
    c.unlock("crash test password", &sk).unwrap();
    c.sync().await.unwrap();
    assert_eq!(c.pending().unwrap(), 0);
    let local = c.items().unwrap().len();
    let fresh = tempfile::tempdir().unwrap();
    let mut other = server.device(&fresh);
    other
        .login("crash", "crash test password", &sk, None)
        .await
        .unwrap();
    let seen = other.items().unwrap();
    assert_eq!(seen.len(), local, "the other device sees every item, once");
    for id in &acknowledged {
        assert!(seen.iter().any(|i| i.id == *id));
    }
    // Revision 1 everywhere: no write was applied twice.
    let changes = crate::server_revisions(&server).await;
    assert_eq!(changes.len(), local);
    assert!(
        changes.iter().all(|&r| r == 1),
        "an item was written more than once: {changes:?}"
    );
    server.down().await;
}
