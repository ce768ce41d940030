//! KRYPT7's primitives, key hierarchy and envelope formats.
//!
//! This crate does no I/O (the streaming AEAD works over caller-supplied `Read`/`Write`)
//! and depends on no other KRYPT7 crate. Every byte format here is specified in
//! `docs/crypto.md`; the section cited next to each type is the one it implements.
//!
//! Low-level primitives live in the private [`hazmat`] module; only envelopes and typed
//! keys are exported, so a caller cannot encrypt without binding the context.
#![forbid(unsafe_code)]

pub mod envelope;
mod error;
pub mod export;
mod hazmat;
#[cfg(test)]
mod kat;
pub mod kdf;
pub mod keys;
pub mod manifest;
pub mod opaque;
pub mod pk;
pub mod secret;
pub mod secret_key;
pub mod stream;

pub use error::CryptoError;
pub use secret::{Key256, Password};

/// Bytes that every KRYPT7 domain-separation string starts with.
pub(crate) const DOMAIN: &[u8] = b"KRYPT7";

/// A 128-bit identifier (account, vault, item, device), as raw bytes. The protocol layer
/// uses UUIDs; this crate only needs their bytes to bind ciphertexts to them.
pub type Id = [u8; 16];
