//! The client core against a real server over real TLS: devices, offline edits, merges,
//! conflict copies, unlock and lock.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use krypt7_client::{Client, ClientError, ItemData, ItemKind};
use krypt7_server::{Config, RunningServer, clock::Clock};

mod crash;
mod files;
mod folder;
mod import;
mod keychain;
mod mail;
mod password;
mod secret_key;
mod tamper;

struct Server {
    dir: tempfile::TempDir,
    port: u16,
    running: Option<RunningServer>,
    clock: Clock,
}

impl Server {
    async fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Server {
            dir: tempfile::tempdir().unwrap(),
            port,
            running: None,
            clock: Clock::default(),
        };
        s.up().await;
        s
    }
    async fn up(&mut self) {
        let mut c = Config::new(self.dir.path().join("data"));
        c.listen = format!("127.0.0.1:{}", self.port).parse().unwrap();
        self.running = Some(krypt7_server::start(c, self.clock.clone()).await.unwrap());
    }
    async fn down(&mut self) {
        self.running.take().unwrap().stop().await;
    }
    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
    fn ca(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("data/ca.pem")).unwrap()
    }
    fn device(&self, dir: &tempfile::TempDir) -> Client {
        Client::open(dir.path(), Some(&self.url()), Some(&self.ca())).unwrap()
    }
}

