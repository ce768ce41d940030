//! Changing the password: the device that changes it, another device that learns of it when
//! it syncs, and a new device signing in.

use krypt7_client::{ClientError, Confirm};

use super::{Server, login_item, two_devices};

const OLD: &str = "correct horse battery";
const NEW: &str = "a new and longer passphrase";

/// The wrap of the keyset by the password this device unlocks with, as the cache holds it.
fn local_wrap(dir: &tempfile::TempDir) -> Option<Vec<u8>> {
    let db = rusqlite::Connection::open(dir.path().join("krypt7.db")).unwrap();
    db.query_row(
        "SELECT value FROM meta WHERE key = 'keyset_local'",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// Whether `needle` is anywhere in the files of `dir` (the cache, its WAL and journal).
fn in_files(dir: &tempfile::TempDir, needle: &[u8]) -> bool {
    std::fs::read_dir(dir.path()).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

/// Device A changes the password. A unlocks with the new one only; device B, after its next
/// sync, refuses the old one and unlocks with the new one (once through the server, then
/// offline again), keeping its data and ending its old session; a new device signs in with
/// the new password only. The wrap by the old password is gone from B's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_reaches_every_device() {
    let mut server = Server::start().await;
    let (dirs, mut a, mut b, sk) = two_devices(&server).await;
    let id = a.add_item(login_item("Bank", "alice", "pw")).unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    let b_old_wrap = local_wrap(&dirs[1]).unwrap();

    let confirm = |password| Confirm {
        password,
        secret_key: &sk,
        code: None.into(),
    };
    assert!(matches!(
        a.change_password("short", &confirm(OLD)).await,
        Err(ClientError::Invalid(_))
    ));
    assert!(matches!(
        a.change_password(NEW, &confirm("not the password")).await,
        Err(ClientError::WrongCredentials)
    ));
    a.change_password(NEW, &confirm(OLD)).await.unwrap();

    // A: the new password unlocks, offline; the old one does not.
    a.lock().unwrap();
    assert!(matches!(
        a.unlock(OLD, &sk),
        Err(ClientError::WrongCredentials)
    ));
    a.unlock(NEW, &sk).unwrap();

    // B, still unlocked, syncs and so learns of the change.
    b.sync().await.unwrap();
    assert_eq!(local_wrap(&dirs[1]), None);
    assert!(
        !in_files(&dirs[1], &b_old_wrap),
        "the wrap by the old password is still in B's files"
    );
    b.lock().unwrap();
    for pw in [OLD, NEW] {
        assert!(
            matches!(b.unlock(pw, &sk), Err(ClientError::PasswordChanged)),
            "an offline unlock after the change"
        );
    }
    assert!(matches!(
        b.unlock_online(OLD, &sk, None).await,
        Err(ClientError::WrongCredentials)
    ));
    assert!(!b.is_unlocked());
    b.unlock_online(NEW, &sk, None).await.unwrap();
    assert_eq!(b.item(id).unwrap().data.title, "Bank");
    // B's session was replaced, not added to: the account has A's and B's.
    assert_eq!(b.sessions().await.unwrap().len(), 2);
    b.sync().await.unwrap();

    // And offline from now on, with the new password only.
    server.down().await;
    b.lock().unwrap();
    assert!(matches!(
        b.unlock(OLD, &sk),
        Err(ClientError::WrongCredentials)
    ));
    b.unlock(NEW, &sk).unwrap();
    server.up().await;

    // A new device: the old password is refused at sign-in.
    let dc = tempfile::tempdir().unwrap();
    let mut c = server.device(&dc);
    assert!(matches!(
        c.login("alice", OLD, &sk, None).await,
        Err(ClientError::WrongCredentials)
    ));
    c.login("alice", NEW, &sk, None).await.unwrap();
    assert_eq!(c.item(id).unwrap().data.title, "Bank");
    // A later sync on A (which made the change) keeps its unlock.
    a.sync().await.unwrap();
    assert!(local_wrap(&dirs[0]).is_some());
}
