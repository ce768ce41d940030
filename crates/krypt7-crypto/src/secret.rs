//! Typed secrets: zeroized on drop, redacted in `Debug`, no `Display`, no `Serialize`.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, hazmat};

/// 256 bits of symmetric key material. The typed keys in [`crate::keys`] wrap it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    pub const LEN: usize = 32;

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut k = [0u8; 32];
        hazmat::fill_random(&mut k)?;
        Ok(Key256(k))
    }

    /// Takes ownership of raw bytes (e.g. just unwrapped). The caller's copy should be zeroized.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key256(bytes)
    }

    /// Copies from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("key length"))?;
        Ok(Key256(arr))
    }

    /// The raw bytes. Named so that every use is easy to find in review.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256([REDACTED])")
    }
}

/// A user's password, normalised to Unicode NFKD so that the same characters typed on
/// different systems derive the same key (see `docs/crypto.md` §3).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        let mut raw: Zeroizing<String> = Zeroizing::new(password.into());
        use unicode_normalization::UnicodeNormalization;
        let normalized: String = raw.nfkd().collect();
        raw.zeroize();
        Password(normalized)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The NFKD-normalised UTF-8 bytes fed to Argon2id.
    pub fn expose_secret(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Declares a newtype over [`Key256`] for one role in the key hierarchy, so that keys of
/// different roles cannot be confused at compile time.
macro_rules! typed_key {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone)]
        pub struct $name(pub(crate) $crate::secret::Key256);

        impl $name {
            /// A fresh random key.
            pub fn generate() -> Result<Self, $crate::CryptoError> {
                Ok($name($crate::secret::Key256::generate()?))
            }
            /// The underlying key material (e.g. to store it in the OS keychain).
            pub fn expose_secret(&self) -> &[u8; 32] {
                self.0.expose_secret()
            }
            /// Rebuilds the key from its 32 raw bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                $name($crate::secret::Key256::from_bytes(bytes))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}
pub(crate) use typed_key;