fn login_item(title: &str, user: &str, pw: &str) -> ItemData {
    ItemData {
        fields: BTreeMap::from([
            ("username".into(), user.into()),
            ("password".into(), pw.into()),
        ]),
        ..ItemData::new(ItemKind::Login, title)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_edit_offline_and_nothing_is_lost() {
    let mut server = Server::start().await;
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut a = server.device(&da);
    let sk = a
        .signup(
            "alice",
            "correct horse battery",
            Some("alice@example.org"),
            None,
        )
        .await
        .unwrap();
    let bank = a.add_item(login_item("Bank", "alice", "pw-1")).unwrap();
    let mail = a
        .add_item(login_item("Mail", "alice@example.org", "m-1"))
        .unwrap();
    assert_eq!(a.pending().unwrap(), 2);
    assert_eq!(a.sync().await.unwrap().pushed, 2);
    assert_eq!(a.pending().unwrap(), 0);

    let mut b = server.device(&db);
    b.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    assert_eq!(b.item(bank).unwrap().data.fields["password"], "pw-1");

    // The server goes away; both devices keep working.
    server.down().await;
    let mut x = a.item(bank).unwrap().data;
    x.fields.insert("password".into(), "pw-2-from-a".into());
    a.edit_item(bank, x).unwrap();
    let mut y = b.item(bank).unwrap().data;
    y.title = "My bank".into();
    b.edit_item(bank, y).unwrap();
    // A colliding edit of the same field on both devices.
    let mut m = a.item(mail).unwrap().data;
    m.fields.insert("password".into(), "m-from-a".into());
    a.edit_item(mail, m).unwrap();
    let mut m = b.item(mail).unwrap().data;
    m.fields.insert("password".into(), "m-from-b".into());
    b.edit_item(mail, m).unwrap();
    let offline = a.sync().await.unwrap_err();
    assert_eq!(offline.code(), "offline", "{offline}");
    assert_eq!(a.pending().unwrap(), 2, "nothing is lost while offline");

    server.up().await;
    a.sync().await.unwrap();
    let rb = b.sync().await.unwrap();
    assert!(rb.merged >= 2 && rb.conflict_copies == 1, "{rb:?}");
    a.sync().await.unwrap();
    for dev in [&a, &b] {
        let bank_now = dev.item(bank).unwrap().data;
        assert_eq!(
            (
                bank_now.title.as_str(),
                bank_now.fields["password"].as_str()
            ),
            ("My bank", "pw-2-from-a"),
            "both edits survive"
        );
        let items = dev.items().unwrap();
        let mails: Vec<&str> = items
            .iter()
            .filter(|i| i.data.title.starts_with("Mail"))
            .map(|i| i.data.fields["password"].as_str())
            .collect();
        let mut mails = mails.clone();
        mails.sort();
        assert_eq!(
            mails,
            vec!["m-from-a", "m-from-b"],
            "a colliding edit is kept as a conflict copy"
        );
        assert_eq!(
            items
                .iter()
                .filter(|i| i.data.conflict_of == Some(mail))
                .count(),
            1
        );
        assert_eq!(dev.pending().unwrap(), 0);
    }
    // A third device signing in later sees the merged vault.
    let mut c = server.device(&dc);
    c.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    assert_eq!(c.items().unwrap().len(), 3);
    assert_eq!(c.item(bank).unwrap().data.title, "My bank");
    server.down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_offline_unlock() {
    let mut server = Server::start().await;
    let d = tempfile::tempdir().unwrap();
    let mut a = server.device(&d);
    let sk = a
        .signup("bob", "a long password", None, None)
        .await
        .unwrap();
    let id = a.add_item(login_item("Shop", "bob", "s3cret")).unwrap();
    a.lock().unwrap();
    assert_eq!(a.item(id).unwrap_err().code(), "locked");
    server.down().await;
    // A new process, offline.
    let mut a = server.device(&d);
    assert!(matches!(
        a.unlock("wrong password", &sk),
        Err(ClientError::WrongCredentials)
    ));
    let other = krypt7_crypto::secret_key::SecretKey::generate().unwrap();
    assert!(matches!(
        a.unlock("a long password", &other),
        Err(ClientError::WrongCredentials)
    ));
    a.unlock("a long password", &sk).unwrap();
    assert_eq!(a.item(id).unwrap().data.fields["password"], "s3cret");
    // The cache holds no plaintext.
    a.lock().unwrap();
    let mut stored = Vec::new();
    for f in std::fs::read_dir(d.path()).unwrap() {
        stored.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&stored);
    for canary in ["s3cret", "Shop", "a long password"] {
        assert!(!text.contains(canary), "{canary} is in the local cache");
    }
}

/// One account on two devices (`a` signed up, `b` signed in); keep the directories alive.
async fn two_devices(
    server: &Server,
) -> (
    [tempfile::TempDir; 2],
    Client,
    Client,
    krypt7_crypto::secret_key::SecretKey,
) {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = server.device(&da);
    let sk = a
        .signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();
    let mut b = server.device(&db);
    b.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    ([da, db], a, b, sk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_just_signed_in_can_add_items() {
    // Its vault arrives with its first sync, after the keys were loaded: new items go there.
    let server = Server::start().await;
    let (_dirs, mut a, mut b, _) = two_devices(&server).await;
    let id = b.add_item(login_item("From b", "alice", "pw")).unwrap();
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.item(id).unwrap().data.title, "From b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_hears_of_a_change_through_the_push_channel() {
    let mut server = Server::start().await;
    let (_dirs, mut a, mut b, _) = two_devices(&server).await;
    let mut events = b.events().await.unwrap();
    let id = a.add_item(login_item("Bank", "alice", "pw")).unwrap();
    a.sync().await.unwrap();
    // A generous bound only so that a lost event fails instead of hanging the suite.
    let told = tokio::time::timeout(std::time::Duration::from_secs(60), events.next())
        .await
        .expect("no event within a minute")
        .unwrap()
        .expect("the stream ended");
    assert!(told > b.cursor().unwrap());
    assert_eq!(b.sync().await.unwrap().pulled, 1);
    assert_eq!(b.item(id).unwrap().data.title, "Bank");
    assert!(b.cursor().unwrap() >= told);
    // The server goes away: the stream ends (or fails as offline), and a new one can be
    // opened once it is back.
    server.down().await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(60), events.next())
        .await
        .expect("the stream outlived its server");
    assert!(
        matches!(ended, Ok(None) | Err(ClientError::Offline(_))),
        "{ended:?}"
    );
    server.up().await;
    let mut again = b.events().await.unwrap();
    a.edit_item(id, login_item("Bank 2", "alice", "pw"))
        .unwrap();
    a.sync().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(60), again.next())
        .await
        .expect("no event within a minute")
        .unwrap()
        .expect("the stream ended");
    b.sync().await.unwrap();
    assert_eq!(b.item(id).unwrap().data.title, "Bank 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sealed_search_index_is_used_only_while_it_is_current() {
    use krypt7_client::search::Filter;
    let server = Server::start().await;
    let (dirs, mut a, mut b, sk) = two_devices(&server).await;
    let all = Filter::default();
    let titles = |c: &mut Client, q: &str| -> Vec<String> {
        c.search(q, &all)
            .unwrap()
            .into_iter()
            .map(|i| i.data.title)
            .collect()
    };
    let id = a.add_item(login_item("Alpha", "alice", "pw")).unwrap();
    assert_eq!(titles(&mut a, "alp"), ["Alpha"]);
    // Locked and unlocked again: the sealed copy answers.
    a.lock().unwrap();
    a.unlock("correct horse battery", &sk).unwrap();
    assert_eq!(titles(&mut a, "alp"), ["Alpha"]);
    // A damaged copy, or one whose generation was rewritten, is rebuilt from the items.
    let cache = dirs[0].path().join("krypt7.db");
    for damage in [
        "UPDATE meta SET value = CAST(substr(value, 1, 40) || x'00' || substr(value, 42) AS BLOB) WHERE key = 'search-index'",
        "UPDATE meta SET value = CAST(x'0000000000000000' || substr(value, 9) AS BLOB) WHERE key = 'search-index'",
        "UPDATE meta SET value = x'01' WHERE key = 'search-index'",
    ] {
        a.lock().unwrap();
        assert_eq!(
            rusqlite::Connection::open(&cache)
                .unwrap()
                .execute(damage, [])
                .unwrap(),
            1
        );
        a.unlock("correct horse battery", &sk).unwrap();
        assert_eq!(titles(&mut a, "alp"), ["Alpha"], "{damage}");
    }
    // A local change makes the copy stale: the next search sees the change, before and
    // after a lock.
    a.edit_item(id, login_item("Beta", "alice", "pw")).unwrap();
    assert!(titles(&mut a, "alp").is_empty());
    a.lock().unwrap();
    a.unlock("correct horse battery", &sk).unwrap();
    assert_eq!(titles(&mut a, "bet"), ["Beta"]);
    // Another process on the same cache (the CLI beside the app) changes an item while this
    // client holds its index: this client's next search sees it, and so does its own next
    // change (applied in place only to an index that was current just before).
    let mut cli = server.device(&dirs[0]);
    cli.unlock("correct horse battery", &sk).unwrap();
    cli.add_item(login_item("Gamma", "carol", "pw")).unwrap();
    drop(cli);
    assert_eq!(titles(&mut a, "gam"), ["Gamma"]);
    let mut cli = server.device(&dirs[0]);
    cli.unlock("correct horse battery", &sk).unwrap();
    cli.add_item(login_item("Delta", "dave", "pw")).unwrap();
    drop(cli);
    a.add_item(login_item("Epsilon", "eve", "pw")).unwrap();
    assert_eq!(titles(&mut a, "delta epsilon").len(), 0);
    assert_eq!(titles(&mut a, "d"), ["Delta"]);
    assert_eq!(titles(&mut a, "eps"), ["Epsilon"]);
    a.sync().await.unwrap();
    // A change from elsewhere does too.
    assert_eq!(titles(&mut b, "alpha").len(), 0);
    b.sync().await.unwrap();
    assert_eq!(titles(&mut b, "beta"), ["Beta"]);
    b.purge_item(id).unwrap();
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    assert!(titles(&mut a, "beta").is_empty());
    a.lock().unwrap();
    a.unlock("correct horse battery", &sk).unwrap();
    assert!(titles(&mut a, "beta").is_empty());
    let (total, page) = a.search_page("", &all, 0, 10).unwrap();
    assert_eq!((total, page.len()), (3, 3));
    assert_eq!(page[0].data.title, "Delta");
}

/// The revision of every item the server stores (read from its database).
async fn server_revisions(server: &Server) -> Vec<i64> {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    use sqlx::Row;
    sqlx::query("SELECT revision FROM items")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64, _>("revision"))
        .collect()
}

/// The server moves to a new address: the device follows only once the new address signs
/// this account in (OPAQUE, so only a server holding the account's record can) with this
/// device's keys; anything short of that changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_to_the_servers_new_address() {
    let server = Server::start().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = server.device(&da);
    let pw = "correct horse battery";
    let sk = a.signup("alice", pw, None, None).await.unwrap();
    a.add_item(login_item("Bank", "alice", "s3cret")).unwrap();
    a.sync().await.unwrap();
    let old = server.url();
    let new = format!("https://127.0.0.1:{}", server.port);

    // A wrong password at the new address: refused, nothing changed.
    let e = a
        .move_server(&new, "wrong horse battery", &sk, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::WrongCredentials), "{e:?}");
    assert_eq!(a.server(), old);

    // Another server, trusted (same certificate) but without this account: refused too.
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other_dir.path().join("data")).unwrap();
    for f in ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] {
        std::fs::copy(
            server.dir.path().join("data").join(f),
            other_dir.path().join("data").join(f),
        )
        .unwrap();
    }
    let other_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Config::new(other_dir.path().join("data"));
    c.listen = format!("127.0.0.1:{other_port}").parse().unwrap();
    let other = krypt7_server::start(c, Clock::default()).await.unwrap();
    let e = a
        .move_server(&format!("https://localhost:{other_port}"), pw, &sk, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::WrongCredentials | ClientError::Server { .. }
        ),
        "{e:?}"
    );
    assert_eq!(a.server(), old);
    other.stop().await;

    // An address nobody answers at: offline, nothing changed.
    let e = a
        .move_server("https://localhost:1", pw, &sk, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Offline(_)), "{e:?}");
    assert_eq!(a.server(), old);
    a.sync().await.unwrap();

    // The same server at its new address: moved, with one session (the old one ended).
    a.move_server(&new, pw, &sk, None).await.unwrap();
    assert_eq!(a.server(), new);
    assert_eq!(a.sessions().await.unwrap().len(), 1);
    a.add_item(login_item("Mail", "alice", "m41l")).unwrap();
    let r = a.sync().await.unwrap();
    assert_eq!(r.pushed, 1);

    // Remembered: the cache opens on the new address; another device sees both items.
    drop(a);
    let a = Client::open(da.path(), None, None).unwrap();
    assert_eq!(a.server(), new);
    let mut b = server.device(&db);
    b.login("alice", pw, &sk, None).await.unwrap();
    let mut titles: Vec<String> = b
        .items()
        .unwrap()
        .into_iter()
        .map(|i| i.data.title)
        .collect();
    titles.sort();
    assert_eq!(titles, ["Bank", "Mail"]);
}

