//! Two-secret key derivation (`docs/crypto.md` §3).
//!
//! ```text
//! a   = Argon2id(password = NFKD(password), salt, m, t, p, 32 bytes)       (RFC 9106, v0x13)
//! key = HKDF-SHA256(salt = setup salt, ikm = a ‖ SecretKey, info = "KRYPT7 2SKD v1" ‖ purpose)
//! ```
//! The minimum parameters are compiled in ([`KdfParams::MINIMUM`]); every parameter set is
//! checked against them wherever it came from (server, local cache, import file). A stored
//! set carries an HMAC keyed by the Secret Key, so neither the server nor someone with the
//! device's disk can swap it for another set without the Secret Key.

use zeroize::Zeroizing;

use crate::{CryptoError, DOMAIN, Key256, Password, hazmat, secret_key::SecretKey};

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The weakest set this client will ever run: m = 64 MiB, t = 3, p = 4.
    pub const MINIMUM: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// What new accounts get.
    pub const DEFAULT: KdfParams = Self::MINIMUM;
    /// Ceilings against a denial of service by a hostile server or file.
    const MAX_M_KIB: u32 = 4 * 1024 * 1024;
    const MAX_T: u32 = 64;
    const MAX_P: u32 = 64;

    /// Checks the set against the compiled-in minimum and the sanity ceilings.
    pub fn validate(self) -> Result<Self, CryptoError> {
        let min = Self::MINIMUM;
        if self.m_kib < min.m_kib || self.t < min.t || self.p < min.p {
            return Err(CryptoError::WeakKdfParams {
                m_kib: self.m_kib,
                t: self.t,
                p: self.p,
                min_m_kib: min.m_kib,
                min_t: min.t,
                min_p: min.p,
            });
        }
        if self.m_kib > Self::MAX_M_KIB {
            return Err(CryptoError::ExcessiveKdfParams("memory above 4 GiB"));
        }
        if self.t > Self::MAX_T {
            return Err(CryptoError::ExcessiveKdfParams("more than 64 passes"));
        }
        if self.p > Self::MAX_P {
            return Err(CryptoError::ExcessiveKdfParams("more than 64 lanes"));
        }
        Ok(self)
    }

    /// True when `self` costs at least as much as `other` in every dimension (used to refuse
    /// a set weaker than the one this device used last).
    pub fn at_least(self, other: KdfParams) -> bool {
        self.m_kib >= other.m_kib && self.t >= other.t && self.p >= other.p
    }
}

/// What a derived key is for; each purpose yields an independent key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// The Local Unlock Key that wraps this device's copy of the keyset.
    LocalUnlock,
    /// The key protecting an encrypted export file.
    ExportFile,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::LocalUnlock => b"local-unlock",
            Purpose::ExportFile => b"export-file",
        }
    }
}

const SETUP_VERSION: u8 = 1;
const ALG_ARGON2ID_13: u8 = 1;
const SALT_LEN: usize = 16;
/// Length of [`KdfSetup::seal`]'s output.
pub const SEALED_SETUP_LEN: usize = 1 + 1 + 4 + 4 + 4 + 1 + SALT_LEN + 32;

/// A parameter set with its random salt: everything needed to re-derive a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdfSetup {
    params: KdfParams,
    salt: [u8; SALT_LEN],
}

impl KdfSetup {
    /// A fresh setup with a random salt. Refuses parameters below the minimum.
    pub fn generate(params: KdfParams) -> Result<Self, CryptoError> {
        let params = params.validate()?;
        let mut salt = [0u8; SALT_LEN];
        hazmat::fill_random(&mut salt)?;
        Ok(KdfSetup { params, salt })
    }

    pub fn params(&self) -> KdfParams {
        self.params
    }

    pub(crate) fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// Serialises the setup with an HMAC-SHA256 keyed from the Secret Key (`docs/crypto.md` §3.2).
    pub fn seal(&self, secret_key: &SecretKey) -> Vec<u8> {
        let body = self.body();
        let mac = hazmat::hmac_sha256(&*mac_key(secret_key), &[DOMAIN, b" kdf-setup v1", &body]);
        let mut out = body;
        out.extend_from_slice(&mac);
        out
    }

