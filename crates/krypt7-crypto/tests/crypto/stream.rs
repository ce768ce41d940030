use krypt7_crypto::{
    CryptoError,
    keys::FileKey,
    stream::{self, Fingerprint, StreamBinding, StreamHeader},
};
use proptest::prelude::*;

use crate::{assert_every_bit_flip_fails, assert_every_truncation_fails};

/// 4 KiB chunks keep the edge cases small.
const LOG2: u8 = 12;
const N: usize = 1 << LOG2;
const B: StreamBinding = StreamBinding {
    account: [1; 16],
    file: [2; 16],
};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b).as_ref());
    out
}

fn enc(key: &FileKey, b: &StreamBinding, pt: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let s = stream::encrypt(
        key,
        b,
        LOG2,
        Fingerprint::Sha256,
        &mut &pt[..],
        &mut out,
        |_| {},
    )
    .unwrap();
    assert_eq!(s.plaintext_len, pt.len() as u64);
    assert_eq!(s.ciphertext_len, out.len() as u64);
    assert_eq!(s.fingerprint, Some(sha256(pt)));
    out
}

fn dec(key: &FileKey, b: &StreamBinding, ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    let s = stream::decrypt(key, b, Fingerprint::Sha256, &mut &ct[..], &mut out, |_| {})?;
    assert_eq!(s.fingerprint, Some(sha256(&out)));
    Ok(out)
}

/// Splits a stream into its header and ciphertext chunks.
fn chunks(ct: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (h, rest) = ct.split_at(stream::HEADER_LEN);
    (
        h.to_vec(),
        rest.chunks(N + 16).map(<[u8]>::to_vec).collect(),
    )
}

#[test]
fn chunk_boundaries_round_trip() {
    let key = FileKey::generate().unwrap();
    for len in [0, 1, N - 1, N, N + 1, 2 * N, 3 * N + 1] {
        let pt = data(len);
        let ct = enc(&key, &B, &pt);
        let header = StreamHeader::parse(&ct).unwrap();
        assert_eq!(
            header.ciphertext_len(len as u64),
            ct.len() as u64,
            "len {len}"
        );
        assert_eq!(dec(&key, &B, &ct).unwrap(), pt, "len {len}");
        // Chunk count: one for an empty file, else ceil(len / N).
        assert_eq!(chunks(&ct).1.len(), len.div_ceil(N).max(1), "len {len}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_size_round_trips(len in 0usize..5 * N, log2 in 12u8..14) {
        let key = FileKey::generate().unwrap();
        let pt = data(len);
        let mut ct = Vec::new();
        stream::encrypt(&key, &B, log2, Fingerprint::Sha256, &mut &pt[..], &mut ct, |_| {}).unwrap();
        let mut out = Vec::new();
        stream::decrypt(&key, &B, Fingerprint::Sha256, &mut &ct[..], &mut out, |_| {}).unwrap();
        prop_assert_eq!(out, pt);
    }

    /// A reader that returns at most `step` bytes per call must give the same result.
    #[test]
    fn short_reads_are_handled(len in 0usize..3 * N, step in 1usize..600) {
        struct Dribble<'a>(&'a [u8], usize);
        impl std::io::Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let key = FileKey::generate().unwrap();
        let pt = data(len);
        let mut ct = Vec::new();
        stream::encrypt(&key, &B, LOG2, Fingerprint::Sha256, &mut Dribble(&pt, step), &mut ct, |_| {}).unwrap();
        let mut out = Vec::new();
        stream::decrypt(&key, &B, Fingerprint::Sha256, &mut Dribble(&ct, step), &mut out, |_| {}).unwrap();
        prop_assert_eq!(out, pt);
    }
}

#[test]
fn every_bit_flip_and_truncation_is_rejected() {
    let key = FileKey::generate().unwrap();
    for len in [0, 1, N, N + 1] {
        let ct = enc(&key, &B, &data(len));
        assert_every_bit_flip_fails(&ct, |b| dec(&key, &B, b).is_ok());
        assert_every_truncation_fails(&ct, |b| dec(&key, &B, b).is_ok());
    }
}

#[test]
fn truncation_at_a_chunk_boundary_is_reported_as_truncation() {
    let key = FileKey::generate().unwrap();
    let ct = enc(&key, &B, &data(3 * N + 5));
    let (h, c) = chunks(&ct);
    for keep in 1..c.len() {
        let cut = [h.clone(), c[..keep].concat()].concat();
        assert_eq!(
            dec(&key, &B, &cut).unwrap_err(),
            CryptoError::StreamTruncated,
            "kept {keep} chunks"
        );
    }
    assert_eq!(dec(&key, &B, &h).unwrap_err(), CryptoError::StreamTruncated);
    assert_eq!(
        dec(&key, &B, &h[..10]).unwrap_err(),
        CryptoError::StreamTruncated
    );
}

