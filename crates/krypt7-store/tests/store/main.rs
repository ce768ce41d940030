//! krypt7-store: persistence, the outbox, merges, history, manifests, damaged caches, and
//! crash safety under `kill -9`.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use krypt7_store::{RemoteItem, Store, StoreError, VaultState};
use uuid::Uuid;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("cache/krypt7.db")).unwrap()
}

fn state(vault: Uuid, version: i64) -> VaultState {
    VaultState {
        id: vault,
        digest: [version as u8; 32],
        live_count: version,
        manifest: Some((version, format!("m{version}").into_bytes())),
    }
}

/// The server stored one pushed item as `revision`, with manifest version `revision`, and
/// the feed brings it back: the client's rule for its own commits is to keep its local
/// state on top (the same bytes leave the outbox).
fn ack(s: &mut Store, vault: Uuid, id: Uuid, revision: i64, env: &[u8]) -> Result<(), StoreError> {
    s.put_vault(vault, b"wrap")?;
    let back = RemoteItem {
        id,
        vault_id: vault,
        revision,
        envelope: env.to_vec(),
        deleted: false,
    };
    let cursor = s.cursor()?;
    s.apply_remote(
        &[back],
        |l, _| Some((l.envelope.clone(), l.deleted)),
        &[state(vault, revision)],
        cursor,
        0,
    )
    .map(|_| ())
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (item, vault) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let s = open(&dir);
        s.set_meta("account", b"acct").unwrap();
        s.put_vault(vault, b"wrapped").unwrap();
        s.save_local(item, vault, b"env-1", false, 10).unwrap();
    }
    let s = open(&dir);
    assert_eq!(s.meta("account").unwrap().unwrap(), b"acct");
    assert_eq!(s.vaults().unwrap()[0].key_wrap, b"wrapped");
    assert_eq!(s.item(item).unwrap().unwrap().envelope, b"env-1");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the cache directory is private");
    }
}

#[test]
fn outbox_commit_comes_back_through_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let (item, vault) = (Uuid::new_v4(), Uuid::new_v4());
    s.save_local(item, vault, b"a", false, 1).unwrap();
    assert_eq!(s.outbox().unwrap().len(), 1);
    // The commit of v1 comes back: out of the outbox, server base recorded.
    ack(&mut s, vault, item, 1, b"a").unwrap();
    assert!(s.outbox().unwrap().is_empty());
    let row = s.item(item).unwrap().unwrap();
    assert_eq!(
        (row.server_revision, row.server_envelope.as_deref()),
        (1, Some(&b"a"[..]))
    );
    // An edit made while a commit is in flight stays queued after the commit comes back.
    s.save_local(item, vault, b"b", false, 2).unwrap();
    let _v3 = s.save_local(item, vault, b"c", false, 3).unwrap();
    ack(&mut s, vault, item, 2, b"b").unwrap();
    let row = s.item(item).unwrap().unwrap();
    assert!(row.dirty);
    assert_eq!(
        (row.envelope.as_slice(), row.server_revision),
        (&b"c"[..], 2)
    );
    // History keeps every earlier state, newest first.
    let h: Vec<Vec<u8>> = s
        .history(item)
        .unwrap()
        .into_iter()
        .map(|h| h.envelope)
        .collect();
    assert_eq!(h, vec![b"b".to_vec(), b"a".to_vec()]);
}

