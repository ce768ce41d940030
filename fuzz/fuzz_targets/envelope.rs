//! Every envelope parser in krypt7-crypto on arbitrary bytes: none may panic, and none may
//! accept bytes that were not produced under the fixed keys below.
#![no_main]

use krypt7_crypto::{
    envelope::{self, ItemBinding, KeysetWrapper},
    kdf::KdfSetup,
    keys::{AccountKey, DeviceKey, VaultKey},
    pk::{self, EncryptionKeyPair, MessageKind},
    secret_key::SecretKey,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = [1u8; 16];
    let at = ItemBinding {
        account: id,
        vault: id,
        item: id,
    };
    assert!(envelope::open_item(&VaultKey::from_bytes([2; 32]), &at, data).is_err());
    assert!(envelope::unwrap_vault_key(&AccountKey::from_bytes([3; 32]), &id, &id, data).is_err());
    let dk = DeviceKey::from_bytes([4; 32]);
    assert!(envelope::unwrap_keyset(KeysetWrapper::Device(&dk), &id, data).is_err());
    assert!(KdfSetup::open(data, &SecretKey::from_bytes([5; 16])).is_err());
    let _ = pk::verify_key_bundle(data, &id);
    if let Ok(me) = EncryptionKeyPair::from_secret_bytes([6; 32]) {
        assert!(pk::open_message(MessageKind::Mail, &id, &me, data).is_err());
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = SecretKey::parse(s);
    }
});
