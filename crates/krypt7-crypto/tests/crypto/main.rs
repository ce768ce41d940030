//! Integration tests of krypt7-crypto's public API: round trips, tampering, frozen vectors.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod envelope;
mod export;
mod frozen;
mod opaque;
mod pk;
mod stream;

/// Every single-bit flip of `bytes` must make `open` fail.
pub fn assert_every_bit_flip_fails(bytes: &[u8], open: impl Fn(&[u8]) -> bool) {
    let mut m = bytes.to_vec();
    for i in 0..bytes.len() * 8 {
        m[i / 8] ^= 1 << (i % 8);
        assert!(
            !open(&m),
            "flipping bit {i} of {} bytes was not detected",
            bytes.len()
        );
        m[i / 8] ^= 1 << (i % 8);
    }
}

/// Every strict prefix of `bytes` must make `open` fail.
pub fn assert_every_truncation_fails(bytes: &[u8], open: impl Fn(&[u8]) -> bool) {
    for n in 0..bytes.len() {
        assert!(
            !open(&bytes[..n]),
            "truncation to {n} of {} bytes was not detected",
            bytes.len()
        );
    }
}