#[test]
fn remote_changes_apply_atomically_and_never_drop_a_local_edit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let vault = Uuid::new_v4();
    let (clean, edited, new) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for id in [clean, edited] {
        s.save_local(id, vault, b"base", false, 1).unwrap();
        ack(&mut s, vault, id, 1, b"base").unwrap();
    }
    s.save_local(edited, vault, b"local edit", false, 2)
        .unwrap();
    let remote = |id, env: &[u8]| RemoteItem {
        id,
        vault_id: vault,
        revision: 2,
        envelope: env.to_vec(),
        deleted: false,
    };
    let page = [
        remote(clean, b"theirs"),
        remote(edited, b"theirs too"),
        remote(new, b"brand new"),
    ];
    let mut asked = Vec::new();
    s.apply_remote(
        &page,
        |local, incoming| {
            asked.push((local.envelope.clone(), incoming.envelope.clone()));
            Some((b"merged".to_vec(), false))
        },
        &[],
        42,
        3,
    )
    .unwrap();
    assert_eq!(
        asked,
        vec![(b"local edit".to_vec(), b"theirs too".to_vec())],
        "only the locally edited item is merged"
    );
    assert_eq!(s.item(clean).unwrap().unwrap().envelope, b"theirs");
    let e = s.item(edited).unwrap().unwrap();
    assert_eq!(
        (e.envelope.as_slice(), e.dirty, e.server_revision),
        (&b"merged"[..], true, 2)
    );
    assert_eq!(
        e.server_envelope.unwrap(),
        b"theirs too",
        "the new base for the next merge"
    );
    assert_eq!(s.item(new).unwrap().unwrap().envelope, b"brand new");
    assert_eq!(s.cursor().unwrap(), 42);
    // A merge that declines keeps the local state, still queued.
    s.apply_remote(
        &[RemoteItem {
            revision: 3,
            ..remote(edited, b"third")
        }],
        |_, _| None,
        &[],
        43,
        4,
    )
    .unwrap();
    let e = s.item(edited).unwrap().unwrap();
    assert_eq!((e.envelope.as_slice(), e.dirty), (&b"merged"[..], true));
    // Items whose local state is the server's store it once; a later local edit keeps the
    // server's state as the base of the next merge.
    let stored_once = || -> i64 {
        rusqlite::Connection::open(dir.path().join("cache/krypt7.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM items WHERE server_envelope = x''",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(stored_once(), 2);
    for (id, server) in [(clean, &b"theirs"[..]), (new, &b"brand new"[..])] {
        let row = s.item(id).unwrap().unwrap();
        assert_eq!(row.server_envelope.as_deref(), Some(server));
        s.save_local(id, vault, b"edited after", false, 5).unwrap();
        let row = s.item(id).unwrap().unwrap();
        assert_eq!(
            (row.envelope.as_slice(), row.server_envelope.as_deref()),
            (&b"edited after"[..], Some(server))
        );
    }
    assert_eq!(stored_once(), 0);
}

#[test]
fn a_lost_acknowledgement_leaves_the_outbox_when_the_feed_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (id, vault) = (Uuid::new_v4(), Uuid::new_v4());
    s.save_local(id, vault, b"mine", false, 1).unwrap();
    // The push reached the server, its answer did not: the feed brings our own state back.
    let back = RemoteItem {
        id,
        vault_id: vault,
        revision: 1,
        envelope: b"mine".to_vec(),
        deleted: false,
    };
    s.apply_remote(&[back], |l, _| Some((l.envelope.clone(), false)), &[], 7, 2)
        .unwrap();
    let row = s.item(id).unwrap().unwrap();
    assert!(!row.dirty, "sent once, applied once");
    assert_eq!(row.server_revision, 1);
    assert!(s.outbox().unwrap().is_empty());
}

#[test]
fn manifest_versions_never_go_down_and_a_refusal_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let (vault, id) = (Uuid::new_v4(), Uuid::new_v4());
    s.save_local(id, vault, b"a", false, 1).unwrap();
    ack(&mut s, vault, id, 5, b"a").unwrap();
    let before = s.vault(vault).unwrap().unwrap();
    assert_eq!(
        (
            before.manifest_version,
            before.manifest.as_deref(),
            before.live_count
        ),
        (5, Some(&b"m5"[..]), 5)
    );
    assert_eq!(before.digest, Some([5; 32]));
    // The same version again is fine (nothing new); an older one is refused, and the items
    // and cursor that came with it are not applied.
    let remote = RemoteItem {
        id,
        vault_id: vault,
        revision: 6,
        envelope: b"rolled back".to_vec(),
        deleted: false,
    };
    assert!(matches!(
        s.apply_remote(
            std::slice::from_ref(&remote),
            |_, _| None,
            &[state(vault, 4)],
            9,
            2
        ),
        Err(StoreError::ManifestRollback {
            offered: 4,
            verified: 5
        })
    ));
    assert_eq!(s.item(id).unwrap().unwrap().envelope, b"a");
    assert_eq!(s.cursor().unwrap(), 0);
    assert_eq!(s.vault(vault).unwrap().unwrap(), before);
    s.apply_remote(&[remote], |_, _| None, &[state(vault, 5)], 9, 2)
        .unwrap();
    assert_eq!(s.item(id).unwrap().unwrap().envelope, b"rolled back");
    // An unknown vault's state is refused.
    assert!(matches!(
        s.apply_remote(&[], |_, _| None, &[state(Uuid::new_v4(), 1)], 10, 3),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn the_server_state_of_a_deleted_item_is_remembered_apart_from_the_local_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (vault, id) = (Uuid::new_v4(), Uuid::new_v4());
    let tombstone = RemoteItem {
        id,
        vault_id: vault,
        revision: 2,
        envelope: b"tombstone".to_vec(),
        deleted: true,
    };
    s.apply_remote(&[tombstone], |_, _| None, &[], 1, 1)
        .unwrap();
    let row = s.item(id).unwrap().unwrap();
    assert!(row.deleted && row.server_deleted);
    // A local restore-by-edit is live locally while the server's state stays a tombstone.
    s.save_local(id, vault, b"alive again", false, 2).unwrap();
    let row = s.item(id).unwrap().unwrap();
    assert!(!row.deleted && row.server_deleted && row.dirty);
    assert_eq!(s.vault_items(vault).unwrap(), vec![row]);
}

#[test]
fn a_damaged_cache_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache/krypt7.db");
    {
        let s = Store::open(&path).unwrap();
        for i in 0..200 {
            s.save_local(
                Uuid::new_v4(),
                Uuid::new_v4(),
                &vec![i as u8; 2000],
                false,
                i,
            )
            .unwrap();
        }
    }
    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some text that is long enough to look like a header",
    )
    .unwrap();
    assert!(matches!(
        Store::open(&junk),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        b"this is not a database, just some text that is long enough to look like a header"
    );
    // A database with damaged pages.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 2..len / 2 + 4096] {
        *b = 0xAB;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    match Store::open(&path) {
        Err(StoreError::Corrupt { detail, .. }) => assert!(!detail.is_empty()),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("a damaged cache was accepted"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the damaged file is left as it was"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("krypt7.db");
    drop(Store::open(&path).unwrap());
    set_user_version_99(&path);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::SchemaTooNew(99))
    ));
}

