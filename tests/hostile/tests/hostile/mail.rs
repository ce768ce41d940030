//! Class 15: mail a server tampers with (`docs/mail.md`). A message whose bytes were changed,
//! one user's copy delivered to another, a message injected in someone's name, a message
//! signed by keys the server swapped in: each is filed in Quarantine with its reason, never
//! in the Inbox; a message served twice is filed once.

use std::sync::{Arc, Mutex};

use krypt7_client::mail::{Draft, INBOX, QUARANTINE};
use krypt7_crypto::pk::{self, EncryptionKeyPair, IdentityKeyPair, sign_key_bundle};

use super::*;

async fn person(p: &Proxy, name: &str) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = device(p, &dir);
    c.signup(name, PW, None, None).await.unwrap();
    (c, dir)
}

fn draft(to: &str, subject: &str) -> Draft {
    Draft {
        to: vec![to.into()],
        subject: subject.into(),
        text: format!("{subject}: the body.\n"),
        ..Draft::default()
    }
}

/// The subjects in `folder`, with their reasons.
fn folder(c: &Client, name: &str) -> Vec<(String, Option<String>)> {
    c.mailbox(Some(name))
        .unwrap()
        .into_iter()
        .map(|m| (m.subject, m.reason))
        .collect()
}

/// The sealed content of a message as the sender's client makes it: length, message,
/// zeros to 1 KiB.
fn padded(message: &str) -> Vec<u8> {
    let mut out = (message.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(message.as_bytes());
    out.resize(1024, 0);
    out
}

/// Adds `entry` (a feed mail entry, given a new id) to every feed answer that moves on (an
/// entry must sit beside a genuine change, at the answer's position, to pass the feed's
/// position checks).
fn serve_extra(p: &Proxy, entry: Value) {
    tamper_feed(p, move |v| {
        let mut e = entry.clone();
        e["id"] = json!(Uuid::new_v4());
        e["cursor"] = v["cursor"].clone();
        if let Some(list) = v["mail"].as_array_mut() {
            list.push(e);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_15_mail_that_does_not_check_out_is_quarantined() {
    let (_server, p) = start().await;
    let (mut alice, _da) = person(&p, "alice").await;
    let (mut bob, _db) = person(&p, "bob").await;
    let (mut carol, _dc) = person(&p, "carol").await;
    // Bob and Carol know Alice's real keys.
    let alices = bob.peer_keys("alice").await.unwrap();
    carol.peer_keys("alice").await.unwrap();

    // One bit of the sealed copy changed on its way to Bob.
    alice.send_mail(&draft("bob", "Altered")).await.unwrap();
    tamper_feed(&p, |v| {
        for m in v["mail"].as_array_mut().into_iter().flatten() {
            let mut bytes = b64(&m["sealed"]);
            if let Some(b) = bytes.get_mut(300) {
                *b ^= 1;
            }
            m["sealed"] = to_b64(&bytes);
        }
    });
    bob.sync().await.unwrap();
    p.honest();
    let q = folder(&bob, QUARANTINE);
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].1.as_deref().unwrap().contains("does not open"),
        "{q:?}"
    );
    assert!(folder(&bob, INBOX).is_empty());

    // Bob's copy of a message for him alone, delivered to Carol as well.
    let stash: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = stash.clone();
    p.tamper(move |s, r| {
        if is_feed(s) && r.status == 200 {
            let v = r.json();
            let waiting = v["mail"]
                .as_array()
                .and_then(|l| l.iter().find(|m| m["taken"] == false));
            if let Some(m) = waiting {
                *keep.lock().unwrap() = Some(m.clone());
            }
        }
    });
    alice
        .send_mail(&draft("bob", "For Bob only"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    assert_eq!(
        folder(&bob, INBOX).len(),
        1,
        "the genuine message reaches Bob"
    );
    let bobs_copy = stash
        .lock()
        .unwrap()
        .clone()
        .expect("bob's feed had the message");
    serve_extra(&p, bobs_copy);
    alice
        .send_mail(&draft("carol", "Also for Carol"))
        .await
        .unwrap();
    carol.sync().await.unwrap();
    p.honest();
    let q = folder(&carol, QUARANTINE);
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].1
            .as_deref()
            .unwrap()
            .contains("not among the message's recipients"),
        "{q:?}"
    );
    assert_eq!(
        folder(&carol, INBOX).len(),
        1,
        "only her own message is in her Inbox"
    );

    // A message "from Alice" the server made: sealed properly to Bob, signed by a key of its
    // own, the feed naming Alice as the sender.
    let bobs = carol.peer_keys("bob").await.unwrap();
    let forger = IdentityKeyPair::generate().unwrap();
    let sealed = pk::seal_message(
        pk::MessageKind::Mail,
        alices.account_id.as_bytes(),
        &forger,
        &[pk::Recipient {
            account: *bobs.account_id.as_bytes(),
            key: bobs.keys().unwrap().encryption,
        }],
        &padded(
            "From: alice@localhost\r\nTo: bob@localhost\r\nSubject: Wire the money\r\n\
             Message-ID: <forged@localhost>\r\n\r\nToday, please.\r\n",
        ),
    )
    .unwrap();
    let forged = json!({"id": Uuid::new_v4(), "sender": alices.account_id, "arrived_at": 1,
                        "sealed": to_b64(&sealed), "cursor": 0, "taken": false});
    serve_extra(&p, forged.clone());
    alice.send_mail(&draft("bob", "Genuine")).await.unwrap();
    bob.sync().await.unwrap();
    p.honest();
    let q = folder(&bob, QUARANTINE);
    let wire = q
        .iter()
        .find(|(s, _)| s == "Wire the money")
        .expect("quarantined");
    assert!(
        wire.1
            .as_deref()
            .unwrap()
            .contains("not signed by their pinned key"),
        "{q:?}"
    );
    assert!(
        !folder(&bob, INBOX)
            .iter()
            .any(|(s, _)| s == "Wire the money")
    );

    // The same message served again (a replay) is filed once.
    serve_extra(&p, forged);
    alice
        .send_mail(&draft("bob", "Genuine again"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    p.honest();
    let n = folder(&bob, QUARANTINE)
        .iter()
        .filter(|(s, _)| s == "Wire the money")
        .count();
    assert_eq!(n, 1, "a replay is filed once");

    // Keys swapped in for Alice when Dave first looks her up: her genuine message does not
    // check out against them.
    let (mut dave, _dd) = person(&p, "dave").await;
    let swapped = sign_key_bundle(
        &IdentityKeyPair::generate().unwrap(),
        &EncryptionKeyPair::generate().unwrap(),
        alices.account_id.as_bytes(),
    );
    p.tamper(move |s, r| {
        if s.path == "/v1/directory/alice" && r.status == 200 {
            let mut v = r.json();
            v["key_bundle"] = to_b64(&swapped);
            r.set_json(&v);
        }
    });
    alice.send_mail(&draft("dave", "Hello Dave")).await.unwrap();
    dave.sync().await.unwrap();
    p.honest();
    let q = folder(&dave, QUARANTINE);
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].1
            .as_deref()
            .unwrap()
            .contains("not signed by their pinned key"),
        "{q:?}"
    );
    assert!(folder(&dave, INBOX).is_empty());
    // Quarantined mail stays there.
    let id = dave.mailbox(Some(QUARANTINE)).unwrap()[0].id;
    assert!(dave.move_mail(id, INBOX).is_err());

    // The honest server now gives Alice's real keys: to Dave, a changed key. Nothing goes
    // to her until he compares and accepts; a fingerprint that is not the offered keys'
    // changes nothing; the right one replaces the pin, verified, and mail flows both ways.
    let err = dave
        .send_mail(&draft("alice", "Hi Alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_changed", "{err}");
    assert!(err.to_string().contains("accept it"), "{err}");
    let wrong = dave
        .accept_changed_key("alice", "12345 67890 12345 67890 12345 67890")
        .await;
    assert_eq!(wrong.unwrap_err().code(), "invalid_input");
    assert_eq!(
        dave.send_mail(&draft("alice", "Hi Alice"))
            .await
            .unwrap_err()
            .code(),
        "key_changed"
    );
    let real = alice.own_fingerprint().unwrap();
    let pin = dave.accept_changed_key("alice", &real).await.unwrap();
    assert!(pin.verified);
    assert_eq!(pin.fingerprint().unwrap(), real);
    dave.send_mail(&draft("alice", "Hi Alice")).await.unwrap();
    alice.sync().await.unwrap();
    assert!(folder(&alice, INBOX).iter().any(|(s, _)| s == "Hi Alice"));
    alice
        .send_mail(&draft("dave", "Hello again"))
        .await
        .unwrap();
    dave.sync().await.unwrap();
    let again: Vec<_> = dave
        .mailbox(Some(INBOX))
        .unwrap()
        .into_iter()
        .filter(|m| m.subject == "Hello again")
        .collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].signature, "verified");
}

/// A message dropped from the mailbox after a device saw it: once one of Bob's devices took
/// it in, it is an item of his mailbox vault, under its manifests. The server withholding
/// it from his other device, or from a new one, is caught, and nothing of that view kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_15_a_message_dropped_after_it_was_seen_is_detected() {
    let (_server, p) = start().await;
    let (mut alice, _da) = person(&p, "alice").await;
    let db = tempfile::tempdir().unwrap();
    let mut bob = device(&p, &db);
    let sk = bob.signup("bob", PW, None, None).await.unwrap();
    let db2 = tempfile::tempdir().unwrap();
    let mut bob2 = device(&p, &db2);
    bob2.login("bob", PW, &sk, None).await.unwrap();

    alice.send_mail(&draft("bob", "First")).await.unwrap();
    bob.sync().await.unwrap();
    bob2.sync().await.unwrap();
    alice.send_mail(&draft("bob", "Seen")).await.unwrap();
    bob.sync().await.unwrap();
    let seen = bob
        .mailbox(Some(INBOX))
        .unwrap()
        .into_iter()
        .find(|m| m.subject == "Seen")
        .unwrap()
        .id;
    bob.sync().await.unwrap();

    // Withheld from the device that knew the mailbox before.
    tamper_feed(&p, move |f| {
        f["items"]
            .as_array_mut()
            .unwrap()
            .retain(|i| i["id"] != json!(seen));
    });
    refused(&mut bob2, "a message withheld", "withheld 1 item").await;
    assert!(folder(&bob2, INBOX).iter().all(|(s, _)| s != "Seen"));

    // Withheld from a new device's first view.
    let db3 = tempfile::tempdir().unwrap();
    let mut bob3 = device(&p, &db3);
    let err = bob3.login("bob", PW, &sk, None).await.unwrap_err();
    assert!(err.to_string().contains("withheld 1 item"), "{err}");

    // The honest server: both have it.
    p.honest();
    bob2.sync().await.unwrap();
    assert!(folder(&bob2, INBOX).iter().any(|(s, _)| s == "Seen"));
}

/// What a server holding a recipient's private key (keys it swapped in) can do with a
/// message sealed to them (the format of `docs/crypto.md` §6.3): open the content key, take
/// the signed body out, and seal that body, the sender's signature and recipient list as
/// they are, under a new content key to `to`, naming `header_id` in the header.
fn reseal(
    sealed: &[u8],
    me: [u8; 16],
    secret: [u8; 32],
    header_id: [u8; 16],
    to: &pk::EncryptionPublicKey,
) -> Vec<u8> {
    use hpke::{Deserializable, Serializable};
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    type Kem = hpke::kem::X25519HkdfSha256;
    type Aead = hpke::aead::AesGcm256;
    type Kdf = hpke::kdf::HkdfSha256;
    const ENTRY: usize = 16 + 32 + 48;
    let n = usize::from(u16::from_be_bytes([sealed[3], sealed[4]]));
    let header_len = 5 + n * ENTRY;
    let entry = sealed[5..header_len]
        .chunks(ENTRY)
        .find(|e| e[..16] == me)
        .unwrap();
    let info = [b"KRYPT7 seal v1".as_slice(), &sealed[..3]].concat();
    let cek = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        &<Kem as hpke::Kem>::PrivateKey::from_bytes(&secret).unwrap(),
        &<Kem as hpke::Kem>::EncappedKey::from_bytes(&entry[16..48]).unwrap(),
        &info,
        &entry[48..],
        &me,
    )
    .unwrap();
    let key = |k: &[u8]| LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).unwrap());
    let nonce = |b: &[u8]| Nonce::try_assume_unique_for_key(b).unwrap();
    let mut body = sealed[header_len + 12..].to_vec();
    let aad = [b"KRYPT7".as_slice(), &sealed[..header_len]].concat();
    let plain = key(&cek)
        .open_in_place(
            nonce(&sealed[header_len..header_len + 12]),
            Aad::from(&aad),
            &mut body,
        )
        .unwrap()
        .to_vec();
    // The same signed body, sealed anew.
    let new_cek: [u8; 32] = *Uuid::new_v4().as_bytes().repeat(2).first_chunk().unwrap();
    let (enc, wrapped) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &hpke::OpModeS::Base,
        &<Kem as hpke::Kem>::PublicKey::from_bytes(&to.0).unwrap(),
        &info,
        &new_cek,
        &header_id,
    )
    .unwrap();
    let mut out = sealed[..3].to_vec();
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&header_id);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&wrapped);
    let fresh = *Uuid::new_v4().as_bytes();
    let aad = [b"KRYPT7".as_slice(), &out].concat();
    let mut ct = plain;
    key(&new_cek)
        .seal_in_place_append_tag(nonce(&fresh[..12]), Aad::from(&aad), &mut ct)
        .unwrap();
    out.extend_from_slice(&fresh[..12]);
    out.extend_from_slice(&ct);
    out
}

