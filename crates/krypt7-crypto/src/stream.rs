//! Streaming file encryption (`docs/crypto.md` §5): the STREAM construction over AES-256-GCM,
//! in fixed-size chunks, constant memory for any file size.
//!
//! ```text
//! stream  = header (24) ‖ chunk_0 ‖ … ‖ chunk_last
//! header  = "K7FS" ‖ version 01 ‖ alg 01 ‖ log2(chunk size) ‖ 00 ‖ salt (16)
//! key     = HKDF-SHA256(salt, file key, "KRYPT7 stream v1" ‖ header[0..8] ‖ account ‖ file id)
//! chunk_i = AES-256-GCM(key, nonce = i as 88-bit big-endian ‖ last flag (00 or 01), aad = "", pt_i)
//! ```
//! Every chunk but the last holds exactly `chunk size` plaintext bytes; the last holds 1 to
//! `chunk size` bytes, or 0 when the file is empty (then it is the only chunk). Truncation,
//! extension, reordering and swapping chunks between files all fail authentication. The
//! SHA-256 of the plaintext is computed in the same pass.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::{
    CryptoError, DOMAIN, Id,
    hazmat::{self, AesGcm, NONCE_LEN, TAG_LEN},
    keys::FileKey,
};

const MAGIC: &[u8; 4] = b"K7FS";
const VERSION: u8 = 1;
const ALG_AES256GCM: u8 = 1;
pub const HEADER_LEN: usize = 24;
/// 1 MiB.
pub const DEFAULT_CHUNK_LOG2: u8 = 20;
/// Chunk sizes from 4 KiB to 16 MiB are accepted.
pub const MIN_CHUNK_LOG2: u8 = 12;
pub const MAX_CHUNK_LOG2: u8 = 24;

/// Ties a stream to its account and file, so its chunks cannot be passed off as another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamBinding {
    pub account: Id,
    pub file: Id,
}

/// A parsed stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    chunk_log2: u8,
    salt: [u8; 16],
}

impl StreamHeader {
    /// A new header with a random salt.
    pub fn generate(chunk_log2: u8) -> Result<Self, CryptoError> {
        if !(MIN_CHUNK_LOG2..=MAX_CHUNK_LOG2).contains(&chunk_log2) {
            return Err(CryptoError::Malformed("stream chunk size"));
        }
        let mut salt = [0u8; 16];
        hazmat::fill_random(&mut salt)?;
        Ok(StreamHeader { chunk_log2, salt })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(MAGIC);
        h[4] = VERSION;
        h[5] = ALG_AES256GCM;
        h[6] = self.chunk_log2;
        h[8..].copy_from_slice(&self.salt);
        h
    }

    /// Parses a header; refuses unknown versions, algorithms and chunk sizes.
    pub fn parse(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() < HEADER_LEN || &b[..4] != MAGIC {
            return Err(CryptoError::Malformed("stream header"));
        }
        if b[4] != VERSION {
            return Err(CryptoError::UnsupportedVersion(b[4]));
        }
        if b[5] != ALG_AES256GCM {
            return Err(CryptoError::UnsupportedAlgorithm(b[5]));
        }
        if !(MIN_CHUNK_LOG2..=MAX_CHUNK_LOG2).contains(&b[6]) || b[7] != 0 {
            return Err(CryptoError::Malformed("stream header"));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&b[8..HEADER_LEN]);
        Ok(StreamHeader {
            chunk_log2: b[6],
            salt,
        })
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> usize {
        1usize << self.chunk_log2
    }

    /// Ciphertext size of a stream of `plaintext_len` bytes, header included.
    pub fn ciphertext_len(&self, plaintext_len: u64) -> u64 {
        let cs = self.chunk_size() as u64;
        let chunks = plaintext_len.div_ceil(cs).max(1);
        HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64
    }
}

/// The per-stream AEAD: seals or opens chunk `i` independently, so a transfer can resume at
/// any chunk (re-sealing a chunk yields the same bytes).
pub struct StreamCipher {
    header: StreamHeader,
    aead: AesGcm,
}

impl StreamCipher {
    pub fn new(key: &FileKey, binding: &StreamBinding, header: StreamHeader) -> Self {
        let hb = header.to_bytes();
        let mut k = Zeroizing::new([0u8; 32]);
        hazmat::hkdf_sha256(
            &header.salt,
            key.expose_secret(),
            &[
                DOMAIN,
                b" stream v1",
                &hb[..8],
                &binding.account,
                &binding.file,
            ],
            &mut *k,
        );
        StreamCipher {
            header,
            aead: AesGcm::new(&k),
        }
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    fn nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n[3..11].copy_from_slice(&index.to_be_bytes());
        n[11] = u8::from(last);
        n
    }

    /// Encrypts one chunk in place, returning its tag.
    pub fn seal_chunk(
        &self,
        index: u64,
        last: bool,
        chunk: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let ok_len = if last {
            chunk.len() <= self.header.chunk_size()
        } else {
            chunk.len() == self.header.chunk_size()
        };
        if !ok_len || (last && chunk.is_empty() && index != 0) {
            return Err(CryptoError::Malformed("stream chunk length"));
        }
        self.aead
            .seal_in_place(Self::nonce(index, last), &[], chunk)
    }

    /// Decrypts one chunk (`ciphertext ‖ tag`) in place; returns the plaintext length.
    pub fn open_chunk(
        &self,
        index: u64,
        last: bool,
        chunk: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let pt_len = chunk
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::StreamTruncated)?;
        let ok_len = if last {
            pt_len <= self.header.chunk_size()
        } else {
            pt_len == self.header.chunk_size()
        };
        if !ok_len || (last && pt_len == 0 && index != 0) {
            return Err(CryptoError::Malformed("stream chunk length"));
        }
        Ok(self
            .aead
            .open_in_place(Self::nonce(index, last), &[], chunk)?
            .len())
    }
}

