//! Low-level primitives over `ring`. Private: the rest of the crate wraps them in envelopes
//! that always bind a context, so nothing outside can misuse a raw nonce or AAD.

use ring::{aead, hkdf, hmac, rand::SecureRandom};

use crate::CryptoError;

pub(crate) const NONCE_LEN: usize = aead::NONCE_LEN; // 12
pub(crate) const TAG_LEN: usize = 16;

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Rng)
}

pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    let mut n = [0u8; NONCE_LEN];
    fill_random(&mut n)?;
    Ok(n)
}

/// An AES-256-GCM key, expanded once (used for streaming, where it encrypts many chunks).
pub(crate) struct AesGcm(aead::LessSafeKey);

impl AesGcm {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        // Invariant: AES_256_GCM takes exactly 32 bytes, which the type guarantees.
        #[allow(clippy::unwrap_used)]
        let k = aead::UnboundKey::new(&aead::AES_256_GCM, key).unwrap();
        AesGcm(aead::LessSafeKey::new(k))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                buf,
            )
            .map_err(|_| CryptoError::Malformed("plaintext too long"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `ct || tag` in place; returns the plaintext prefix of `buf`.
    pub(crate) fn open_in_place<'a>(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        self.0
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                buf,
            )
            .map_err(|_| CryptoError::Integrity)
    }

    /// One-shot encryption: returns `ciphertext || tag`.
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, aad, &mut buf)?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// One-shot decryption of `ciphertext || tag`.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        if ciphertext_and_tag.len() < TAG_LEN {
            return Err(CryptoError::Malformed("ciphertext shorter than its tag"));
        }
        let mut buf = zeroize::Zeroizing::new(ciphertext_and_tag.to_vec());
        let n = self.open_in_place(nonce, aad, &mut buf)?.len();
        buf.truncate(n);
        Ok(buf)
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with the concatenation of `info`.
/// `out.len()` must be at most 255 × 32 bytes.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    // Invariant: callers ask for at most 255 × 32 bytes (all ask for ≤ 64).
    #[allow(clippy::unwrap_used)]
    prk.expand(info, Len(out.len())).unwrap().fill(out).unwrap();
}

/// HMAC-SHA256 tag over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Constant-time HMAC-SHA256 verification.
pub(crate) fn hmac_sha256_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let msg: Vec<u8> = parts.concat();
    hmac::verify(&k, &msg, tag).is_ok()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