/// A CLI session lasts until its end: one made to last no time is over at once, one of an
/// hour holds; a newer session ends the older; and an end copied from another session into
/// the cache does not revive a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sessions_end_on_time() {
    let server = Server::start().await;
    let d = tempfile::tempdir().unwrap();
    let mut a = server.device(&d);
    a.signup("sam", "a long password", None, None)
        .await
        .unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let over = a.start_session(std::time::Duration::ZERO).unwrap();
    let mut b = server.device(&d);
    assert!(matches!(b.resume_session(&over), Err(ClientError::Locked)));
    assert!(!b.session_holds(&over).unwrap());
    let first = a.start_session(hour).unwrap();
    assert!(b.session_holds(&first).unwrap());
    b.resume_session(&first).unwrap();
    // The end sealed for the first session, put beside a newer session's wrap.
    let store = krypt7_store::Store::open(&d.path().join("krypt7.db")).unwrap();
    let first_end = store.meta("keyset_session_until").unwrap().unwrap();
    let second = a.start_session(hour).unwrap();
    assert!(
        !b.session_holds(&first).unwrap(),
        "a newer session ends the older"
    );
    assert!(b.session_holds(&second).unwrap());
    store.set_meta("keyset_session_until", &first_end).unwrap();
    assert!(
        !b.session_holds(&second).unwrap(),
        "another session's end was taken"
    );
}

/// The server ends a session unused for its idle limit: the device is told to sign in
/// again (`signed_out`), its unsynced edit waits in the outbox, and after signing in again
/// the edit reaches the other device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_signs_in_again_and_loses_nothing() {
    let server = Server::start().await;
    let (_dirs, mut a, mut b, sk) = two_devices(&server).await;
    let id = a.add_item(login_item("Kept", "alice", "pw")).unwrap();
    server
        .clock
        .advance(krypt7_server::Config::DEFAULT_SESSION_IDLE + 1);
    let e = a.sync().await.unwrap_err();
    assert_eq!(e.code(), "signed_out", "{e}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert_eq!(a.pending().unwrap(), 1);
    assert!(matches!(
        a.sign_in_again("wrong password", &sk, None).await,
        Err(ClientError::WrongCredentials)
    ));
    a.sign_in_again("correct horse battery", &sk, None)
        .await
        .unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.pending().unwrap(), 0);
    b.sign_in_again("correct horse battery", &sk, None)
        .await
        .unwrap();
    b.sync().await.unwrap();
    assert_eq!(b.item(id).unwrap().data.title, "Kept");
}