#[test]
fn extension_is_rejected() {
    let key = FileKey::generate().unwrap();
    for len in [N, N + 7] {
        let ct = enc(&key, &B, &data(len));
        let (_, c) = chunks(&ct);
        for extra in [
            vec![0u8],
            vec![0u8; 16],
            c[0].clone(),
            c[c.len() - 1].clone(),
        ] {
            let ext = [ct.clone(), extra].concat();
            assert!(dec(&key, &B, &ext).is_err(), "len {len}");
        }
    }
}

#[test]
fn reordering_and_cross_file_swaps_are_rejected() {
    let key = FileKey::generate().unwrap();
    let ct = enc(&key, &B, &data(3 * N + 5));
    let (h, c) = chunks(&ct);
    let swapped = [
        h.clone(),
        c[1].clone(),
        c[0].clone(),
        c[2].clone(),
        c[3].clone(),
    ]
    .concat();
    assert_eq!(dec(&key, &B, &swapped).unwrap_err(), CryptoError::Integrity);
    let dropped_middle = [h.clone(), c[0].clone(), c[2].clone(), c[3].clone()].concat();
    assert!(dec(&key, &B, &dropped_middle).is_err());

    // Same key, same plaintext, another file: its chunks do not fit here.
    let other_binding = StreamBinding {
        account: [1; 16],
        file: [3; 16],
    };
    let other = enc(&key, &other_binding, &data(3 * N + 5));
    let (_, oc) = chunks(&other);
    let mixed = [
        h.clone(),
        c[0].clone(),
        oc[1].clone(),
        c[2].clone(),
        c[3].clone(),
    ]
    .concat();
    assert_eq!(dec(&key, &B, &mixed).unwrap_err(), CryptoError::Integrity);
    // Same key and binding, a second encryption (new salt): chunks do not mix either.
    let again = enc(&key, &B, &data(3 * N + 5));
    let (_, ac) = chunks(&again);
    let mixed = [
        h.clone(),
        c[0].clone(),
        ac[1].clone(),
        c[2].clone(),
        c[3].clone(),
    ]
    .concat();
    assert_eq!(dec(&key, &B, &mixed).unwrap_err(), CryptoError::Integrity);
    // The whole stream under another binding or key.
    assert_eq!(
        dec(&key, &other_binding, &ct).unwrap_err(),
        CryptoError::Integrity
    );
    assert_eq!(
        dec(&FileKey::generate().unwrap(), &B, &ct).unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn header_is_checked() {
    let key = FileKey::generate().unwrap();
    let ct = enc(&key, &B, &data(10));
    for (i, v, want) in [
        (4, 2, CryptoError::UnsupportedVersion(2)),
        (5, 9, CryptoError::UnsupportedAlgorithm(9)),
        (6, 40, CryptoError::Malformed("stream header")),
        (6, 11, CryptoError::Malformed("stream header")),
        (0, b'X', CryptoError::Malformed("stream header")),
    ] {
        let mut m = ct.clone();
        m[i] = v;
        assert_eq!(dec(&key, &B, &m).unwrap_err(), want);
    }
    // A different but valid chunk size changes the key: authentication fails.
    let mut m = ct.clone();
    m[6] = 13;
    assert_eq!(dec(&key, &B, &m).unwrap_err(), CryptoError::Integrity);
}

#[test]
fn chunks_can_be_resealed_for_resumption() {
    // Re-encrypting chunk k with the same header yields the same bytes, so an upload can
    // resume at any chunk.
    let key = FileKey::generate().unwrap();
    let pt = data(2 * N + 3);
    let ct = enc(&key, &B, &pt);
    let header = StreamHeader::parse(&ct).unwrap();
    let cipher = stream::StreamCipher::new(&key, &B, header);
    let (_, c) = chunks(&ct);
    let mut second = pt[N..2 * N].to_vec();
    let tag = cipher.seal_chunk(1, false, &mut second).unwrap();
    assert_eq!([second, tag.to_vec()].concat(), c[1]);
    let mut last = c[2].clone();
    let n = cipher.open_chunk(2, true, &mut last).unwrap();
    assert_eq!(&last[..n], &pt[2 * N..]);
}

#[test]
fn progress_is_reported_per_chunk() {
    let key = FileKey::generate().unwrap();
    let pt = data(3 * N + 1);
    let mut seen = Vec::new();
    let mut ct = Vec::new();
    stream::encrypt(
        &key,
        &B,
        LOG2,
        Fingerprint::Sha256,
        &mut &pt[..],
        &mut ct,
        |d| seen.push(d),
    )
    .unwrap();
    assert_eq!(
        seen,
        vec![N as u64, 2 * N as u64, 3 * N as u64, 3 * N as u64 + 1]
    );
}
