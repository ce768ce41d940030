//! The stream header parser and the streaming decryptor on arbitrary bytes: no panic, and
//! nothing accepted that was not encrypted under the fixed key.
#![no_main]

use krypt7_crypto::{
    keys::FileKey,
    stream::{self, Fingerprint, StreamBinding, StreamHeader},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = StreamHeader::parse(data) {
        let _ = h.ciphertext_len(data.len() as u64);
    }
    let key = FileKey::from_bytes([7; 32]);
    let b = StreamBinding {
        account: [1; 16],
        file: [2; 16],
    };
    let mut out = Vec::new();
    assert!(
        stream::decrypt(
            &key,
            &b,
            Fingerprint::Sha256,
            &mut &data[..],
            &mut out,
            |_| {}
        )
        .is_err()
    );
    assert!(out.is_empty(), "no plaintext is written for forged input");
});
