//! A server that rewrites its own database: rollback, silent deletion, resurrection,
//! substitution and injection are each refused with an integrity error, and the device's
//! data and sync position stay as they were. Once the server serves the truth again, the
//! same device syncs normally.

use krypt7_client::{Client, ClientError, ItemData, ItemKind};
use sqlx::Row;
use uuid::Uuid;

use crate::{Server, login_item};

/// The server's stored state of one item.
#[derive(Clone, Debug)]
struct Stored {
    revision: i64,
    envelope: Vec<u8>,
    deleted: bool,
}

async fn stored(server: &Server, id: Uuid) -> Stored {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let r = sqlx::query("SELECT revision, envelope, deleted FROM items WHERE id = $1")
        .bind(id.as_bytes().to_vec())
        .fetch_one(pool)
        .await
        .unwrap();
    Stored {
        revision: r.get("revision"),
        envelope: r.get("envelope"),
        deleted: r.get::<i64, _>("deleted") != 0,
    }
}

/// Writes an item row as a hostile server would, and makes it new in the change feed.
async fn forge(server: &Server, id: Uuid, vault: Uuid, s: &Stored) {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let seq: i64 = sqlx::query("UPDATE accounts SET seq = seq + 1 RETURNING seq")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("seq");
    let account: Vec<u8> = sqlx::query("SELECT id FROM accounts")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("id");
    sqlx::query(
        "INSERT INTO items (account_id, id, vault_id, revision, envelope, deleted, seq) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (account_id, id) DO UPDATE SET revision = $4, envelope = $5, deleted = $6, seq = $7",
    )
    .bind(account)
    .bind(id.as_bytes().to_vec())
    .bind(vault.as_bytes().to_vec())
    .bind(s.revision)
    .bind(s.envelope.clone())
    .bind(i64::from(s.deleted))
    .bind(seq)
    .execute(pool)
    .await
    .unwrap();
}

async fn delete_row(server: &Server, id: Uuid) {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    sqlx::query("DELETE FROM items WHERE id = $1")
        .bind(id.as_bytes().to_vec())
        .execute(pool)
        .await
        .unwrap();
}

/// The vault's stored manifest, and a way to put an old one back (as new in the feed).
async fn manifest(server: &Server) -> (i64, Vec<u8>) {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let r = sqlx::query("SELECT manifest_version, manifest FROM vaults")
        .fetch_one(pool)
        .await
        .unwrap();
    (r.get("manifest_version"), r.get("manifest"))
}

async fn set_manifest(server: &Server, (version, sealed): &(i64, Vec<u8>)) {
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let seq: i64 = sqlx::query("UPDATE accounts SET seq = seq + 1 RETURNING seq")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("seq");
    sqlx::query("UPDATE vaults SET manifest_version = $1, manifest = $2, manifest_seq = $3")
        .bind(*version)
        .bind(sealed.clone())
        .bind(seq)
        .execute(pool)
        .await
        .unwrap();
    // The feed serves manifests from the history of every version.
    sqlx::query(
        "INSERT INTO manifests (account_id, vault_id, version, manifest, seq)
         SELECT account_id, id, $1, $2, $3 FROM vaults WHERE true
         ON CONFLICT (account_id, vault_id, version) DO UPDATE SET manifest = $2, seq = $3",
    )
    .bind(*version)
    .bind(sealed.clone())
    .bind(seq)
    .execute(pool)
    .await
    .unwrap();
}

/// What a device holds, to compare before and after a refused sync.
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

