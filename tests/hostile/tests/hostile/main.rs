//! The hostile-server suite (`docs/security.md`): one test per class of attack a malicious
//! server can attempt, each made through the proxy between the real client and the real
//! server. Each asserts that the client refuses with a specific error, that its local data
//! is unchanged, and that nothing secret left the device as a result.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use krypt7_client::{Client, ClientError, ItemData, ItemKind};
use krypt7_crypto::secret_key::SecretKey;
use krypt7_hostile::{Cert, Proxy, Seen, Server};
use krypt7_protocol::B64;
use serde_json::{Value, json};
use uuid::Uuid;

mod cache;
mod files;
mod fork;
mod hygiene;
mod keys;
mod lock;
mod mail;
mod session;
mod transport;

const PW: &str = "correct horse battery staple";

/// A real server with an honest proxy in front.
async fn start() -> (Server, Proxy) {
    let server = Server::start().await.unwrap();
    let proxy = Proxy::start(&server, Cert::Good).await.unwrap();
    (server, proxy)
}

fn device(p: &Proxy, dir: &tempfile::TempDir) -> Client {
    Client::open(dir.path(), Some(&p.url), Some(&p.ca)).unwrap()
}

fn login_item(title: &str, user: &str, pw: &str) -> ItemData {
    ItemData {
        fields: [
            ("username".to_string(), user.to_string()),
            ("password".to_string(), pw.to_string()),
        ]
        .into(),
        ..ItemData::new(ItemKind::Login, title)
    }
}

/// Alice's account with three items on device `a`, and her second device `b` in sync.
struct Alice {
    a: Client,
    b: Client,
    sk: SecretKey,
    items: [Uuid; 3],
    _dirs: [tempfile::TempDir; 2],
}

async fn alice(p: &Proxy) -> Alice {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut a = device(p, &dirs[0]);
    let sk = a.signup("alice", PW, None, None).await.unwrap();
    let items = [
        a.add_item(login_item("Bank", "alice", "bank-secret-1"))
            .unwrap(),
        a.add_item(login_item("Mail", "alice@example.org", "mail-secret-1"))
            .unwrap(),
        a.add_item(ItemData::new(ItemKind::Note, "Diary")).unwrap(),
    ];
    a.sync().await.unwrap();
    let mut b = device(p, &dirs[1]);
    b.login("alice", PW, &sk, None).await.unwrap();
    assert_eq!(b.items().unwrap().len(), 3);
    Alice {
        a,
        b,
        sk,
        items,
        _dirs: dirs,
    }
}

/// Changes one item on device `a` and pushes it (honestly), so that `b`'s next feed has it.
async fn change(a: &mut Client, id: Uuid, password: &str) {
    let mut d = a.item(id).unwrap().data;
    d.fields.insert("password".into(), password.into());
    a.edit_item(id, d).unwrap();
    a.sync().await.unwrap();
}

/// What a device holds, to compare before and after a refused operation.
fn snapshot(c: &Client) -> Vec<(Uuid, ItemData, bool)> {
    let mut v: Vec<_> = c
        .items()
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.data, i.pending))
        .collect();
    v.sort_by_key(|(id, _, _)| *id);
    v
}

/// A sync that must fail with an integrity error naming `expect`, leaving the device's
/// items and sync position as they were.
async fn refused(c: &mut Client, what: &str, expect: &str) {
    let (before, cursor) = (snapshot(c), c.cursor().unwrap());
    match c.sync().await {
        Err(e) if e.code() == "integrity" => {
            assert!(e.to_string().contains(expect), "{what}: {e}")
        }
        other => panic!("{what}: expected an integrity error, got {other:?}"),
    }
    assert_eq!(snapshot(c), before, "{what}: local data changed");
    assert_eq!(
        c.cursor().unwrap(),
        cursor,
        "{what}: the sync position moved"
    );
}

fn is_feed(s: &Seen) -> bool {
    s.method == "GET" && s.path.starts_with("/v1/changes")
}

/// Rewrites the change feed's answers with `f`, as a careful server would: a change it
/// adds keeps a position inside the answer's range (positions are checked first, and
/// `fork.rs` tests them; here the checks behind them are the target).
fn tamper_feed(p: &Proxy, mut f: impl FnMut(&mut Value) + Send + 'static) {
    p.tamper(move |s, r| {
        if is_feed(s) && r.status == 200 {
            let mut v = r.json();
            f(&mut v);
            let since: i64 = s
                .path
                .split(['?', '&'])
                .find_map(|q| q.strip_prefix("since=")?.parse().ok())
                .unwrap_or(0);
            let top = v["cursor"].as_i64().unwrap_or(0);
            for list in ["items", "vaults", "manifests", "mail"] {
                for e in v[list].as_array_mut().into_iter().flatten() {
                    let at = e["cursor"].as_i64().unwrap_or(0);
                    if at <= since || at > top {
                        e["cursor"] = json!(top);
                    }
                }
            }
            r.set_json(&v);
        }
    });
}

fn b64(v: &Value) -> Vec<u8> {
    B64::decode(v.as_str().unwrap()).unwrap().0
}