    /// Parses and authenticates a sealed setup. Refuses unknown versions, parameters below
    /// the compiled-in minimum, and any alteration.
    pub fn open(bytes: &[u8], secret_key: &SecretKey) -> Result<Self, CryptoError> {
        if bytes.len() < 2 {
            return Err(CryptoError::Malformed("key-derivation setup"));
        }
        if bytes[0] != SETUP_VERSION {
            return Err(CryptoError::UnsupportedVersion(bytes[0]));
        }
        if bytes[1] != ALG_ARGON2ID_13 {
            return Err(CryptoError::UnsupportedAlgorithm(bytes[1]));
        }
        if bytes.len() != SEALED_SETUP_LEN || usize::from(bytes[14]) != SALT_LEN {
            return Err(CryptoError::Malformed("key-derivation setup"));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let params = KdfParams {
            m_kib: u32_at(2),
            t: u32_at(6),
            p: u32_at(10),
        }
        .validate()?;
        let (body, mac) = bytes.split_at(SEALED_SETUP_LEN - 32);
        if !hazmat::hmac_sha256_verify(
            &*mac_key(secret_key),
            &[DOMAIN, b" kdf-setup v1", body],
            mac,
        ) {
            return Err(CryptoError::KdfParamsTampered);
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&body[15..15 + SALT_LEN]);
        Ok(KdfSetup { params, salt })
    }

    fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(SEALED_SETUP_LEN);
        b.push(SETUP_VERSION);
        b.push(ALG_ARGON2ID_13);
        b.extend_from_slice(&self.params.m_kib.to_be_bytes());
        b.extend_from_slice(&self.params.t.to_be_bytes());
        b.extend_from_slice(&self.params.p.to_be_bytes());
        b.push(SALT_LEN as u8);
        b.extend_from_slice(&self.salt);
        b
    }

    /// Derives the key for `purpose` from the password and the Secret Key. This runs Argon2id
    /// with this setup's parameters (≈ 0.1–0.5 s and `m` of memory).
    pub fn derive(
        &self,
        password: &Password,
        secret_key: &SecretKey,
        purpose: Purpose,
    ) -> Result<Key256, CryptoError> {
        let params = self.params.validate()?;
        let mut a = Zeroizing::new([0u8; 64]);
        argon2id(params, password.expose_secret(), &self.salt, &mut a[..32])?;
        a[32..48].copy_from_slice(secret_key.expose_secret());
        let mut out = Zeroizing::new([0u8; 32]);
        hazmat::hkdf_sha256(
            &self.salt,
            &a[..48],
            &[DOMAIN, b" 2SKD v1 ", purpose.label()],
            &mut *out,
        );
        Ok(Key256::from_bytes(*out))
    }
}

fn mac_key(secret_key: &SecretKey) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    hazmat::hkdf_sha256(
        DOMAIN,
        secret_key.expose_secret(),
        &[DOMAIN, b" kdf-setup mac v1"],
        &mut *k,
    );
    k
}

/// Argon2id v1.3 (RFC 9106) into `out`.
pub(crate) fn argon2id(
    params: KdfParams,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    argon2id_full(params, password, salt, None, None, out)
}

