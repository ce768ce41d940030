//! Envelopes: AES-256-GCM with the context bound as associated data (`docs/crypto.md` §4).
//!
//! ```text
//! envelope = version (0x01) ‖ alg (0x01 = AES-256-GCM) ‖ kind ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//! AAD      = "KRYPT7" ‖ version ‖ alg ‖ kind ‖ binding
//! ```
//! The binding is fixed per kind (account id, vault id, item id, …), so an envelope moved to
//! another account, vault, item or purpose fails to decrypt. Unknown versions and algorithms
//! are refused, never guessed. Retired kind and version numbers are never reused.

use zeroize::Zeroizing;

use crate::{
    CryptoError, DOMAIN, Id,
    hazmat::{self, AesGcm, NONCE_LEN, TAG_LEN},
    keys::{AccountKey, AccountUnlockKey, CarryKey, DeviceKey, Keyset, LocalUnlockKey, VaultKey},
    secret::Key256,
};

pub const VERSION: u8 = 0x01;
pub const ALG_AES256GCM: u8 = 0x01;
const HEADER_LEN: usize = 3;
/// Bytes an envelope adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// What an envelope holds; part of the header and of the AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    KeysetUnderAuk = 0x01,
    KeysetUnderLocalUnlock = 0x02,
    KeysetUnderDevice = 0x03,
    VaultKeyUnderAccountKey = 0x04,
    LocalSecretUnderAccountKey = 0x05,
    KeysetUnderSession = 0x06,
    ManifestUnderVaultKey = 0x07,
    /// A device's old keyset, kept across a change of the Secret Key made elsewhere.
    KeysetUnderCarry = 0x08,
    /// An item whose content is not padded: no longer written, still read (items stored
    /// before padding).
    Item = 0x10,
    /// An item whose content is padded to a size bucket (§4.3).
    PaddedItem = 0x11,
}

fn header(kind: Kind) -> [u8; HEADER_LEN] {
    [VERSION, ALG_AES256GCM, kind as u8]
}

fn aad(header: &[u8; HEADER_LEN], parts: &[&[u8]]) -> Vec<u8> {
    let mut a = Vec::with_capacity(64);
    a.extend_from_slice(DOMAIN);
    a.extend_from_slice(header);
    for p in parts {
        a.extend_from_slice(p);
    }
    a
}

/// Checks version, algorithm and kind; returns the rest of the envelope.
fn check_header(bytes: &[u8], kind: Kind, min_len: usize) -> Result<&[u8], CryptoError> {
    if bytes.len() < 2 {
        return Err(CryptoError::Malformed("envelope"));
    }
    if bytes[0] != VERSION {
        return Err(CryptoError::UnsupportedVersion(bytes[0]));
    }
    if bytes[1] != ALG_AES256GCM {
        return Err(CryptoError::UnsupportedAlgorithm(bytes[1]));
    }
    if bytes.len() < min_len {
        return Err(CryptoError::Malformed("envelope (too short)"));
    }
    if bytes[2] != kind as u8 {
        return Err(CryptoError::Malformed(
            "envelope (another kind of envelope)",
        ));
    }
    Ok(&bytes[HEADER_LEN..])
}

pub(crate) fn seal_with(
    key: &Key256,
    kind: Kind,
    binding: &[&[u8]],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let h = header(kind);
    let nonce = hazmat::random_nonce()?;
    let ct = AesGcm::new(key.expose_secret()).seal(nonce, &aad(&h, binding), plaintext)?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub(crate) fn open_with(
    key: &Key256,
    kind: Kind,
    binding: &[&[u8]],
    bytes: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let rest = check_header(bytes, kind, OVERHEAD)?;
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::Malformed("envelope"))?;
    AesGcm::new(key.expose_secret()).open(nonce, &aad(&header(kind), binding), ct)
}