fn to_b64(b: &[u8]) -> Value {
    Value::String(B64(b.to_vec()).encode())
}

/// The feed entry of item `id` in a feed answer.
fn entry(feed: &mut Value, id: Uuid) -> &mut Value {
    feed["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["id"] == json!(id))
        .unwrap_or_else(|| panic!("{id} is not in the feed"))
}

/// Asserts that no request the proxy saw carried any of `secrets`, in any wire form.
fn nothing_sent(p: &Proxy, secrets: &[&[u8]]) {
    let seen = p.seen();
    assert!(!seen.is_empty(), "the proxy saw no request at all");
    let leaks = krypt7_hostile::leaks(&seen, secrets);
    assert!(leaks.is_empty(), "{leaks:#?}");
}

// ---- 2. Swaps ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_02_field_item_vault_and_account_swaps_are_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        items: [x, y, _],
        ..
    } = alice(&p).await;
    change(&mut a, x, "bank-secret-2").await;
    change(&mut a, y, "mail-secret-2").await;

    // Item swap: x's envelope under y's id and the other way round.
    tamper_feed(&p, move |f| {
        let ex = entry(f, x)["envelope"].clone();
        let ey = entry(f, y)["envelope"].clone();
        entry(f, x)["envelope"] = ey;
        entry(f, y)["envelope"] = ex;
    });
    refused(&mut b, "item swap", "moved, swapped or forged").await;

    // Field swap inside envelopes: x's sealed item key with y's sealed content.
    tamper_feed(&p, move |f| {
        let (ex, ey) = (b64(&entry(f, x)["envelope"]), b64(&entry(f, y)["envelope"]));
        let key_part = krypt7_crypto::envelope::ITEM_OVERHEAD - 12 - 16; // header + sealed key
        let mut spliced = ex[..key_part].to_vec();
        spliced.extend_from_slice(&ey[key_part..]);
        entry(f, x)["envelope"] = to_b64(&spliced);
    });
    refused(&mut b, "field swap", "moved, swapped or forged").await;

    // Vault swap: the item claimed for another vault.
    tamper_feed(&p, move |f| {
        entry(f, x)["vault_id"] = json!(Uuid::new_v4());
    });
    refused(&mut b, "vault swap", "vault").await;

    // Account swap: another account's item (bob's, captured from his own push) served to
    // alice under the id of one of hers.
    let bob_dir = tempfile::tempdir().unwrap();
    let mut bob = device(&p, &bob_dir);
    bob.signup("bob", "bob's own passphrase", None, None)
        .await
        .unwrap();
    let bobs = bob
        .add_item(login_item("Bob's bank", "bob", "bob-secret"))
        .unwrap();
    p.honest();
    p.clear();
    bob.sync().await.unwrap();
    let pushed = p
        .seen()
        .into_iter()
        .find_map(|s| {
            (s.path.ends_with("/commit")).then(|| s.json().unwrap()["items"][0]["envelope"].clone())
        })
        .expect("bob's commit");
    assert_eq!(snapshot(&bob).len(), 1, "{bobs}");
    tamper_feed(&p, move |f| {
        entry(f, x)["envelope"] = pushed.clone();
    });
    refused(&mut b, "account swap", "moved, swapped or forged").await;

    // Honest again: everything arrives.
    p.honest();
    b.sync().await.unwrap();
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-2");
    assert_eq!(b.item(y).unwrap().data.fields["password"], "mail-secret-2");
}

// ---- 3. Type and metadata ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_03_type_and_server_flags_are_not_trusted() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        items: [x, y, z],
        ..
    } = alice(&p).await;
    change(&mut a, x, "bank-secret-2").await;

    // The item type travels sealed with the item key: the kind byte of the envelope's
    // header, and every byte of the sealed type, are covered by the tag.
    for at in [2usize, 3 + 12 + 32] {
        tamper_feed(&p, move |f| {
            let mut e = b64(&entry(f, x)["envelope"]);
            e[at] ^= 0x01;
            entry(f, x)["envelope"] = to_b64(&e);
        });
        let (before, cursor) = (snapshot(&b), b.cursor().unwrap());
        let err = b.sync().await.unwrap_err();
        assert!(
            matches!(err.code(), "integrity" | "crypto"),
            "type byte {at}: {err}"
        );
        assert_eq!((snapshot(&b), b.cursor().unwrap()), (before, cursor));
    }

    // Server-side flags: a live item marked deleted, an item marked live that the user
    // purged (the sealed tombstone says otherwise).
    tamper_feed(&p, move |f| {
        entry(f, x)["deleted"] = json!(true);
    });
    refused(&mut b, "deletion flag", "deletion flag").await;
    p.honest();
    b.sync().await.unwrap();
    a.purge_item(z).unwrap();
    a.sync().await.unwrap();
    tamper_feed(&p, move |f| {
        entry(f, z)["deleted"] = json!(false);
    });
    refused(&mut b, "live flag on a tombstone", "deletion flag").await;

    // The account's settings as the server reports them (second factor off, any quota)
    // decide nothing on the device: they are shown, and the vault works as before.
    p.tamper(|s, r| {
        if s.path == "/v1/account" && r.status == 200 {
            let mut v = r.json();
            v["totp_enabled"] = json!(false);
            v["sms_enabled"] = json!(false);
            r.set_json(&v);
        }
    });
    let info = b.account_info().await.unwrap();
    assert!(!info.totp_enabled);
    p.honest();
    b.sync().await.unwrap();
    assert!(b.item(z).is_err());
    assert_eq!(b.item(y).unwrap().data.fields["password"], "mail-secret-1");
}

