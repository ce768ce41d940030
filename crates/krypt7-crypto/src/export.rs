//! Encrypted export files (`docs/crypto.md` §4.4): the whole vault as JSON, sealed under a
//! separate export password through Argon2id, readable with that password alone.
//!
//! ```text
//! file = "KRYPT7-EXPORT\n" ‖ 01 (version) ‖ 01 (AES-256-GCM) ‖ m u32 ‖ t u32 ‖ p u32 ‖ salt (16)
//!        ‖ nonce (12) ‖ ciphertext ‖ tag
//! key  = HKDF-SHA256(salt, Argon2id(NFKD(password), salt, m, t, p, 32), "KRYPT7 export v1")
//! AAD  = every byte before the nonce
//! ```

use zeroize::Zeroizing;

use crate::{
    CryptoError, DOMAIN, Password,
    hazmat::{self, AesGcm, NONCE_LEN, TAG_LEN},
    kdf::{self, KdfParams},
};

const MAGIC: &[u8] = b"KRYPT7-EXPORT\n";
const HEADER_LEN: usize = MAGIC.len() + 2 + 12 + 16;

fn key(
    password: &Password,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut a = Zeroizing::new([0u8; 32]);
    kdf::argon2id(params.validate()?, password.expose_secret(), salt, &mut *a)?;
    let mut k = Zeroizing::new([0u8; 32]);
    hazmat::hkdf_sha256(salt, &*a, &[DOMAIN, b" export v1"], &mut *k);
    Ok(k)
}

/// Seals `plaintext` under `password` with `params` (at least the minimum).
pub fn seal(
    password: &Password,
    params: KdfParams,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if password.is_empty() {
        return Err(CryptoError::Malformed("empty export password"));
    }
    let mut salt = [0u8; 16];
    hazmat::fill_random(&mut salt)?;
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 1]);
    for v in [params.m_kib, params.t, params.p] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    let k = key(password, params, &salt)?;
    let nonce = hazmat::random_nonce()?;
    let ct = AesGcm::new(&k).seal(nonce, &out, plaintext)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens an export file. Refuses other formats, weaker parameters and any alteration.
pub fn open(password: &Password, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if file.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || !file.starts_with(MAGIC) {
        return Err(CryptoError::Malformed("export file"));
    }
    let h = MAGIC.len();
    if file[h] != 1 {
        return Err(CryptoError::UnsupportedVersion(file[h]));
    }
    if file[h + 1] != 1 {
        return Err(CryptoError::UnsupportedAlgorithm(file[h + 1]));
    }
    let u = |i: usize| u32::from_be_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
    let params = KdfParams {
        m_kib: u(h + 2),
        t: u(h + 6),
        p: u(h + 10),
    };
    let salt = &file[h + 14..HEADER_LEN];
    let k = key(password, params, salt)?;
    let nonce: [u8; NONCE_LEN] = file[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        .try_into()
        .map_err(|_| CryptoError::Malformed("export file"))?;
    AesGcm::new(&k).open(nonce, &file[..HEADER_LEN], &file[HEADER_LEN + NONCE_LEN..])
}