/// Argon2id with the optional secret and associated data of RFC 9106 (used by the
/// known-answer tests; KRYPT7's own derivations use neither).
pub(crate) fn argon2id_full(
    params: KdfParams,
    password: &[u8],
    salt: &[u8],
    secret: Option<&[u8]>,
    ad: Option<&[u8]>,
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let mut b = argon2::ParamsBuilder::new();
    b.m_cost(params.m_kib)
        .t_cost(params.t)
        .p_cost(params.p)
        .output_len(out.len());
    if let Some(ad) = ad {
        b.data(argon2::AssociatedData::new(ad).map_err(|_| CryptoError::Malformed("Argon2 data"))?);
    }
    let p = b
        .build()
        .map_err(|_| CryptoError::Malformed("Argon2 parameters"))?;
    let ctx = match secret {
        Some(s) => argon2::Argon2::new_with_secret(
            s,
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            p,
        )
        .map_err(|_| CryptoError::Malformed("Argon2 secret"))?,
        None => argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p),
    };
    ctx.hash_password_into(password, salt, out)
        .map_err(|_| CryptoError::Malformed("Argon2 input"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk() -> SecretKey {
        SecretKey::from_bytes([7; 16])
    }

    #[test]
    fn weaker_parameter_sets_are_refused() {
        for weak in [
            KdfParams {
                m_kib: 64 * 1024 - 1,
                t: 3,
                p: 4,
            },
            KdfParams {
                m_kib: 64 * 1024,
                t: 2,
                p: 4,
            },
            KdfParams {
                m_kib: 64 * 1024,
                t: 3,
                p: 1,
            },
            KdfParams {
                m_kib: 8,
                t: 1,
                p: 1,
            },
        ] {
            assert!(
                matches!(weak.validate(), Err(CryptoError::WeakKdfParams { .. })),
                "{weak:?}"
            );
            assert!(matches!(
                KdfSetup::generate(weak),
                Err(CryptoError::WeakKdfParams { .. })
            ));
            // A weak set that arrives already sealed (e.g. from a server that knows the MAC
            // construction but not the Secret Key) is refused on its parameters alone.
            let forged = KdfSetup {
                params: weak,
                salt: [1; 16],
            }
            .seal(&sk());
            assert!(matches!(
                KdfSetup::open(&forged, &sk()),
                Err(CryptoError::WeakKdfParams { .. })
            ));
        }
        assert!(
            KdfParams {
                m_kib: 5 * 1024 * 1024,
                t: 3,
                p: 4
            }
            .validate()
            .is_err()
        );
        assert!(KdfParams::MINIMUM.validate().is_ok());
        let pw = Password::new("pw");
        let weak = KdfSetup {
            params: KdfParams {
                m_kib: 8,
                t: 1,
                p: 1,
            },
            salt: [0; 16],
        };
        assert!(weak.derive(&pw, &sk(), Purpose::LocalUnlock).is_err());
    }

    #[test]
    fn tampered_stored_parameters_are_refused() {
        let setup = KdfSetup::generate(KdfParams {
            m_kib: 128 * 1024,
            t: 4,
            p: 4,
        })
        .unwrap();
        let sealed = setup.seal(&sk());
        assert_eq!(sealed.len(), SEALED_SETUP_LEN);
        assert_eq!(KdfSetup::open(&sealed, &sk()).unwrap(), setup);
        // Lowering memory to a value that is still above the minimum: only the MAC catches it.
        let mut t = sealed.clone();
        t[2..6].copy_from_slice(&(64u32 * 1024).to_be_bytes());
        assert_eq!(
            KdfSetup::open(&t, &sk()),
            Err(CryptoError::KdfParamsTampered)
        );
        // Every single-bit flip is refused.
        for i in 0..sealed.len() * 8 {
            let mut t = sealed.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert!(KdfSetup::open(&t, &sk()).is_err(), "bit {i}");
        }
        // Another Secret Key cannot verify it.
        assert_eq!(
            KdfSetup::open(&sealed, &SecretKey::from_bytes([8; 16])),
            Err(CryptoError::KdfParamsTampered)
        );
        assert_eq!(
            KdfSetup::open(&sealed[..40], &sk()),
            Err(CryptoError::Malformed("key-derivation setup"))
        );
        let mut v = sealed.clone();
        v[0] = 2;
        assert_eq!(
            KdfSetup::open(&v, &sk()),
            Err(CryptoError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn derivation_mixes_both_secrets_and_separates_purposes() {
        let setup = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
        let pw = Password::new("correct horse");
        let k =
            |pw: &Password, sk: &SecretKey, p| *setup.derive(pw, sk, p).unwrap().expose_secret();
        let base = k(&pw, &sk(), Purpose::LocalUnlock);
        assert_eq!(base, k(&pw, &sk(), Purpose::LocalUnlock));
        assert_ne!(
            base,
            k(&Password::new("correct horsf"), &sk(), Purpose::LocalUnlock)
        );
        assert_ne!(
            base,
            k(&pw, &SecretKey::from_bytes([8; 16]), Purpose::LocalUnlock)
        );
        assert_ne!(base, k(&pw, &sk(), Purpose::ExportFile));
        // NFKD: a precomposed and a decomposed "é" are the same password.
        assert_eq!(
            k(&Password::new("caf\u{e9}"), &sk(), Purpose::ExportFile),
            k(&Password::new("cafe\u{301}"), &sk(), Purpose::ExportFile)
        );
    }
}