// ---- 4. Rollback ------------------------------------------------------------------------

/// Every successful feed answer from now on, in order.
fn record_feed(p: &Proxy) -> std::sync::Arc<std::sync::Mutex<Vec<Value>>> {
    let pages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = pages.clone();
    p.tamper(move |s, r| {
        if is_feed(s) && r.status == 200 {
            kept.lock().unwrap().push(r.json());
        }
    });
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_04_item_vault_and_feed_rollbacks_are_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        items: [x, y, _],
        ..
    } = alice(&p).await;
    // The server keeps what it sent when x was at revision 2.
    change(&mut a, x, "bank-secret-2").await;
    let pages = record_feed(&p);
    b.sync().await.unwrap();
    let old_page = pages.lock().unwrap()[0].clone();
    let mut old_x = old_page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(x))
        .cloned()
        .unwrap();
    let old_manifest = old_page["manifests"][0].clone();
    assert!(old_manifest.is_object());
    // x moves on to revision 3, and y changes (so the next feed is not empty).
    change(&mut a, x, "bank-secret-3").await;
    p.honest();
    b.sync().await.unwrap();
    change(&mut a, y, "mail-secret-2").await;

    // An older revision of one item.
    let stale = old_x.clone();
    tamper_feed(&p, move |f| {
        f["items"].as_array_mut().unwrap().push(stale.clone());
    });
    refused(&mut b, "older revision", "older revision").await;
    // The same old envelope under a new revision number.
    old_x["revision"] = json!(99);
    let replayed = old_x.clone();
    tamper_feed(&p, move |f| {
        f["items"].as_array_mut().unwrap().push(replayed.clone());
    });
    refused(
        &mut b,
        "old envelope, new revision",
        "not in the state its manifest lists",
    )
    .await;
    // An older manifest of the whole vault.
    tamper_feed(&p, move |f| {
        f["manifests"] = json!([old_manifest.clone()]);
    });
    refused(&mut b, "vault rollback", "(rollback)").await;
    // A replay of a whole old feed page (its cursor is behind this device's).
    tamper_feed(&p, move |f| *f = old_page.clone());
    refused(&mut b, "feed replay", "went back").await;

    p.honest();
    b.sync().await.unwrap();
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-3");
    assert_eq!(b.item(y).unwrap().data.fields["password"], "mail-secret-2");
}

// ---- 5. Silent deletion, resurrection, injection -----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_05_silent_deletion_resurrection_and_injection_are_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        sk,
        items: [x, y, z],
        ..
    } = alice(&p).await;
    change(&mut a, z, "now a secret").await;
    let pages = record_feed(&p);
    b.sync().await.unwrap();
    let z_live = pages.lock().unwrap()[0]["items"][0].clone();
    assert_eq!(z_live["id"], json!(z));
    p.honest();
    a.purge_item(z).unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    assert!(b.item(z).is_err());
    change(&mut a, y, "mail-secret-2").await;

    // Silent deletion: y's change withheld from the feed (its manifest lists it).
    tamper_feed(&p, move |f| {
        f["items"]
            .as_array_mut()
            .unwrap()
            .retain(|i| i["id"] != json!(y));
    });
    refused(
        &mut b,
        "withheld change",
        "not in the state its manifest lists",
    )
    .await;
    // Resurrection: the purged item's last live state, under a newer revision.
    let mut back = z_live.clone();
    back["revision"] = json!(50);
    tamper_feed(&p, move |f| {
        f["items"].as_array_mut().unwrap().push(back.clone());
    });
    refused(&mut b, "resurrection", "does not list").await;
    // Injection: an item the user never wrote (a copy of x under a new id).
    tamper_feed(&p, move |f| {
        let mut copy = f["items"][0].clone();
        copy["id"] = json!(Uuid::new_v4());
        f["items"].as_array_mut().unwrap().push(copy);
    });
    refused(&mut b, "injection", "moved, swapped or forged").await;

    // Silent deletion from a new device's first view: one item missing entirely.
    let dc = tempfile::tempdir().unwrap();
    let mut c = device(&p, &dc);
    tamper_feed(&p, move |f| {
        f["items"]
            .as_array_mut()
            .unwrap()
            .retain(|i| i["id"] != json!(x));
    });
    let err = c.login("alice", PW, &sk, None).await.unwrap_err();
    assert!(err.to_string().contains("withheld 1 item"), "{err}");
    assert!(
        c.items().unwrap().is_empty(),
        "nothing of the withheld view was kept"
    );

    p.honest();
    b.sync().await.unwrap();
    assert_eq!(b.item(y).unwrap().data.fields["password"], "mail-secret-2");
    assert_eq!(b.items().unwrap().len(), 2);
}
