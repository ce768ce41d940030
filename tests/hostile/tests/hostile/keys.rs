//! Classes 6 (public-key substitution), 7 (unsolicited escrow) and 8 (vault-key swap).

use krypt7_crypto::{
    envelope,
    keys::{AccountKey, VaultKey},
    pk::{EncryptionKeyPair, IdentityKeyPair, sign_key_bundle},
};

use super::*;

async fn account(p: &Proxy, name: &str) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = device(p, &dir);
    c.signup(name, &format!("{name}'s own passphrase"), None, None)
        .await
        .unwrap();
    (c, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_06_public_key_substitution_is_caught() {
    let (_server, p) = start().await;
    let (mut alice, _da) = account(&p, "alice").await;
    let (bob, _db) = account(&p, "bob").await;
    let (mut carol, _dc) = account(&p, "carol").await;
    let bobs = bob.own_fingerprint().unwrap();
    // Alice fetches bob's keys honestly and compares fingerprints with him: verified.
    alice.peer_keys("bob").await.unwrap();
    let pinned = alice.verify_peer("bob", &bobs).unwrap();
    assert!(pinned.verified);

    // The server substitutes keys of its own, validly self-signed for bob's account id.
    let forged = sign_key_bundle(
        &IdentityKeyPair::generate().unwrap(),
        &EncryptionKeyPair::generate().unwrap(),
        pinned.account_id.as_bytes(),
    );
    p.tamper(move |s, r| {
        if s.path == "/v1/directory/bob" && r.status == 200 {
            let mut v = r.json();
            v["key_bundle"] = to_b64(&forged);
            r.set_json(&v);
        }
    });
    // After pinning: a hard refusal naming both fingerprints.
    let err = alice.peer_keys("bob").await.unwrap_err();
    assert_eq!(err.code(), "key_changed");
    assert!(
        err.to_string().contains(&bobs) && err.to_string().contains("nothing will be sent"),
        "{err}"
    );
    assert_eq!(alice.pinned_peers().unwrap(), vec![pinned]);
    // On first fetch: pinned unverified, and its fingerprint is not the one bob reads out,
    // so the comparison the app asks for fails.
    let first = carol.peer_keys("bob").await.unwrap();
    assert!(!first.verified);
    assert_ne!(first.fingerprint().unwrap(), bobs);
    assert!(carol.verify_peer("bob", &bobs).is_err());
    assert!(!carol.pinned_peers().unwrap()[0].verified);
    // A bundle not signed for the account it claims is refused outright.
    p.tamper(move |s, r| {
        if s.path == "/v1/directory/bob" && r.status == 200 {
            let mut v = r.json();
            v["account_id"] = json!(Uuid::new_v4());
            r.set_json(&v);
        }
    });
    let (mut dave, _dd) = account(&p, "dave").await;
    let err = dave.peer_keys("bob").await.unwrap_err();
    assert!(
        err.to_string().contains("not a valid self-signed bundle"),
        "{err}"
    );
    assert!(dave.pinned_peers().unwrap().is_empty());
}

/// Adds "administrator" and "recovery" key requests to every JSON object answer.
fn demand_escrow(p: &Proxy, public: Vec<u8>) {
    p.tamper(move |_, r| {
        let mut v = r.json();
        if let Some(o) = v.as_object_mut() {
            o.insert("escrow_public_key".into(), to_b64(&public));
            o.insert(
                "recovery_enrollment".into(),
                json!({"recipient": "administrator", "public_key": to_b64(&public), "required": true}),
            );
            r.set_json(&v);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_07_no_key_escrow_without_the_user() {
    let (_server, p) = start().await;
    let admin = EncryptionKeyPair::generate().unwrap();
    let public = admin.public().0.to_vec();
    // During sign-up: the first answer carrying a request the client does not know of is
    // refused as not valid, and nothing more is sent.
    demand_escrow(&p, public.clone());
    let dir = tempfile::tempdir().unwrap();
    let err = device(&p, &dir)
        .signup("alice", PW, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "integrity", "{err}");
    assert_eq!(p.seen().len(), 1);
    // During the life of an account: every answer of edits, syncs, a new device's sign-in
    // and a key lookup asks for escrow. Some answers are refused, the rest are read
    // without the extra fields; either way the client has no request that would act on
    // them.
    p.honest();
    let Alice { mut a, sk, .. } = alice(&p).await;
    p.clear();
    demand_escrow(&p, public.clone());
    a.add_item(login_item("New", "alice", "new-secret"))
        .unwrap();
    let _ = a.sync().await;
    let dc = tempfile::tempdir().unwrap();
    let _ = device(&p, &dc).login("alice", PW, &sk, None).await;
    let _ = a.peer_keys("alice").await;
    let _ = a.account_info().await;
    let _ = a.sync().await;
    // Nothing carried the administrator's key, and nothing asked for anything outside the
    // ordinary API.
    nothing_sent(&p, &[&public]);
    let ordinary = [
        "/v1/sessions/",
        "/v1/account",
        "/v1/vaults/",
        "/v1/changes",
        "/v1/directory/",
    ];
    for s in p.seen() {
        assert!(
            ordinary.iter().any(|o| s.path.starts_with(o)),
            "unexpected request {} {}",
            s.method,
            s.path
        );
        let text = String::from_utf8_lossy(&s.bytes()).to_lowercase();
        assert!(
            !text.contains("escrow") && !text.contains("recovery"),
            "{}",
            s.path
        );
    }
    assert!(
        p.seen().iter().any(|s| s.path.starts_with("/v1/changes")),
        "the session got as far as reading the feed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_08_a_vault_key_the_server_knows_is_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut b, sk, items, ..
    } = alice(&p).await;
    let account = b.account_id().unwrap().unwrap();
    let vault = b.item(items[0]).unwrap().vault_id;
    // The server's own vault key, wrapped under a key it holds (not alice's account key),
    // with every binding right; and the same wrapped by another account.
    let known = VaultKey::generate().unwrap();
    let server_made = envelope::wrap_vault_key(
        &AccountKey::generate().unwrap(),
        account.as_bytes(),
        vault.as_bytes(),
        &known,
    )
    .unwrap();
    for (what, wrap) in [
        ("a wrap by the server", server_made),
        ("random bytes", vec![7u8; 80]),
    ] {
        // A new device signing in is given it.
        let wrap2 = wrap.clone();
        tamper_feed(&p, move |f| {
            for v in f["vaults"].as_array_mut().unwrap() {
                v["key_wrap"] = to_b64(&wrap2);
            }
        });
        let dc = tempfile::tempdir().unwrap();
        let mut c = device(&p, &dc);
        p.clear();
        let err = c.login("alice", PW, &sk, None).await.unwrap_err();
        assert_eq!(err.code(), "integrity", "{what}: {err}");
        assert!(err.to_string().contains("did not wrap"), "{what}: {err}");
        // Nothing was ever encrypted under it: no write reached the server.
        assert!(
            p.seen()
                .iter()
                .all(|s| s.method == "GET" || s.path.starts_with("/v1/sessions/")),
            "{what}: a write followed"
        );
        // A device that has the vault is offered it as a change of key.
        let wrap3 = wrap.clone();
        p.tamper(move |s, r| {
            if is_feed(s) && r.status == 200 {
                let mut v = r.json();
                // (As a new change, one past the answer's position.)
                let at = v["cursor"].as_i64().unwrap() + 1;
                v["cursor"] = json!(at);
                v["vaults"] = json!([{"id": vault, "key_wrap": to_b64(&wrap3), "cursor": at}]);
                r.set_json(&v);
            }
        });
        b.add_item(login_item("New", "alice", "new-secret"))
            .unwrap();
        refused(&mut b, what, "did not wrap").await;
        let pending = b.pending().unwrap();
        assert_eq!(pending, 1, "the new item waits, sealed under the real key");
        p.honest();
        b.sync().await.unwrap();
        assert_eq!(b.pending().unwrap(), 0);
    }
}