/// A key that may wrap the keyset.
#[derive(Clone, Copy, Debug)]
pub enum KeysetWrapper<'a> {
    Auk(&'a AccountUnlockKey),
    LocalUnlock(&'a LocalUnlockKey),
    Device(&'a DeviceKey),
    /// A CLI session key (`KRYPT7_SESSION`), valid until `krypt7 lock`.
    Session(&'a DeviceKey),
    /// Across a change of the Secret Key made on another device ([`CarryKey`]).
    Carry(&'a CarryKey),
}

impl KeysetWrapper<'_> {
    fn parts(&self) -> (&Key256, Kind) {
        match self {
            KeysetWrapper::Auk(k) => (&k.0, Kind::KeysetUnderAuk),
            KeysetWrapper::LocalUnlock(k) => (&k.0, Kind::KeysetUnderLocalUnlock),
            KeysetWrapper::Device(k) => (&k.0, Kind::KeysetUnderDevice),
            KeysetWrapper::Session(k) => (&k.0, Kind::KeysetUnderSession),
            KeysetWrapper::Carry(k) => (&k.0, Kind::KeysetUnderCarry),
        }
    }
}

/// Encrypts the keyset under one of its wrapping keys, bound to the account.
pub fn wrap_keyset(
    wrapper: KeysetWrapper<'_>,
    account: &Id,
    keyset: &Keyset,
) -> Result<Vec<u8>, CryptoError> {
    let (key, kind) = wrapper.parts();
    seal_with(key, kind, &[account], &keyset.to_bytes())
}

pub fn unwrap_keyset(
    wrapper: KeysetWrapper<'_>,
    account: &Id,
    envelope: &[u8],
) -> Result<Keyset, CryptoError> {
    let (key, kind) = wrapper.parts();
    Keyset::from_bytes(&open_with(key, kind, &[account], envelope)?)
}

/// Encrypts a vault key under the account key, bound to account and vault.
pub fn wrap_vault_key(
    account_key: &AccountKey,
    account: &Id,
    vault: &Id,
    vault_key: &VaultKey,
) -> Result<Vec<u8>, CryptoError> {
    seal_with(
        &account_key.0,
        Kind::VaultKeyUnderAccountKey,
        &[account, vault],
        vault_key.expose_secret(),
    )
}

pub fn unwrap_vault_key(
    account_key: &AccountKey,
    account: &Id,
    vault: &Id,
    envelope: &[u8],
) -> Result<VaultKey, CryptoError> {
    let pt = open_with(
        &account_key.0,
        Kind::VaultKeyUnderAccountKey,
        &[account, vault],
        envelope,
    )?;
    Ok(VaultKey(Key256::from_slice(&pt)?))
}

/// Seals a small secret that a device keeps in its cache (e.g. its server session token)
/// under the account key, bound to the account and to `label` (`docs/crypto.md` §4.1).
pub fn seal_local_secret(
    account_key: &AccountKey,
    account: &Id,
    label: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_with(
        &account_key.0,
        Kind::LocalSecretUnderAccountKey,
        &[account, label],
        secret,
    )
}

pub fn open_local_secret(
    account_key: &AccountKey,
    account: &Id,
    label: &[u8],
    envelope: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(
        &account_key.0,
        Kind::LocalSecretUnderAccountKey,
        &[account, label],
        envelope,
    )
}

/// Where an item lives: the ids its envelope is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemBinding {
    pub account: Id,
    pub vault: Id,
    pub item: Id,
}

/// The item type as a number (the client defines the meanings). Travels encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemType(pub u16);

/// A decrypted item.
pub struct OpenedItem {
    pub item_type: ItemType,
    pub format_version: u16,
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for OpenedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedItem")
            .field("item_type", &self.item_type)
            .field("format_version", &self.format_version)
            .field("plaintext", &"[REDACTED]")
            .finish()
    }
}

const ITEM_KEY_BLOCK_LEN: usize = 32 + 2 + 2;
const ITEM_KEY_PART_LEN: usize = NONCE_LEN + ITEM_KEY_BLOCK_LEN + TAG_LEN;
/// Bytes a sealed item adds to its padded plaintext.
pub const ITEM_OVERHEAD: usize = HEADER_LEN + ITEM_KEY_PART_LEN + NONCE_LEN + TAG_LEN;
/// The smallest padded content.
pub const PAD_MIN: usize = 256;
/// Padding never takes a sealed item past 1 MiB (the largest item a server keeps): a bucket
/// beyond it becomes exactly this, and content that does not fit gets its end mark only.
pub const PAD_MAX: usize = (1 << 20) - ITEM_OVERHEAD;

/// The padded length of `n` bytes of content (`docs/crypto.md` §4.3): content, the end
/// mark, and zeros up to the first bucket that holds both. Buckets are 256 bytes and then
/// each a quarter (rounded down) larger than the last: 256, 320, 400, 500, 625, 781, …; so
/// a server sees only which bucket an item's size falls in, and padding costs at most 25 %.
pub fn padded_len(n: usize) -> usize {
    let need = n + 1;
    let mut b = PAD_MIN;
    while b < need {
        b += b / 4;
    }
    if b > PAD_MAX { need.max(PAD_MAX) } else { b }
}

/// Content ‖ 0x80 ‖ 0x00… to its padded length (ISO/IEC 7816-4 padding).
fn pad(content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(padded_len(content.len())));
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(padded_len(content.len()), 0);
    out
}

/// The content of a padded plaintext: everything before the last 0x80, which only zeros
/// may follow. Anything else is refused.
fn unpad(mut padded: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .filter(|&i| padded[i] == 0x80)
        .ok_or(CryptoError::Malformed("item (its padding)"))?;
    padded.truncate(end);
    Ok(padded)
}

