//! Frozen vectors of KRYPT7's own formats (`tests/vectors/krypt7/`, also printed in
//! `docs/crypto.md`). Files named `fail_*` must fail; every other file must open to exactly
//! what it records. They were made once by `cargo run -p krypt7-crypto --example make_vectors`
//! and are never regenerated for a format that has shipped.

use krypt7_crypto::{
    CryptoError, Password,
    envelope::{self, ItemBinding, ItemType, KeysetWrapper},
    kdf::{KdfSetup, Purpose},
    keys::{AccountKey, AccountUnlockKey, FileKey},
    pk::{self, EncryptionKeyPair, MessageKind},
    secret_key::SecretKey,
    stream::{self, Fingerprint, StreamBinding},
};
use serde_json::Value;

fn unhex(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
fn arr<const N: usize>(v: &Value) -> [u8; N] {
    unhex(v).try_into().expect("length")
}
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs one vector; `Ok` when every recorded output matched.
fn check(v: &Value) -> Result<(), CryptoError> {
    match v["type"].as_str().expect("type") {
        "secret_key" => {
            let sk = SecretKey::parse(v["human"].as_str().expect("human"))?;
            assert_eq!(hex(sk.expose_secret()), v["bytes"]);
            assert_eq!(sk.to_human().as_str(), v["human"]);
        }
        "kdf_setup" => {
            let sk = SecretKey::parse(v["secret_key"].as_str().expect("sk"))?;
            let setup = KdfSetup::open(&unhex(&v["sealed_setup"]), &sk)?;
            let pw = Password::new(v["password"].as_str().expect("password"));
            for (field, p) in [
                ("local_unlock", Purpose::LocalUnlock),
                ("export_file", Purpose::ExportFile),
            ] {
                assert_eq!(
                    hex(setup.derive(&pw, &sk, p)?.expose_secret()),
                    v[field],
                    "{field}"
                );
            }
        }
        "keyset_under_auk" => {
            let auk = AccountUnlockKey::from_opaque_export_key(&unhex(&v["opaque_export_key"]));
            assert_eq!(hex(auk.expose_secret()), v["auk"]);
            let ks = envelope::unwrap_keyset(
                KeysetWrapper::Auk(&auk),
                &arr(&v["account"]),
                &unhex(&v["envelope"]),
            )?;
            assert_eq!(hex(ks.account_key.expose_secret()), v["account_key"]);
            assert_eq!(hex(&ks.identity.public().0), v["signing_public_key"]);
            assert_eq!(hex(&ks.encryption.public().0), v["encryption_public_key"]);
        }
        "vault_key" => {
            let ak = AccountKey::from_bytes(arr(&v["account_key"]));
            let vk = envelope::unwrap_vault_key(
                &ak,
                &arr(&v["account"]),
                &arr(&v["vault"]),
                &unhex(&v["envelope"]),
            )?;
            assert_eq!(hex(vk.expose_secret()), v["vault_key"]);
        }
        "item" => {
            let vk = krypt7_crypto::keys::VaultKey::from_bytes(arr(&v["vault_key"]));
            let at = ItemBinding {
                account: arr(&v["account"]),
                vault: arr(&v["vault"]),
                item: arr(&v["item"]),
            };
            let o = envelope::open_item(&vk, &at, &unhex(&v["sealed"]))?;
            assert_eq!(
                o.item_type,
                ItemType(v["item_type"].as_u64().expect("type") as u16)
            );
            assert_eq!(
                u64::from(o.format_version),
                v["format_version"].as_u64().expect("format")
            );
            assert_eq!(hex(&o.plaintext), v["plaintext"]);
        }
        "stream" => {
            let fk = FileKey::from_bytes(arr(&v["file_key"]));
            let b = StreamBinding {
                account: arr(&v["account"]),
                file: arr(&v["file"]),
            };
            let mut out = Vec::new();
            let s = stream::decrypt(
                &fk,
                &b,
                Fingerprint::Sha256,
                &mut &unhex(&v["stream"])[..],
                &mut out,
                |_| {},
            )?;
            assert_eq!(hex(&out), v["plaintext"]);
            assert_eq!(hex(&s.fingerprint.expect("fingerprint")), v["sha256"]);
        }
        "key_bundle" => {
            let keys = pk::verify_key_bundle(&unhex(&v["bundle"]), &arr(&v["account"]))?;
            assert_eq!(hex(&keys.signing.0), v["signing_public_key"]);
            assert_eq!(hex(&keys.encryption.0), v["encryption_public_key"]);
            assert_eq!(keys.fingerprint().to_string(), v["fingerprint"]);
        }
        "message" => {
            let kind = match v["kind"].as_str().expect("kind") {
                "mail" => MessageKind::Mail,
                _ => MessageKind::KeyShare,
            };
            let me = EncryptionKeyPair::from_secret_bytes(arr(&v["recipient_x25519_secret"]))?;
            let o = pk::open_message(kind, &arr(&v["recipient"]), &me, &unhex(&v["message"]))?;
            assert_eq!(hex(&o.sender), v["sender"]);
            assert_eq!(hex(&o.sender_key.0), v["sender_signing_key"]);
            assert_eq!(hex(&o.content), v["content"]);
        }
        other => panic!("unknown vector type {other}"),
    }
    Ok(())
}

#[test]
fn frozen_vectors() {
    let dir = "tests/vectors/krypt7"; // `cargo test` runs in the package's directory
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("vector dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    let (mut ok, mut fail) = (0, 0);
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let r = check(&v);
        if name.starts_with("fail_") {
            assert!(r.is_err(), "{name} must fail but opened");
            fail += 1;
        } else {
            r.unwrap_or_else(|e| panic!("{name}: {e}"));
            ok += 1;
        }
    }
    assert_eq!((ok, fail), (9, 24), "vector files present");
}