async fn refused(c: &mut Client, what: &str, expect: &str) {
    let before = snapshot(c);
    match c.sync().await {
        Err(e @ ClientError::Integrity(_)) => {
            assert!(e.to_string().contains(expect), "{what}: {e}");
            assert_eq!(e.code(), "integrity");
        }
        other => panic!("{what}: expected an integrity error, got {other:?}"),
    }
    assert_eq!(snapshot(c), before, "{what}: local data changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_deletion_resurrection_and_substitution_are_refused() {
    let server = Server::start().await;
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut a = server.device(&da);
    let sk = a
        .signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();
    let x = a.add_item(login_item("Bank", "alice", "x-1")).unwrap();
    let y = a.add_item(login_item("Mail", "alice", "y-1")).unwrap();
    let z = a
        .add_item(ItemData::new(ItemKind::Note, "Old note"))
        .unwrap();
    a.sync().await.unwrap();
    let vault = a.item(x).unwrap().vault_id;
    let x1 = stored(&server, x).await;
    let z1 = stored(&server, z).await;
    let manifest_1 = manifest(&server).await;
    // Newer states: x edited, z purged.
    let mut data = a.item(x).unwrap().data;
    data.fields.insert("password".into(), "x-2".into());
    a.edit_item(x, data).unwrap();
    a.purge_item(z).unwrap();
    let r = a.sync().await.unwrap();
    assert_eq!(r.pushed, 2);
    let (x2, z2) = (stored(&server, x).await, stored(&server, z).await);
    assert!(z2.deleted && x2.revision == 2);

    let mut b = server.device(&db);
    let report = b
        .login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    assert_eq!(
        report.verified, 1,
        "the new device checked the vault's manifest"
    );
    assert_eq!(b.items().unwrap().len(), 2);

    // 1. An older revision number of one item.
    forge(&server, x, vault, &x1).await;
    refused(&mut b, "older revision", "older revision").await;
    // 2. An old envelope replayed under a new revision number.
    forge(
        &server,
        x,
        vault,
        &Stored {
            revision: 3,
            ..x1.clone()
        },
    )
    .await;
    refused(&mut b, "replay", "not in the state its manifest lists").await;
    // 3. Another envelope under a revision already seen.
    forge(
        &server,
        x,
        vault,
        &Stored {
            revision: 2,
            ..x1.clone()
        },
    )
    .await;
    refused(&mut b, "substitution", "revision of item").await;
    forge(&server, x, vault, &x2).await;
    // 4. Resurrection: the purged item's last live state, under a newer revision.
    forge(
        &server,
        z,
        vault,
        &Stored {
            revision: 3,
            ..z1.clone()
        },
    )
    .await;
    refused(&mut b, "resurrection", "does not list").await;
    // 5. A live item marked deleted by the server alone.
    forge(&server, z, vault, &z2).await;
    forge(
        &server,
        y,
        vault,
        &Stored {
            deleted: true,
            ..stored(&server, y).await
        },
    )
    .await;
    refused(&mut b, "deletion flag", "deletion flag").await;
    let y_honest = Stored {
        deleted: false,
        ..stored(&server, y).await
    };
    forge(&server, y, vault, &y_honest).await;
    // 6. Injection: an item the user never wrote (a copy of another under a new id).
    let stranger = Uuid::new_v4();
    forge(&server, stranger, vault, &x2).await;
    refused(&mut b, "injection", "moved, swapped or forged").await;
    delete_row(&server, stranger).await;
    // 7. The whole vault rolled back to its first manifest.
    let current_manifest = manifest(&server).await;
    set_manifest(&server, &manifest_1).await;
    refused(&mut b, "vault rollback", "(rollback)").await;
    set_manifest(&server, &current_manifest).await;

    // The server serves the truth again: the same device syncs, and its data is intact.
    b.sync().await.unwrap();
    assert_eq!(b.item(x).unwrap().data.fields["password"], "x-2");
    assert!(matches!(b.item(z), Err(ClientError::NoSuchItem)));

    // 8. Silent deletion from a device's first view: a new device is told of a missing item.
    delete_row(&server, y).await;
    let mut c = server.device(&dc);
    match c.login("alice", "correct horse battery", &sk, None).await {
        Err(e @ ClientError::Integrity(_)) => {
            assert!(e.to_string().contains("withheld 1 item"), "{e}")
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert!(
        c.items().unwrap().is_empty(),
        "nothing of the withheld view was applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_key_that_the_server_swaps_is_refused() {
    use krypt7_crypto::pk::{EncryptionKeyPair, IdentityKeyPair, sign_key_bundle};
    let server = Server::start().await;
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut alice = server.device(&da);
    alice
        .signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();
    let mut bob = server.device(&db);
    bob.signup("bob", "bob's own passphrase", None, None)
        .await
        .unwrap();
    let bobs = bob.own_fingerprint().unwrap();

    // First sight: pinned, unverified, and the fingerprint is bob's own.
    let seen = alice.peer_keys("Bob").await.unwrap();
    assert_eq!((seen.username.as_str(), seen.verified), ("bob", false));
    assert_eq!(seen.fingerprint().unwrap(), bobs);
    assert!(
        alice
            .verify_peer("bob", "00000 00000 00000 00000 00000 00000")
            .is_err()
    );
    assert!(!alice.pinned_peers().unwrap()[0].verified);
    let verified = alice.verify_peer("bob", &bobs.replace(' ', "-")).unwrap();
    assert!(verified.verified);

    // The server swaps in keys of its own, validly self-signed for bob's account id.
    let forged = sign_key_bundle(
        &IdentityKeyPair::generate().unwrap(),
        &EncryptionKeyPair::generate().unwrap(),
        seen.account_id.as_bytes(),
    );
    let pool = server.running.as_ref().unwrap().state.db.pool();
    sqlx::query("UPDATE accounts SET key_bundle = $1 WHERE id = $2")
        .bind(forged)
        .bind(seen.account_id.as_bytes().to_vec())
        .execute(pool)
        .await
        .unwrap();
    match alice.peer_keys("bob").await {
        Err(e @ ClientError::KeyChanged { .. }) => {
            let m = e.to_string();
            assert!(m.contains("other keys") && m.contains(&bobs), "{m}");
            assert_eq!(e.code(), "key_changed");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(alice.pinned_peers().unwrap(), vec![verified]);

    // A device that never saw bob's key pins what it is given, unverified, and the
    // fingerprint it shows does not match the one bob reads out: the comparison catches it.
    let mut carol = server.device(&dc);
    carol
        .signup("carol", "carol's passphrase", None, None)
        .await
        .unwrap();
    let first = carol.peer_keys("bob").await.unwrap();
    assert!(!first.verified);
    assert_ne!(first.fingerprint().unwrap(), bobs);
    assert!(carol.verify_peer("bob", &bobs).is_err());
}