/// Whether a pass computes the plaintext's SHA-256 fingerprint. Files always do (it is
/// stored in the file's metadata and checked at every download); `Skip` exists for callers
/// that fingerprint elsewhere (e.g. on another thread) and for measuring the AEAD alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fingerprint {
    Sha256,
    Skip,
}

/// What a completed pass over a stream produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    pub plaintext_len: u64,
    pub ciphertext_len: u64,
    /// SHA-256 of the plaintext (`None` with [`Fingerprint::Skip`]).
    pub fingerprint: Option<[u8; 32]>,
}

/// SHA-256 over the plaintext as it passes, when asked for.
struct Hasher(Option<ring::digest::Context>);

impl Hasher {
    fn new(f: Fingerprint) -> Self {
        Hasher(
            (f == Fingerprint::Sha256).then(|| ring::digest::Context::new(&ring::digest::SHA256)),
        )
    }
    fn update(&mut self, b: &[u8]) {
        if let Some(c) = &mut self.0 {
            c.update(b);
        }
    }
    fn finish(self) -> Option<[u8; 32]> {
        self.0.map(|c| {
            let mut f = [0u8; 32];
            f.copy_from_slice(c.finish().as_ref());
            f
        })
    }
}

/// Reads until `buf` is full or the reader is at its end; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, CryptoError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Encrypts everything `reader` yields into `writer` (header first). `progress` is called
/// after each chunk with the plaintext bytes done so far.
pub fn encrypt(
    key: &FileKey,
    binding: &StreamBinding,
    chunk_log2: u8,
    fingerprint: Fingerprint,
    reader: &mut impl Read,
    writer: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<StreamSummary, CryptoError> {
    let cipher = StreamCipher::new(key, binding, StreamHeader::generate(chunk_log2)?);
    writer.write_all(&cipher.header().to_bytes())?;
    let cs = cipher.header().chunk_size();
    let mut buf = Zeroizing::new(vec![0u8; cs]);
    let mut sha = Hasher::new(fingerprint);
    let mut len = read_full(reader, &mut buf)?;
    let (mut done, mut written, mut index) = (0u64, HEADER_LEN as u64, 0u64);
    loop {
        // A full chunk is the last one only if the reader has nothing more.
        let mut next = [0u8; 1];
        let last = len < cs || read_full(reader, &mut next)? == 0;
        sha.update(&buf[..len]);
        let tag = cipher.seal_chunk(index, last, &mut buf[..len])?;
        writer.write_all(&buf[..len])?;
        writer.write_all(&tag)?;
        done += len as u64;
        written += (len + TAG_LEN) as u64;
        progress(done);
        if last {
            break;
        }
        buf[0] = next[0];
        len = 1 + read_full(reader, &mut buf[1..])?;
        index += 1;
    }
    writer.flush()?;
    Ok(StreamSummary {
        plaintext_len: done,
        ciphertext_len: written,
        fingerprint: sha.finish(),
    })
}

/// Decrypts a whole stream from `reader` into `writer`. Plaintext is written only after its
/// chunk has authenticated, but a failure can leave earlier chunks written: write to a
/// temporary file and move it into place only on success (the client does).
pub fn decrypt(
    key: &FileKey,
    binding: &StreamBinding,
    fingerprint: Fingerprint,
    reader: &mut impl Read,
    writer: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<StreamSummary, CryptoError> {
    let mut hb = [0u8; HEADER_LEN];
    if read_full(reader, &mut hb)? < HEADER_LEN {
        return Err(CryptoError::StreamTruncated);
    }
    let cipher = StreamCipher::new(key, binding, StreamHeader::parse(&hb)?);
    let full = cipher.header().chunk_size() + TAG_LEN;
    let mut buf = Zeroizing::new(vec![0u8; full]);
    let mut sha = Hasher::new(fingerprint);
    let mut len = read_full(reader, &mut buf)?;
    let (mut done, mut read, mut index) = (0u64, HEADER_LEN as u64, 0u64);
    loop {
        if len < TAG_LEN {
            return Err(CryptoError::StreamTruncated);
        }
        let mut next = [0u8; 1];
        let at_end = len < full || read_full(reader, &mut next)? == 0;
        read += len as u64;
        let pt_len = if at_end {
            // Kept only for the final chunk: a failed open leaves the buffer unusable, and the
            // copy lets us tell a stream cut at a chunk boundary from a damaged chunk.
            let mut saved = Zeroizing::new(buf[..len].to_vec());
            match cipher.open_chunk(index, true, &mut buf[..len]) {
                Ok(n) => n,
                Err(_) if len == full && cipher.open_chunk(index, false, &mut saved).is_ok() => {
                    return Err(CryptoError::StreamTruncated);
                }
                Err(e) => return Err(e),
            }
        } else {
            // A final chunk followed by more bytes fails here too (its nonce has the last
            // flag set), as an integrity error.
            cipher.open_chunk(index, false, &mut buf[..len])?
        };
        sha.update(&buf[..pt_len]);
        writer.write_all(&buf[..pt_len])?;
        done += pt_len as u64;
        progress(done);
        if at_end {
            break;
        }
        buf[0] = next[0];
        len = 1 + read_full(reader, &mut buf[1..])?;
        index += 1;
    }
    writer.flush()?;
    Ok(StreamSummary {
        plaintext_len: done,
        ciphertext_len: read,
        fingerprint: sha.finish(),
    })
}
