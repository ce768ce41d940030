//! A local attacker: someone who can write the cache file while the vault is locked (a
//! thief with the laptop, malware without the password). What decides where the session
//! token goes and whom the device trusts is bound to the token's seal, and item states to
//! their sealed content: each change is refused at unlock or sync, and no token is sent.

use krypt7_client::Locker;

use super::*;

/// Runs `sql` on the cache in `dir` (the device's client dropped, as after a lock).
fn rewrite(dir: &std::path::Path, sql: &str, params: &[&dyn rusqlite::ToSql]) {
    let db = rusqlite::Connection::open(dir.join("krypt7.db")).unwrap();
    let n = db.execute(sql, params).unwrap();
    assert!(n > 0, "{sql}: nothing changed");
}

fn meta(dir: &std::path::Path, key: &str) -> Vec<u8> {
    let db = rusqlite::Connection::open(dir.join("krypt7.db")).unwrap();
    db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .unwrap()
}

fn set_meta(dir: &std::path::Path, key: &str, value: &[u8]) {
    rewrite(
        dir,
        "UPDATE meta SET value = ?2 WHERE key = ?1",
        &[&key, &value],
    );
}

/// The device in `dir`, opened as the app or CLI would (its own server and CA), unlocked.
fn reopen(dir: &std::path::Path, sk: &SecretKey) -> Client {
    let mut c = Client::open(dir, None, None).unwrap();
    c.unlock(PW, sk).unwrap();
    c
}

fn refused_as_changed(r: Result<impl std::fmt::Debug, ClientError>) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), "integrity", "{e}");
    assert!(e.to_string().contains("changed outside KRYPT7"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_changed_while_locked_sends_no_token_and_keeps_its_pins() {
    let (server, p) = start().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut bob = device(&p, &dirs[1]);
    bob.signup("bob", "bob's own passphrase", None, None)
        .await
        .unwrap();
    let Alice {
        mut b, sk, _dirs, ..
    } = alice(&p).await;
    // b pins bob's keys, then locks and goes away.
    b.peer_keys("bob").await.unwrap();
    let dir = _dirs[1].path().to_path_buf();
    let lock = |mut c: Client| {
        let l: Locker = c.locker();
        c.lock().unwrap();
        drop(c);
        assert!(!l.is_unlocked());
    };
    lock(b);

    // The server address and CA rewritten to the attacker's recording proxy.
    let evil = Proxy::start(&server, Cert::Good).await.unwrap();
    let (server_was, ca_was) = (meta(&dir, "server"), meta(&dir, "ca"));
    set_meta(&dir, "server", evil.url.as_bytes());
    set_meta(&dir, "ca", &evil.ca);
    let mut b = reopen(&dir, &sk);
    assert_eq!(b.server(), evil.url);
    refused_as_changed(b.sync().await);
    refused_as_changed(b.account_info().await);
    assert!(evil.seen().is_empty(), "{:?}", evil.seen());
    // Offline reading still works: the vault is the user's.
    assert_eq!(b.items().unwrap().len(), 3);
    lock(b);

    // Put back, the device syncs again.
    set_meta(&dir, "server", &server_was);
    set_meta(&dir, "ca", &ca_was);
    let mut b = reopen(&dir, &sk);
    b.sync().await.unwrap();
    lock(b);

    // A pin removed: trust on first use is not reset behind the user's back.
    let db = rusqlite::Connection::open(dir.join("krypt7.db")).unwrap();
    let pins: Vec<(Vec<u8>, Vec<u8>)> = {
        let mut st = db
            .prepare("SELECT account_id, sealed FROM pinned_keys")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(pins.len(), 1);
    db.execute("DELETE FROM pinned_keys", []).unwrap();
    drop(db);
    p.clear();
    let mut b = reopen(&dir, &sk);
    refused_as_changed(b.peer_keys("bob").await);
    refused_as_changed(b.sync().await);
    assert!(p.seen().is_empty(), "{:?}", p.seen());
    lock(b);
    rewrite(
        &dir,
        "INSERT INTO pinned_keys (account_id, sealed) VALUES (?1, ?2)",
        &[&pins[0].0, &pins[0].1],
    );
    let mut b = reopen(&dir, &sk);
    b.sync().await.unwrap();
    assert_eq!(b.pinned_peers().unwrap().len(), 1);
    lock(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_states_flipped_while_locked_are_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut b,
        sk,
        items: [x, y, _],
        _dirs,
        ..
    } = alice(&p).await;
    b.purge_item(y).unwrap();
    b.sync().await.unwrap();
    b.lock().unwrap();
    drop(b);
    let dir = _dirs[1].path().to_path_buf();

    // A live item marked deleted would vanish: refused at unlock.
    rewrite(
        &dir,
        "UPDATE items SET deleted = 1 WHERE id = ?1",
        &[&x.as_bytes().as_slice()],
    );
    let mut c = Client::open(&dir, None, None).unwrap();
    refused_as_changed(c.unlock(PW, &sk));
    assert!(!c.is_unlocked());
    drop(c);
    rewrite(
        &dir,
        "UPDATE items SET deleted = 0 WHERE id = ?1",
        &[&x.as_bytes().as_slice()],
    );

    // A deleted item marked live: refused where it is read.
    rewrite(
        &dir,
        "UPDATE items SET deleted = 0 WHERE id = ?1",
        &[&y.as_bytes().as_slice()],
    );
    let c = reopen(&dir, &sk);
    refused_as_changed(c.items());
    refused_as_changed(c.item(y));
    drop(c);
    rewrite(
        &dir,
        "UPDATE items SET deleted = 1 WHERE id = ?1",
        &[&y.as_bytes().as_slice()],
    );
    let mut c = reopen(&dir, &sk);
    assert_eq!(c.items().unwrap().len(), 2);
    c.sync().await.unwrap();
}

/// The cache files of the device in `dir` (the database and its journal), by name.
fn cache_files(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("krypt7.db"))
        .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_put_back_to_an_older_copy_is_refused_at_sync() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        sk,
        items: [x, ..],
        _dirs,
    } = alice(&p).await;
    let dir = _dirs[1].path().to_path_buf();
    b.lock().unwrap();
    drop(b);
    let old = cache_files(&dir);

    // The device commits an edit, then its cache is put back to the copy from before.
    let mut b = reopen(&dir, &sk);
    let mut d = b.item(x).unwrap().data;
    d.fields.insert("password".into(), "after-the-copy".into());
    b.edit_item(x, d).unwrap();
    b.sync().await.unwrap();
    b.lock().unwrap();
    drop(b);
    for f in std::fs::read_dir(&dir).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().starts_with("krypt7.db") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    for (name, bytes) in &old {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    let mut b = reopen(&dir, &sk);
    let e = b.sync().await.unwrap_err();
    assert_eq!(e.code(), "integrity", "{e}");
    assert!(e.to_string().contains("older copy"), "{e}");
    // Nothing was applied, and the edit is safe on the server.
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-1");
    a.sync().await.unwrap();
    assert_eq!(a.item(x).unwrap().data.fields["password"], "after-the-copy");
}
