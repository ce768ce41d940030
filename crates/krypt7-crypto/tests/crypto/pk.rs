use krypt7_crypto::{
    CryptoError,
    pk::{self, EncryptionKeyPair, IdentityKeyPair, MessageKind, PublicKeys, Recipient},
};
use proptest::prelude::*;

use crate::assert_every_bit_flip_fails;

struct User {
    id: [u8; 16],
    identity: IdentityKeyPair,
    enc: EncryptionKeyPair,
}

fn user(n: u8) -> User {
    User {
        id: [n; 16],
        identity: IdentityKeyPair::generate().unwrap(),
        enc: EncryptionKeyPair::generate().unwrap(),
    }
}

fn recipient(u: &User) -> Recipient {
    Recipient {
        account: u.id,
        key: u.enc.public(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn sealed_messages_round_trip(content in proptest::collection::vec(any::<u8>(), 0..2048), n in 1usize..5) {
        let alice = user(0);
        let rs: Vec<User> = (1..=n as u8).map(user).collect();
        let list: Vec<Recipient> = rs.iter().map(recipient).collect();
        let msg = pk::seal_message(MessageKind::Mail, &alice.id, &alice.identity, &list, &content).unwrap();
        for r in &rs {
            let o = pk::open_message(MessageKind::Mail, &r.id, &r.enc, &msg).unwrap();
            prop_assert_eq!(&o.content[..], &content[..]);
            prop_assert_eq!(o.sender, alice.id);
            prop_assert_eq!(o.sender_key, alice.identity.public());
            prop_assert_eq!(&o.recipients, &list);
        }
        let eve = user(99);
        prop_assert_eq!(pk::open_message(MessageKind::Mail, &eve.id, &eve.enc, &msg).unwrap_err(), CryptoError::NotARecipient);
    }
}

#[test]
fn tampered_messages_are_refused() {
    let alice = user(0);
    let bob = user(1);
    let msg = pk::seal_message(
        MessageKind::KeyShare,
        &alice.id,
        &alice.identity,
        &[recipient(&bob)],
        b"vault key",
    )
    .unwrap();
    assert_every_bit_flip_fails(&msg, |m| {
        pk::open_message(MessageKind::KeyShare, &bob.id, &bob.enc, m).is_ok()
    });
    for n in 0..msg.len() {
        assert!(pk::open_message(MessageKind::KeyShare, &bob.id, &bob.enc, &msg[..n]).is_err());
    }
    // The kind is bound: a key share is not accepted as mail.
    assert!(pk::open_message(MessageKind::Mail, &bob.id, &bob.enc, &msg).is_err());
}

#[test]
fn a_forwarded_message_is_refused() {
    // Bob cannot pass Alice's signed message to Carol as if Alice had written to her: the
    // signed recipient list does not name Carol.
    let (alice, bob, carol) = (user(0), user(1), user(2));
    let msg = pk::seal_message(
        MessageKind::Mail,
        &alice.id,
        &alice.identity,
        &[recipient(&bob)],
        b"for bob",
    )
    .unwrap();
    let opened = pk::open_message(MessageKind::Mail, &bob.id, &bob.enc, &msg).unwrap();
    // Bob re-seals Alice's content but cannot produce Alice's signature over Carol: the best he
    // can do is sign himself, which shows Bob as the sender.
    let resent = pk::seal_message(
        MessageKind::Mail,
        &alice.id,
        &bob.identity,
        &[recipient(&carol)],
        &opened.content,
    )
    .unwrap();
    let o = pk::open_message(MessageKind::Mail, &carol.id, &carol.enc, &resent).unwrap();
    assert_ne!(
        o.sender_key,
        alice.identity.public(),
        "a pinned-key check exposes the forgery"
    );
    // Rewriting the header's recipient id to Carol's does not work either.
    let mut m = msg.clone();
    m[5..21].copy_from_slice(&carol.id);
    assert!(pk::open_message(MessageKind::Mail, &carol.id, &carol.enc, &m).is_err());
}

#[test]
fn key_bundles_verify_and_bind_the_account() {
    let u = user(7);
    let b = pk::sign_key_bundle(&u.identity, &u.enc, &u.id);
    let keys = pk::verify_key_bundle(&b, &u.id).unwrap();
    assert_eq!(
        keys,
        PublicKeys {
            signing: u.identity.public(),
            encryption: u.enc.public()
        }
    );
    assert!(pk::verify_key_bundle(&b, &[8; 16]).is_err());
    assert_every_bit_flip_fails(&b, |x| pk::verify_key_bundle(x, &u.id).is_ok());
    // Another user's encryption key grafted into the bundle breaks the signature.
    let m = user(8);
    let mut graft = b.clone();
    graft[49..81].copy_from_slice(&m.enc.public().0);
    assert_eq!(
        pk::verify_key_bundle(&graft, &u.id).unwrap_err(),
        CryptoError::BadSignature
    );
}

#[test]
fn fingerprints_are_short_stable_and_distinct() {
    let u = user(1);
    let keys = PublicKeys {
        signing: u.identity.public(),
        encryption: u.enc.public(),
    };
    let f = keys.fingerprint().to_string();
    assert_eq!(f.len(), 6 * 5 + 5);
    assert!(
        f.split(' ')
            .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
    );
    assert_eq!(f, keys.fingerprint().to_string());
    let v = user(2);
    let mixed = PublicKeys {
        signing: u.identity.public(),
        encryption: v.enc.public(),
    };
    assert_ne!(f, mixed.fingerprint().to_string());
}
