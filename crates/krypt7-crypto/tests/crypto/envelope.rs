use krypt7_crypto::{
    CryptoError,
    envelope::{self, ItemBinding, ItemType, KeysetWrapper},
    keys::{AccountKey, AccountUnlockKey, DeviceKey, Keyset, LocalUnlockKey, VaultKey},
};
use proptest::prelude::*;

use crate::{assert_every_bit_flip_fails, assert_every_truncation_fails};

fn at(a: u8, v: u8, i: u8) -> ItemBinding {
    ItemBinding {
        account: [a; 16],
        vault: [v; 16],
        item: [i; 16],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn item_round_trip(pt in proptest::collection::vec(any::<u8>(), 0..4096), t in any::<u16>(), f in any::<u16>()) {
        let vk = VaultKey::generate().unwrap();
        let sealed = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(t), f, &pt).unwrap();
        prop_assert_eq!(sealed.len(), envelope::padded_len(pt.len()) + envelope::ITEM_OVERHEAD);
        let o = envelope::open_item(&vk, &at(1, 2, 3), &sealed).unwrap();
        prop_assert_eq!(&o.plaintext[..], &pt[..]);
        prop_assert_eq!(o.item_type, ItemType(t));
        prop_assert_eq!(o.format_version, f);
    }

    #[test]
    fn item_tampering_is_detected(pt in proptest::collection::vec(any::<u8>(), 0..48)) {
        let vk = VaultKey::generate().unwrap();
        let sealed = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, &pt).unwrap();
        let open = |b: &[u8]| envelope::open_item(&vk, &at(1, 2, 3), b).is_ok();
        assert_every_bit_flip_fails(&sealed, open);
        assert_every_truncation_fails(&sealed, open);
    }
}

#[test]
fn item_sizes_show_only_their_bucket() {
    // 256, then a quarter more each time (rounded down).
    let buckets: Vec<usize> = [0, 255, 256, 319, 320, 399, 400, 499, 500, 624, 625, 780]
        .iter()
        .map(|&n| envelope::padded_len(n))
        .collect();
    assert_eq!(
        buckets,
        [256, 256, 320, 320, 400, 400, 500, 500, 625, 625, 781, 781]
    );
    // Never over 25 % more, never past the 1 MiB a server keeps.
    for n in (0..(1 << 20)).step_by(997) {
        let p = envelope::padded_len(n);
        assert!(p > n && (p <= 256 || p <= n + n / 4 + 2), "{n} -> {p}");
        assert!(p <= envelope::PAD_MAX || p == n + 1, "{n} -> {p}");
    }
    // A login whose password changes length: both revisions are the same size.
    let vk = VaultKey::generate().unwrap();
    let login = |pw: &str| format!(r#"{{"title":"Bank","username":"alice","password":"{pw}"}}"#);
    let short = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, login("pw").as_bytes());
    let long = envelope::seal_item(
        &vk,
        &at(1, 2, 3),
        ItemType(1),
        1,
        login("a much longer password, 48 characters of it....").as_bytes(),
    );
    assert_eq!(short.unwrap().len(), long.unwrap().len());
}

