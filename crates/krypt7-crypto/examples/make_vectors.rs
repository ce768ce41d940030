//! Writes the frozen vectors of KRYPT7's formats to `tests/vectors/krypt7/` (run once per
//! format version; the files are then committed and never regenerated for a shipped format).
//!
//! `cargo run -p krypt7-crypto --example make_vectors -- OUT_DIR`

use std::{fs, path::PathBuf};

use krypt7_crypto::{
    Password,
    envelope::{self, ItemBinding, ItemType, KeysetWrapper},
    kdf::{KdfParams, KdfSetup, Purpose},
    keys::{AccountKey, AccountUnlockKey, FileKey, Keyset, VaultKey},
    pk::{self, EncryptionKeyPair, IdentityKeyPair, MessageKind, Recipient},
    secret_key::SecretKey,
    stream::{self, Fingerprint, StreamBinding},
};
use serde_json::{Value, json};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: make_vectors OUT_DIR"),
    );
    fs::create_dir_all(&out).expect("out dir");
    let write = |name: &str, v: Value| {
        fs::write(
            out.join(format!("{name}.json")),
            serde_json::to_string_pretty(&v).expect("json") + "\n",
        )
        .expect("write");
    };
    let account = [0x11u8; 16];
    let vault = [0x22u8; 16];
    let item = [0x33u8; 16];

    // §2 Secret Key.
    let sk = SecretKey::from_bytes(*b"KRYPT7 test key!");
    write(
        "secret_key",
        json!({"type": "secret_key", "bytes": hex(sk.expose_secret()), "human": &*sk.to_human()}),
    );

    // §3 Key derivation.
    let setup = KdfSetup::generate(KdfParams::MINIMUM).expect("setup");
    let sealed = setup.seal(&sk);
    let pw = Password::new("correct horse battery staple");
    let derived = |p| hex(setup.derive(&pw, &sk, p).expect("derive").expose_secret());
    let kdf = json!({
        "type": "kdf_setup", "secret_key": &*sk.to_human(), "password": "correct horse battery staple",
        "sealed_setup": hex(&sealed),
        "local_unlock": derived(Purpose::LocalUnlock),
        "export_file": derived(Purpose::ExportFile),
    });
    write("kdf_setup", kdf.clone());
    let mut t = sealed.clone();
    t[2..6].copy_from_slice(&(96u32 * 1024).to_be_bytes());
    write(
        "fail_kdf_setup_altered_memory",
        json!({"type": "kdf_setup", "secret_key": &*sk.to_human(), "password": "x", "sealed_setup": hex(&t)}),
    );
    let other = SecretKey::from_bytes(*b"another test key");
    write(
        "fail_kdf_setup_other_secret_key",
        json!({"type": "kdf_setup", "secret_key": &*other.to_human(), "password": "x", "sealed_setup": hex(&sealed)}),
    );

    // §4.2 Keyset and vault-key wraps.
    let ks = Keyset::generate().expect("keyset");
    let auk =
        AccountUnlockKey::from_opaque_export_key(b"an OPAQUE export key, 64 bytes in practice");
    let env = envelope::wrap_keyset(KeysetWrapper::Auk(&auk), &account, &ks).expect("wrap");
    let keyset_json = |env: &[u8], acct: &[u8; 16]| {
        json!({
            "type": "keyset_under_auk", "opaque_export_key": hex(b"an OPAQUE export key, 64 bytes in practice"),
            "auk": hex(auk.expose_secret()), "account": hex(acct), "envelope": hex(env),
            "signing_public_key": hex(&ks.identity.public().0), "encryption_public_key": hex(&ks.encryption.public().0),
            "account_key": hex(ks.account_key.expose_secret()),
        })
    };
    write("keyset_under_auk", keyset_json(&env, &account));
    write(
        "fail_keyset_under_auk_other_account",
        keyset_json(&env, &[0x12; 16]),
    );
    let ak = AccountKey::from_bytes(*ks.account_key.expose_secret());
    let vk = VaultKey::from_bytes([0x44; 32]);
    let venv = envelope::wrap_vault_key(&ak, &account, &vault, &vk).expect("wrap");
    let vault_json = |env: &[u8], v: &[u8; 16]| {
        json!({
            "type": "vault_key", "account_key": hex(ak.expose_secret()), "account": hex(&account), "vault": hex(v),
            "envelope": hex(env), "vault_key": hex(vk.expose_secret()),
        })
    };
    write("vault_key", vault_json(&venv, &vault));
    write("fail_vault_key_other_vault", vault_json(&venv, &[0x23; 16]));

    // §4.3 Items.
    let at = ItemBinding {
        account,
        vault,
        item,
    };
    let plaintext = br#"{"title":"Bank","username":"alice","password":"s3cr3t"}"#;
    // Items are written padded (kind 0x11). The unpadded `item*.json` vectors (kind 0x10)
    // were frozen before padding and are still read; they are not made again here.
    let sealed_item = envelope::seal_item(&vk, &at, ItemType(1), 1, plaintext).expect("seal");
    let item_json = |s: &[u8], it: &[u8; 16]| {
        json!({
            "type": "item", "vault_key": hex(vk.expose_secret()), "account": hex(&account), "vault": hex(&vault),
            "item": hex(it), "sealed": hex(s), "item_type": 1, "format_version": 1, "plaintext": hex(plaintext),
        })
    };
    write("item_padded", item_json(&sealed_item, &item));
    write(
        "fail_item_padded_other_item_id",
        item_json(&sealed_item, &[0x34; 16]),
    );
    let mut m = sealed_item.clone();
    m[0] = 2;
    write("fail_item_padded_version_2", item_json(&m, &item));
    let mut m = sealed_item.clone();
    m[1] = 2;
    write("fail_item_padded_algorithm_2", item_json(&m, &item));
    write(
        "fail_item_padded_short_tag",
        item_json(&sealed_item[..sealed_item.len() - 4], &item),
    );
    let mut m = sealed_item.clone();
    let last = m.len() - 20;
    m[last] ^= 0x01;
    write("fail_item_padded_bit_flip", item_json(&m, &item));
    let mut m = sealed_item.clone();
    m[2] = 0x10;
    write("fail_item_padded_as_unpadded", item_json(&m, &item));
    let other_item =
        envelope::seal_item(&vk, &at, ItemType(2), 1, b"{\"title\":\"Note\"}").expect("seal");
    let split = 3 + 12 + 36 + 16;
    write(
        "fail_item_padded_spliced",
        item_json(
            &[&sealed_item[..split], &other_item[split..]].concat(),
            &item,
        ),
    );

    // §5 Streams (4 KiB chunks so the vector stays small: 2 full chunks and a partial one).
    let fk = FileKey::from_bytes([0x55; 32]);
    let sb = StreamBinding {
        account,
        file: item,
    };
    let pt: Vec<u8> = (0..2 * 4096 + 100).map(|i| (i % 251) as u8).collect();
    let mut ct = Vec::new();
    let sum = stream::encrypt(
        &fk,
        &sb,
        12,
        Fingerprint::Sha256,
        &mut &pt[..],
        &mut ct,
        |_| {},
    )
    .expect("stream");
    let stream_json = |ct: &[u8]| {
        json!({
            "type": "stream", "file_key": hex(fk.expose_secret()), "account": hex(&account), "file": hex(&item),
            "stream": hex(ct), "plaintext": hex(&pt), "sha256": hex(&sum.fingerprint.expect("fingerprint")),
        })
    };
    write("stream", stream_json(&ct));
    let c = 4096 + 16;
    let h = stream::HEADER_LEN;
    write(
        "fail_stream_truncated_at_boundary",
        stream_json(&ct[..h + 2 * c]),
    );
    write(
        "fail_stream_reordered",
        stream_json(
            &[
                &ct[..h],
                &ct[h + c..h + 2 * c],
                &ct[h..h + c],
                &ct[h + 2 * c..],
            ]
            .concat(),
        ),
    );
    write(
        "fail_stream_extended",
        stream_json(&[&ct[..], &ct[h..h + c]].concat()),
    );
    write(
        "fail_stream_last_chunk_dropped_tag_byte",
        stream_json(&ct[..ct.len() - 1]),
    );

    // §6 Key bundle, fingerprint, sealed message.
    let alice_id = [0xa1; 16];
    let alice = IdentityKeyPair::from_seed([0xa2; 32]).expect("seed");
    let alice_enc = EncryptionKeyPair::from_secret_bytes([0xa3; 32]).expect("x25519");
    let bundle = pk::sign_key_bundle(&alice, &alice_enc, &alice_id);
    let keys = pk::verify_key_bundle(&bundle, &alice_id).expect("bundle");
    write(
        "key_bundle",
        json!({
            "type": "key_bundle", "account": hex(&alice_id), "bundle": hex(&bundle),
            "signing_public_key": hex(&keys.signing.0), "encryption_public_key": hex(&keys.encryption.0),
            "fingerprint": keys.fingerprint().to_string(),
        }),
    );
    let mut b = bundle.clone();
    b[60] ^= 0x80;
    write(
        "fail_key_bundle_altered_key",
        json!({"type": "key_bundle", "account": hex(&alice_id), "bundle": hex(&b)}),
    );

    let bob_id = [0xb1; 16];
    let bob_enc = EncryptionKeyPair::from_secret_bytes([0xb3; 32]).expect("x25519");
    let msg = pk::seal_message(
        MessageKind::Mail,
        &alice_id,
        &alice,
        &[Recipient {
            account: bob_id,
            key: bob_enc.public(),
        }],
        b"Hello Bob",
    )
    .expect("seal");
    let msg_json = |m: &[u8], kind: &str| {
        json!({
            "type": "message", "kind": kind, "recipient": hex(&bob_id), "recipient_x25519_secret": hex(&[0xb3; 32]),
            "message": hex(m), "sender": hex(&alice_id), "sender_signing_key": hex(&alice.public().0), "content": hex(b"Hello Bob"),
        })
    };
    write("message", msg_json(&msg, "mail"));
    write("fail_message_as_key_share", msg_json(&msg, "key_share"));
    let mut m = msg.clone();
    let n = m.len() - 1;
    m[n] ^= 1;
    write("fail_message_bit_flip", msg_json(&m, "mail"));
    eprintln!("vectors written to {}", out.display());
}