/// Writes 99 into the database header's user_version (big-endian u32 at offset 60), as a
/// newer KRYPT7 would have; the WAL was checkpointed when the store closed.
fn set_user_version_99(path: &std::path::Path) {
    let mut b = std::fs::read(path).unwrap();
    b[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(path, b).unwrap();
}

/// The child side of `kill_9_during_writes_loses_nothing_acknowledged`: writes items until it
/// is killed, printing each id once its transaction has committed.
fn writer(path: &str) -> ! {
    let s = Store::open(std::path::Path::new(&path)).unwrap();
    let vault = Uuid::new_v4();
    use std::io::Write;
    let mut out = std::io::stdout();
    for i in 0.. {
        let id = Uuid::new_v4();
        s.save_local(id, vault, &vec![(i % 251) as u8; 3000], false, i)
            .unwrap();
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    use std::io::BufRead;
    if let Ok(path) = std::env::var("KRYPT7_STORE_WRITER") {
        writer(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("krypt7.db");
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: Vec<Uuid> = Vec::new();
    for trial in 0..20 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "kill_9_during_writes_loses_nothing_acknowledged",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KRYPT7_STORE_WRITER", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it commit a varying number of writes, then kill it mid-stream.
        let target = 5 + trial * 3;
        let mut seen = 0;
        while seen < target {
            let line = lines.next().unwrap().unwrap();
            if let Ok(id) = line.trim().parse::<Uuid>() {
                acknowledged.push(id);
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let s = Store::open(&path).unwrap_or_else(|e| {
            panic!("trial {trial}: the cache does not open after kill -9: {e}")
        });
        for id in &acknowledged {
            assert!(
                s.item(*id).unwrap().is_some(),
                "trial {trial}: an acknowledged write was lost"
            );
        }
        assert!(s.outbox().unwrap().len() >= acknowledged.len());
    }
}
