//! The key hierarchy (`docs/crypto.md` §1):
//!
//! ```text
//! password ─Argon2id─┐
//!                    ├─HKDF─▶ OPAQUE password ─OPAQUE─▶ export key ─HKDF─▶ AccountUnlockKey ─┐
//! Secret Key ────────┘                                                                   │
//!        (same, local salt) ─HKDF─▶ LocalUnlockKey ──────────────────────────────────────┤ wrap
//!        OS keychain ─────────────▶ DeviceKey ───────────────────────────────────────────┤
//!                                                                                        ▼
//!                                  Keyset { AccountKey, IdentityKeyPair, EncryptionKeyPair }
//!                                        AccountKey ─wrap─▶ VaultKey ─wrap─▶ per-item key ─▶ item
//!                                                                         file item ─▶ FileKey ─▶ stream
//! ```

use zeroize::Zeroizing;

use crate::{
    CryptoError, DOMAIN, Key256, hazmat,
    pk::{EncryptionKeyPair, IdentityKeyPair},
    secret::typed_key,
};

typed_key!(
    /// Account Unlock Key: derived from OPAQUE's export key; wraps the keyset held by the server.
    AccountUnlockKey
);
typed_key!(
    /// Local Unlock Key: derived from password + Secret Key with this device's own KDF setup;
    /// wraps the device's copy of the keyset so the vault unlocks offline.
    LocalUnlockKey
);
typed_key!(
    /// A random key kept in the OS keychain; wraps the keyset for keychain unlock.
    DeviceKey
);
typed_key!(
    /// The symmetric root of the keyset; wraps vault keys.
    AccountKey
);
typed_key!(
    /// One per vault; wraps the per-item keys of that vault.
    VaultKey
);
typed_key!(
    /// One per file; the streaming AEAD's input key. Travels inside the file item's envelope.
    FileKey
);

impl AccountUnlockKey {
    /// The AUK from OPAQUE's export key (HKDF, so the export key itself is never used twice).
    pub fn from_opaque_export_key(export_key: &[u8]) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        hazmat::hkdf_sha256(DOMAIN, export_key, &[DOMAIN, b" AUK v1"], &mut *k);
        AccountUnlockKey(Key256::from_bytes(*k))
    }
}

typed_key!(
    /// Wraps a device's old keyset across a change of the Secret Key made on another device,
    /// so that its unsent changes open again under the new keyset. Derived from the encryption
    /// key pair's secret, which both keysets hold (`docs/crypto.md` §4.1, kind 08).
    CarryKey
);

impl CarryKey {
    pub fn derive(encryption: &EncryptionKeyPair) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        hazmat::hkdf_sha256(
            DOMAIN,
            encryption.secret_bytes(),
            &[DOMAIN, b" carry v1"],
            &mut *k,
        );
        CarryKey(Key256::from_bytes(*k))
    }
}

impl From<Key256> for LocalUnlockKey {
    fn from(k: Key256) -> Self {
        LocalUnlockKey(k)
    }
}

/// The account's private keys. Serialised only inside a keyset envelope.
pub struct Keyset {
    pub account_key: AccountKey,
    pub identity: IdentityKeyPair,
    pub encryption: EncryptionKeyPair,
}

pub(crate) const KEYSET_VERSION: u8 = 1;
pub(crate) const KEYSET_LEN: usize = 1 + 32 + 32 + 32;

impl Keyset {
    /// Fresh keys for a new account.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Keyset {
            account_key: AccountKey::generate()?,
            identity: IdentityKeyPair::generate()?,
            encryption: EncryptionKeyPair::generate()?,
        })
    }

    /// A second copy of the same keys.
    pub fn try_clone(&self) -> Result<Self, CryptoError> {
        Keyset::from_bytes(&self.to_bytes())
    }

    /// The same key pairs under a fresh account key: what a change of the Secret Key makes
    /// (`docs/crypto.md` §1, "Changing the Secret Key"). The pairs stay, as others pinned them.
    pub fn with_new_account_key(&self) -> Result<Self, CryptoError> {
        Ok(Keyset {
            account_key: AccountKey::generate()?,
            identity: IdentityKeyPair::from_seed(*self.identity.seed())?,
            encryption: EncryptionKeyPair::from_secret_bytes(*self.encryption.secret_bytes())?,
        })
    }

    /// An identifier only this account's devices can compute, the same on each of them and
    /// across Secret Key changes (keyed by the encryption key, which a Secret Key change
    /// keeps): HMAC-SHA256(HKDF(encryption secret, "KRYPT7 ids v1"), context ‖ 00 ‖ data),
    /// its first 16 bytes. The server sees such ids without learning what they stand for
    /// (the mail vault's id, a message's item id).
    pub fn derived_id(&self, context: &[u8], data: &[u8]) -> [u8; 16] {
        let mut k = Zeroizing::new([0u8; 32]);
        hazmat::hkdf_sha256(
            DOMAIN,
            self.encryption.secret_bytes(),
            &[DOMAIN, b" ids v1"],
            &mut *k,
        );
        let mac = hazmat::hmac_sha256(&*k, &[context, &[0], data]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&mac[..16]);
        id
    }

    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::with_capacity(KEYSET_LEN));
        b.push(KEYSET_VERSION);
        b.extend_from_slice(self.account_key.expose_secret());
        b.extend_from_slice(self.identity.seed());
        b.extend_from_slice(self.encryption.secret_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() != KEYSET_LEN {
            return Err(CryptoError::Malformed("keyset"));
        }
        if b[0] != KEYSET_VERSION {
            return Err(CryptoError::UnsupportedVersion(b[0]));
        }
        let arr = |r: std::ops::Range<usize>| -> [u8; 32] {
            let mut a = [0u8; 32];
            a.copy_from_slice(&b[r]);
            a
        };
        Ok(Keyset {
            account_key: AccountKey::from_bytes(arr(1..33)),
            identity: IdentityKeyPair::from_seed(arr(33..65))?,
            encryption: EncryptionKeyPair::from_secret_bytes(arr(65..97))?,
        })
    }
}

impl std::fmt::Debug for Keyset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyset([REDACTED])")
    }
}
