use thiserror::Error;

/// Every way a KRYPT7 cryptographic operation can fail.
///
/// Messages never contain key material, plaintext or ciphertext bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Key-derivation parameters below the compiled-in minimum, from wherever they came.
    #[error(
        "key-derivation parameters are weaker than this client allows \
         (got m={m_kib} KiB, t={t}, p={p}; minimum m={min_m_kib} KiB, t={min_t}, p={min_p})"
    )]
    WeakKdfParams {
        m_kib: u32,
        t: u32,
        p: u32,
        min_m_kib: u32,
        min_t: u32,
        min_p: u32,
    },
    /// Key-derivation parameters above the sanity ceiling (a denial-of-service attempt).
    #[error("key-derivation parameters exceed what this client will run ({0})")]
    ExcessiveKdfParams(&'static str),
    /// A stored parameter set whose MAC does not verify: it was altered.
    #[error(
        "stored key-derivation parameters were altered (their authentication code does not match)"
    )]
    KdfParamsTampered,
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    #[error("unsupported algorithm id {0}")]
    UnsupportedAlgorithm(u8),
    /// Structurally invalid bytes (too short, bad lengths, wrong kind tag, …).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Authentication failed: wrong key, wrong binding, or altered ciphertext.
    #[error("decryption failed: wrong key, or the data was altered or moved")]
    Integrity,
    /// A stream ended before its final chunk.
    #[error("encrypted stream is truncated")]
    StreamTruncated,
    #[error("invalid Secret Key: {0}")]
    InvalidSecretKey(&'static str),
    #[error("signature does not verify")]
    BadSignature,
    #[error("this message is not addressed to this key")]
    NotARecipient,
    #[error("invalid public key")]
    InvalidPublicKey,
    /// OPAQUE sign-in failed: wrong password or Secret Key, unknown account, or a server
    /// that answered falsely. Deliberately one error: which of these is not knowable.
    #[error(
        "sign-in failed: the password or Secret Key is wrong, or the server's answer is not valid"
    )]
    SignInFailed,
    #[error("the system random number generator failed")]
    Rng,
    /// An I/O error from the caller's reader or writer (streaming only).
    #[error("I/O error during streaming: {0}")]
    Io(String),
}

impl From<std::io::Error> for CryptoError {
    fn from(e: std::io::Error) -> Self {
        CryptoError::Io(e.to_string())
    }
}