/// Seals a whole item (`docs/crypto.md` §4.3): a fresh per-item key wrapped under the vault
/// key together with the item type and format version, then the content under the item key.
///
/// ```text
/// item = 01 01 11 ‖ nonce_k (12) ‖ E(vault key, item key ‖ type u16 ‖ format u16) (36+16)
///                  ‖ nonce_c (12) ‖ E(item key, content ‖ 80 ‖ 00… to padded_len) (p+16)
/// AAD_k = "KRYPT7" 01 01 11 "item-key"     ‖ account ‖ vault ‖ item
/// AAD_c = "KRYPT7" 01 01 11 "item-content" ‖ account ‖ vault ‖ item ‖ type ‖ format
/// ```
/// Items stored before padding carry kind `10` and unpadded content; they are still read.
/// ```text
/// ```
pub fn seal_item(
    vault_key: &VaultKey,
    at: &ItemBinding,
    item_type: ItemType,
    format_version: u16,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let h = header(Kind::PaddedItem);
    let plaintext = &*pad(plaintext);
    let item_key = Key256::generate()?;
    let mut block = Zeroizing::new([0u8; ITEM_KEY_BLOCK_LEN]);
    block[..32].copy_from_slice(item_key.expose_secret());
    block[32..34].copy_from_slice(&item_type.0.to_be_bytes());
    block[34..36].copy_from_slice(&format_version.to_be_bytes());
    let nonce_k = hazmat::random_nonce()?;
    let wrapped =
        AesGcm::new(vault_key.expose_secret()).seal(nonce_k, &item_key_aad(&h, at), &*block)?;
    let nonce_c = hazmat::random_nonce()?;
    let content = AesGcm::new(item_key.expose_secret()).seal(
        nonce_c,
        &item_content_aad(&h, at, item_type, format_version),
        plaintext,
    )?;
    let mut out = Vec::with_capacity(ITEM_OVERHEAD + plaintext.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&nonce_k);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&nonce_c);
    out.extend_from_slice(&content);
    Ok(out)
}

/// Opens a sealed item at the binding it is expected at. Fails if it was moved, altered, or
/// sealed under another vault key.
pub fn open_item(
    vault_key: &VaultKey,
    at: &ItemBinding,
    sealed: &[u8],
) -> Result<OpenedItem, CryptoError> {
    // Either kind of item: padded (written today) or not (stored before padding). The kind
    // is in both AADs, so one cannot be passed off as the other.
    let kind = match sealed.get(2) {
        Some(&k) if k == Kind::Item as u8 => Kind::Item,
        _ => Kind::PaddedItem,
    };
    let h = header(kind);
    let rest = check_header(sealed, kind, ITEM_OVERHEAD)?;
    let (key_part, content_part) = rest.split_at(ITEM_KEY_PART_LEN);
    let nonce_k = nonce_at(key_part)?;
    let block = AesGcm::new(vault_key.expose_secret()).open(
        nonce_k,
        &item_key_aad(&h, at),
        &key_part[NONCE_LEN..],
    )?;
    let item_key = Key256::from_slice(&block[..32])?;
    let item_type = ItemType(u16::from_be_bytes([block[32], block[33]]));
    let format_version = u16::from_be_bytes([block[34], block[35]]);
    let nonce_c = nonce_at(content_part)?;
    let plaintext = AesGcm::new(item_key.expose_secret()).open(
        nonce_c,
        &item_content_aad(&h, at, item_type, format_version),
        &content_part[NONCE_LEN..],
    )?;
    let plaintext = match kind {
        Kind::PaddedItem => unpad(plaintext)?,
        _ => plaintext,
    };
    Ok(OpenedItem {
        item_type,
        format_version,
        plaintext,
    })
}

fn nonce_at(b: &[u8]) -> Result<[u8; NONCE_LEN], CryptoError> {
    b.get(..NONCE_LEN)
        .and_then(|n| n.try_into().ok())
        .ok_or(CryptoError::Malformed("envelope (too short)"))
}

fn item_key_aad(h: &[u8; HEADER_LEN], at: &ItemBinding) -> Vec<u8> {
    aad(h, &[b"item-key", &at.account, &at.vault, &at.item])
}

fn item_content_aad(h: &[u8; HEADER_LEN], at: &ItemBinding, t: ItemType, format: u16) -> Vec<u8> {
    aad(
        h,
        &[
            b"item-content",
            &at.account,
            &at.vault,
            &at.item,
            &t.0.to_be_bytes(),
            &format.to_be_bytes(),
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn padding_is_checked_when_removed() {
        let padded = pad(b"abc");
        assert_eq!(padded.len(), 256);
        assert_eq!(&unpad(padded).unwrap()[..], b"abc");
        // Content may end in zeros or 0x80 itself: only the last 0x80 is the mark.
        assert_eq!(&unpad(pad(b"a\x80\0")).unwrap()[..], b"a\x80\0");
        assert_eq!(&unpad(pad(b"")).unwrap()[..], b"");
        for bad in [&b""[..], b"\0\0\0", b"abc", b"abc\x80\x01", b"\x81\0"] {
            assert_eq!(
                unpad(Zeroizing::new(bad.to_vec())).unwrap_err(),
                CryptoError::Malformed("item (its padding)"),
                "{bad:?}"
            );
        }
    }
}
