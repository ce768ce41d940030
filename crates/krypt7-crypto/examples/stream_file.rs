//! Encrypts or decrypts a file with the streaming AEAD, single thread, and reports what
//! `cargo xtask bench crypto` needs: bytes, seconds, the SHA-256 fingerprint, and this
//! process's memory before and at peak (from /proc/self/status).
//!
//! `stream_file encrypt|decrypt KEY_HEX IN OUT [sha256|skip]` (fingerprint: default sha256)

use std::{
    fs::File,
    io::{BufReader, BufWriter},
    time::Instant,
};

use krypt7_crypto::{
    keys::FileKey,
    stream::{self, DEFAULT_CHUNK_LOG2, Fingerprint, StreamBinding},
};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, key_hex, input, output, fp) = match &args[..] {
        [_, m, k, i, o] => (m, k, i, o, Fingerprint::Sha256),
        [_, m, k, i, o, f] if f == "sha256" => (m, k, i, o, Fingerprint::Sha256),
        [_, m, k, i, o, f] if f == "skip" => (m, k, i, o, Fingerprint::Skip),
        _ => return Err("usage: stream_file encrypt|decrypt KEY_HEX IN OUT [sha256|skip]".into()),
    };
    let baseline_kib = status_kib("VmRSS:");
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(
            key_hex
                .get(2 * i..2 * i + 2)
                .ok_or("key must be 64 hex digits")?,
            16,
        )?;
    }
    let key = FileKey::from_bytes(key);
    let binding = StreamBinding {
        account: [0; 16],
        file: [0; 16],
    };
    // The streaming code reads and writes whole chunks; no extra buffering layer is needed,
    // but a BufReader/BufWriter keeps small reads cheap for any reader.
    let mut r = BufReader::with_capacity(1 << 16, File::open(input)?);
    let mut w = BufWriter::with_capacity(1 << 16, File::create(output)?);
    let t = Instant::now();
    let summary = match mode.as_str() {
        "encrypt" => stream::encrypt(
            &key,
            &binding,
            DEFAULT_CHUNK_LOG2,
            fp,
            &mut r,
            &mut w,
            |_| {},
        )?,
        "decrypt" => stream::decrypt(&key, &binding, fp, &mut r, &mut w, |_| {})?,
        _ => return Err("mode must be encrypt or decrypt".into()),
    };
    drop(w);
    let secs = t.elapsed().as_secs_f64();
    let sha: String = summary.fingerprint.map_or("none".into(), |f| {
        f.iter().map(|b| format!("{b:02x}")).collect()
    });
    println!(
        "plaintext_bytes={} seconds={secs:.6} sha256={sha} baseline_kib={baseline_kib} peak_kib={}",
        summary.plaintext_len,
        status_kib("VmHWM:")
    );
    Ok(())
}