/// Surreptitious forwarding by the server: when Alice first looks Bob up, it gives keys of
/// its own, so her message to Bob opens with its key. It takes out her signed message and
/// seals it, signature and all, to Carol: under Carol's id (the signed list names Bob), and
/// under Bob's id as signed (which Carol's key cannot open as hers). Carol's client files
/// both in Quarantine, never in the Inbox, though Alice's signature over them is genuine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_15_a_message_signed_for_someone_else_is_quarantined() {
    let (_server, p) = start().await;
    let (mut alice, _da) = person(&p, "alice").await;
    let (mut bob, _db) = person(&p, "bob").await;
    let (mut carol, _dc) = person(&p, "carol").await;
    let alices = carol.peer_keys("alice").await.unwrap();
    let bobs = carol.peer_keys("bob").await.unwrap();
    let carols = bob.peer_keys("carol").await.unwrap();
    let secret: [u8; 32] = *Uuid::new_v4().as_bytes().repeat(2).first_chunk().unwrap();
    let swapped = sign_key_bundle(
        &IdentityKeyPair::generate().unwrap(),
        &EncryptionKeyPair::from_secret_bytes(secret).unwrap(),
        bobs.account_id.as_bytes(),
    );
    p.tamper(move |s, r| {
        if s.path == "/v1/directory/bob" && r.status == 200 {
            let mut v = r.json();
            v["key_bundle"] = to_b64(&swapped);
            r.set_json(&v);
        }
    });
    alice
        .send_mail(&draft("bob", "Meet me at the station"))
        .await
        .unwrap();
    // The copy, as Bob's feed carries it.
    let stash: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = stash.clone();
    p.tamper(move |s, r| {
        if is_feed(s) && r.status == 200 {
            let v = r.json();
            if let Some(m) = v["mail"]
                .as_array()
                .and_then(|l| l.iter().find(|m| m["taken"] == false))
            {
                *keep.lock().unwrap() = Some(m.clone());
            }
        }
    });
    bob.sync().await.unwrap();
    p.honest();
    let copy = stash.lock().unwrap().clone().expect("bob's feed had it");
    let sealed = b64(&copy["sealed"]);
    let to_carol = carols.keys().unwrap().encryption;
    let bob_id = *bobs.account_id.as_bytes();
    for (header_id, why) in [
        (
            *carols.account_id.as_bytes(),
            "header and signed recipients differ",
        ),
        (bob_id, "not among the message's recipients"),
    ] {
        let forwarded = reseal(&sealed, bob_id, secret, header_id, &to_carol);
        serve_extra(
            &p,
            json!({"id": Uuid::new_v4(), "sender": alices.account_id, "arrived_at": 1,
                   "sealed": to_b64(&forwarded), "cursor": 0, "taken": false}),
        );
        alice
            .send_mail(&draft("carol", &format!("Genuine, beside: {why}")))
            .await
            .unwrap();
        carol.sync().await.unwrap();
        p.honest();
        let q = folder(&carol, QUARANTINE);
        assert!(
            q.iter()
                .any(|(_, reason)| reason.as_deref().is_some_and(|r| r.contains(why))),
            "{why}: {q:?}"
        );
    }
    let inbox = folder(&carol, INBOX);
    assert_eq!(inbox.len(), 2, "only the genuine messages: {inbox:?}");
    assert!(inbox.iter().all(|(s, _)| s.starts_with("Genuine")));
}
