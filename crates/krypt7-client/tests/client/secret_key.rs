//! Changing the Secret Key: the device that changes it, another device with a change it had
//! not sent, a new device, and an attacker holding a copy of the server's database from
//! before the change with the old Secret Key and the password.

use krypt7_client::{ClientError, Confirm};
use krypt7_crypto::secret_key::SecretKey;

use super::{Server, login_item, two_devices};

const PW: &str = "correct horse battery";

/// `(id, vault id, envelope)` of every item the server at `data` stores.
fn server_items(data: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let db = rusqlite::Connection::open(data.join("krypt7.db")).unwrap();
    let mut st = db
        .prepare("SELECT id, vault_id, envelope FROM items")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// One column of the only account's row on the server at `data`.
fn account_value(data: &std::path::Path, column: &str) -> Vec<u8> {
    let db = rusqlite::Connection::open(data.join("krypt7.db")).unwrap();
    db.query_row(&format!("SELECT {column} FROM accounts"), [], |r| r.get(0))
        .unwrap()
}

/// Whether `needle` is in any file under `dir`.
fn in_files(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            return in_files(&p, needle);
        }
        let bytes = std::fs::read(p).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

/// A copy of the server's data directory: its files (certificates, server keys, blobs) and
/// a consistent snapshot of its database (`VACUUM INTO`, which the live WAL cannot tear).
fn copy_data(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let dest = to.join(&name);
        if p.is_dir() {
            copy_data(&p, &dest);
        } else if !name.starts_with("krypt7.db") {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
    if from.join("krypt7.db").exists() {
        let db = rusqlite::Connection::open(from.join("krypt7.db")).unwrap();
        db.execute("VACUUM INTO ?1", [to.join("krypt7.db").to_str().unwrap()])
            .unwrap();
    }
}

/// Device A changes the Secret Key while device B holds a change it has not sent. The old
/// key opens nothing after: not at sign-in, not offline on A, not on B; and a copy of the
/// server's database taken before the change, served again with the old Secret Key and the
/// password, yields keys that open none of the items the server holds after it (each was
/// sealed again, and one is new). B learns of the change at its next sync, unlocks with the
/// new key online, and keeps and sends its change; a new device signs in with the new key
/// and verifies every vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_key_leaves_the_old_one_opening_nothing() {
    let server = Server::start().await;
    let (dirs, mut a, mut b, old_sk) = two_devices(&server).await;
    let bank = a.add_item(login_item("Bank", "alice", "pw-1")).unwrap();
    let gone = a.add_item(login_item("Old", "alice", "pw-0")).unwrap();
    a.sync().await.unwrap();
    a.purge_item(gone).unwrap();
    let mut edited = a.item(bank).unwrap().data;
    edited.fields.insert("password".into(), "pw-2".into());
    a.edit_item(bank, edited).unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    let b_history = b.history(bank).unwrap().len();

    // The copy an attacker keeps, taken before the change.
    let data = server.dir.path().join("data");
    let copy = tempfile::tempdir().unwrap();
    copy_data(&data, &copy.path().join("data"));
    let old_keyset = account_value(&data, "keyset");
    let old_record = account_value(&data, "opaque_record");

    // B, offline from here, makes a change it has not sent.
    let from_b = b.add_item(login_item("Made on B", "bob", "b-1")).unwrap();

    let new_sk = SecretKey::generate().unwrap();
    let confirm = |secret_key| Confirm {
        password: PW,
        secret_key,
        code: None.into(),
    };
    assert!(matches!(
        a.change_secret_key(
            &new_sk,
            &Confirm {
                password: "not the password",
                secret_key: &old_sk,
                code: None.into()
            }
        )
        .await,
        Err(ClientError::WrongCredentials)
    ));
    assert!(matches!(
        a.change_secret_key(&old_sk, &confirm(&old_sk)).await,
        Err(ClientError::Invalid(_))
    ));
    a.change_secret_key(&new_sk, &confirm(&old_sk))
        .await
        .unwrap();
    let after = a
        .add_item(login_item("After", "alice", "canary-after-the-change"))
        .unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.item(bank).unwrap().data.fields["password"], "pw-2");

    // The server keeps nothing the old key opened: not the keyset's wrap, not the record.
    assert!(
        !in_files(&data, &old_keyset),
        "the old keyset wrap is still on the server"
    );
    assert!(
        !in_files(&data, &old_record),
        "the old OPAQUE record is still on the server"
    );

    // The attacker: the copy served again, signed in to with the old Secret Key and the
    // password, gives the old keys; the items the server holds now are put where those keys
    // would open them, and none opens.
    let mut old_server = Server {
        dir: copy,
        port: std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        running: None,
        clock: krypt7_server::clock::Clock::default(),
    };
    old_server.up().await;
    let dd = tempfile::tempdir().unwrap();
    let mut d = old_server.device(&dd);
    d.login("alice", PW, &old_sk, None).await.unwrap();
    assert_eq!(d.item(bank).unwrap().data.fields["password"], "pw-2");
    let now = server_items(&data);
    assert_eq!(
        now.len(),
        3,
        "Bank, the purged item's tombstone and the new one"
    );
    {
        let cache = rusqlite::Connection::open(dd.path().join("krypt7.db")).unwrap();
        for (id, vault, envelope) in &now {
            cache
                .execute(
                    "INSERT INTO items (id, vault_id, envelope, deleted, server_revision, server_envelope)
                     VALUES (?1, ?2, ?3, 0, 1, x'')
                     ON CONFLICT (id) DO UPDATE SET envelope = ?3, deleted = 0",
                    rusqlite::params![id, vault, envelope],
                )
                .unwrap();
        }
    }
    for (id, _, _) in &now {
        let id = uuid::Uuid::from_slice(id).unwrap();
        assert!(
            d.item(id).is_err(),
            "the old keys open item {id} as the server holds it after the change"
        );
    }
    old_server.down().await;

    // A: the new key unlocks offline; the old one does not.
    a.lock().unwrap();
    assert!(matches!(
        a.unlock(PW, &old_sk),
        Err(ClientError::WrongCredentials)
    ));
    a.unlock(PW, &new_sk).unwrap();
    assert_eq!(
        a.item(after).unwrap().data.fields["password"],
        "canary-after-the-change"
    );

    // B learns of the change at its next sync, which stops; nothing it holds is lost.
    assert!(matches!(b.sync().await, Err(ClientError::SecretKeyChanged)));
    assert!(b.secret_key_changed_elsewhere().unwrap());
    b.lock().unwrap();
    for sk in [&old_sk, &new_sk] {
        assert!(matches!(
            b.unlock(PW, sk),
            Err(ClientError::SecretKeyChanged)
        ));
    }
    assert!(matches!(
        b.unlock_online(PW, &old_sk, None).await,
        Err(ClientError::WrongCredentials)
    ));
    b.unlock_online(PW, &new_sk, None).await.unwrap();
    assert!(!b.secret_key_changed_elsewhere().unwrap());
    assert_eq!(b.item(from_b).unwrap().data.title, "Made on B");
    assert_eq!(b.item(bank).unwrap().data.fields["password"], "pw-2");
    b.sync().await.unwrap();
    assert_eq!(b.item(after).unwrap().data.title, "After");
    assert_eq!(b.pending().unwrap(), 0, "B's change was sent");
    assert_eq!(
        b.history(bank).unwrap().len(),
        b_history,
        "sealing again added to an item's history"
    );
    b.lock().unwrap();
    assert!(matches!(
        b.unlock(PW, &old_sk),
        Err(ClientError::WrongCredentials)
    ));
    b.unlock(PW, &new_sk).unwrap();
    let _ = &dirs;

    // A sees B's change; a new device signs in with the new key only and verifies it all.
    a.sync().await.unwrap();
    assert_eq!(a.item(from_b).unwrap().data.title, "Made on B");
    let dc = tempfile::tempdir().unwrap();
    let mut c = server.device(&dc);
    assert!(matches!(
        c.login("alice", PW, &old_sk, None).await,
        Err(ClientError::WrongCredentials)
    ));
    let report = c.login("alice", PW, &new_sk, None).await.unwrap();
    assert!(report.verified >= 1, "the new device verified no manifest");
    assert_eq!(c.item(from_b).unwrap().data.title, "Made on B");
    assert_eq!(
        c.item(after).unwrap().data.fields["password"],
        "canary-after-the-change"
    );
}