#[test]
fn a_padded_item_cannot_pass_as_an_unpadded_one() {
    let vk = VaultKey::generate().unwrap();
    let mut sealed = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, b"secret").unwrap();
    assert_eq!(&sealed[..3], &[0x01, 0x01, 0x11]);
    sealed[2] = 0x10;
    assert_eq!(
        envelope::open_item(&vk, &at(1, 2, 3), &sealed).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn item_moved_to_another_account_vault_or_item_fails() {
    let vk = VaultKey::generate().unwrap();
    let sealed = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, b"secret").unwrap();
    for other in [at(9, 2, 3), at(1, 9, 3), at(1, 2, 9)] {
        assert_eq!(
            envelope::open_item(&vk, &other, &sealed).unwrap_err(),
            CryptoError::Integrity
        );
    }
    // Under another vault's key.
    let other_vk = VaultKey::generate().unwrap();
    assert_eq!(
        envelope::open_item(&other_vk, &at(1, 2, 3), &sealed).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn item_parts_cannot_be_swapped_between_items() {
    // The content part of one item spliced behind the key part of another fails, as does a
    // content part re-labelled with another type or format (they live in the key part).
    let vk = VaultKey::generate().unwrap();
    let a = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, b"aaaaaaaa").unwrap();
    let b = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(2), 1, b"bbbbbbbb").unwrap();
    let split = 3 + 12 + 36 + 16;
    let spliced = [&a[..split], &b[split..]].concat();
    assert_eq!(
        envelope::open_item(&vk, &at(1, 2, 3), &spliced).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn unknown_versions_algorithms_and_kinds_are_refused() {
    let vk = VaultKey::generate().unwrap();
    let sealed = envelope::seal_item(&vk, &at(1, 2, 3), ItemType(1), 1, b"x").unwrap();
    for (i, v, want) in [
        (0, 0x00, CryptoError::UnsupportedVersion(0)),
        (0, 0x02, CryptoError::UnsupportedVersion(2)),
        (1, 0x02, CryptoError::UnsupportedAlgorithm(2)),
        (1, 0x00, CryptoError::UnsupportedAlgorithm(0)),
    ] {
        let mut m = sealed.clone();
        m[i] = v;
        assert_eq!(
            envelope::open_item(&vk, &at(1, 2, 3), &m).unwrap_err(),
            want
        );
    }
    let mut m = sealed.clone();
    m[2] = envelope::Kind::VaultKeyUnderAccountKey as u8;
    assert!(matches!(
        envelope::open_item(&vk, &at(1, 2, 3), &m),
        Err(CryptoError::Malformed(_))
    ));
    // A shorter tag (the last byte dropped) is refused too.
    assert!(envelope::open_item(&vk, &at(1, 2, 3), &sealed[..sealed.len() - 1]).is_err());
}

#[test]
fn keyset_wraps_are_bound_to_wrapper_kind_and_account() {
    let ks = Keyset::generate().unwrap();
    let auk = AccountUnlockKey::generate().unwrap();
    let luk = LocalUnlockKey::generate().unwrap();
    let dev = DeviceKey::generate().unwrap();
    let acct = [5u8; 16];
    for w in [
        KeysetWrapper::Auk(&auk),
        KeysetWrapper::LocalUnlock(&luk),
        KeysetWrapper::Device(&dev),
    ] {
        let env = envelope::wrap_keyset(w, &acct, &ks).unwrap();
        let back = envelope::unwrap_keyset(w, &acct, &env).unwrap();
        assert_eq!(
            back.account_key.expose_secret(),
            ks.account_key.expose_secret()
        );
        assert_eq!(back.identity.public(), ks.identity.public());
        assert_eq!(back.encryption.public(), ks.encryption.public());
        assert_eq!(
            envelope::unwrap_keyset(w, &[6; 16], &env).unwrap_err(),
            CryptoError::Integrity
        );
        assert_every_bit_flip_fails(&env, |b| envelope::unwrap_keyset(w, &acct, b).is_ok());
    }
    // A keyset wrapped for the device key cannot be presented as the AUK-wrapped one even if
    // both keys were equal (the kind is in the header and the AAD).
    let same = AccountUnlockKey::from_bytes(*dev.expose_secret());
    let env = envelope::wrap_keyset(KeysetWrapper::Device(&dev), &acct, &ks).unwrap();
    assert!(envelope::unwrap_keyset(KeysetWrapper::Auk(&same), &acct, &env).is_err());
    let mut relabelled = env.clone();
    relabelled[2] = envelope::Kind::KeysetUnderAuk as u8;
    assert_eq!(
        envelope::unwrap_keyset(KeysetWrapper::Auk(&same), &acct, &relabelled).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn vault_key_wraps_are_bound_to_account_and_vault() {
    let ak = AccountKey::generate().unwrap();
    let vk = VaultKey::generate().unwrap();
    let env = envelope::wrap_vault_key(&ak, &[1; 16], &[2; 16], &vk).unwrap();
    assert_eq!(
        envelope::unwrap_vault_key(&ak, &[1; 16], &[2; 16], &env)
            .unwrap()
            .expose_secret(),
        vk.expose_secret()
    );
    assert_eq!(
        envelope::unwrap_vault_key(&ak, &[1; 16], &[3; 16], &env).unwrap_err(),
        CryptoError::Integrity
    );
    assert_eq!(
        envelope::unwrap_vault_key(&ak, &[4; 16], &[2; 16], &env).unwrap_err(),
        CryptoError::Integrity
    );
    let other = AccountKey::generate().unwrap();
    assert_eq!(
        envelope::unwrap_vault_key(&other, &[1; 16], &[2; 16], &env).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let ks = Keyset::generate().unwrap();
    let vk = VaultKey::generate().unwrap();
    let raw = vk
        .expose_secret()
        .iter()
        .map(|b| format!("{b}"))
        .collect::<Vec<_>>()
        .join(", ");
    let dbg = format!("{ks:?} {vk:?} {:?} {:?}", ks.identity, ks.encryption);
    assert!(dbg.contains("REDACTED"));
    assert!(!dbg.contains(&raw));
    let pw = krypt7_crypto::Password::new("hunter2");
    assert_eq!(format!("{pw:?}"), "Password([REDACTED])");
}
