//! Vault manifests (`docs/crypto.md` §4.5, `docs/sync.md`): a keyed multiset hash over a
//! vault's live items, sealed under the vault key, so a server cannot withhold, resurrect,
//! replay or inject an item without the vault's readers noticing.
//!
//! ```text
//! k_m    = HKDF-SHA256(salt = "KRYPT7", ikm = vault key, info = "KRYPT7 manifest v1")
//! term   = HMAC-SHA256(k_m, "item" ‖ item id (16) ‖ revision (u64 BE) ‖ SHA-256(envelope))
//! digest = Σ term  mod 2^256   (each term read as a big-endian integer)
//! sealed = envelope kind 07 under the vault key, binding account ‖ vault, holding
//!          01 ‖ version (u64 BE) ‖ count (u64 BE) ‖ digest (32)
//! ```
//! The sum updates in O(1) per changed item (subtract the old term, add the new one), and
//! without `k_m` nobody can compute a term, so no other set of items sums to the same digest.

use crate::{
    CryptoError, Id, envelope,
    hazmat::{self},
    keys::VaultKey,
    secret::Key256,
};

/// Format 01 (version, count, digest) is still read; 02 adds the chain and the author.
const FORMAT_1: u8 = 0x01;
const FORMAT: u8 = 0x02;
const LEN_1: usize = 1 + 8 + 8 + 32;
/// Format 02 without the device name.
const LEN_2: usize = LEN_1 + 32 + 8 + 16 + 1;
/// The longest device name a manifest carries (longer ones are cut at a character).
pub const MAX_NAME: usize = 64;

/// The key that computes terms; derived from the vault key, never stored.
pub struct ManifestKey(Key256);

impl std::fmt::Debug for ManifestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManifestKey([REDACTED])")
    }
}

impl ManifestKey {
    pub fn derive(vault_key: &VaultKey) -> Self {
        let mut k = [0u8; 32];
        hazmat::hkdf_sha256(
            crate::DOMAIN,
            vault_key.expose_secret(),
            &[b"KRYPT7 manifest v1"],
            &mut k,
        );
        ManifestKey(Key256::from_bytes(k))
    }

    /// One item's contribution: its id, its server revision and the hash of its envelope.
    pub fn term(&self, item: &Id, revision: u64, envelope: &[u8]) -> Term {
        let h = hazmat::sha256(&[envelope]);
        Term(hazmat::hmac_sha256(
            self.0.expose_secret(),
            &[b"item", item, &revision.to_be_bytes(), &h],
        ))
    }
}

/// One item's term (32 bytes; reveals nothing without the manifest key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term(pub [u8; 32]);

/// A multiset hash: the sum of the terms of a set of items, mod 2^256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn add(&mut self, t: &Term) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(self.0[i]) + u16::from(t.0[i]) + carry;
            self.0[i] = s as u8;
            carry = s >> 8;
        }
    }

    pub fn sub(&mut self, t: &Term) {
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(self.0[i]) - i16::from(t.0[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            self.0[i] = d as u8;
        }
    }
}

/// What a manifest says about its vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Grows by one at every commit; a reader refuses a version below one it verified.
    pub version: u64,
    /// Live items in the vault.
    pub count: u64,
    pub digest: Digest,
    /// Who made it, on what: absent only in format 01.
    pub chain: Option<Chain>,
}

/// What a format-02 manifest says of the commit that made it: the manifest it follows (so a
/// reader verifies every version links to the one before, and two histories cannot be
/// merged unnoticed) and the device that committed, by its own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// [`link`] of the previous version's sealed manifest; zeros for version 1.
    pub prev: [u8; 32],
    /// Milliseconds since 1970 on the committing device's clock.
    pub time: u64,
    /// The committing device's id (random, chosen by the device).
    pub device: [u8; 16],
    /// Its name, as its user knows it (at most [`MAX_NAME`] bytes).
    pub device_name: String,
}

/// What the next manifest names as its previous one: SHA-256 of the sealed bytes.
pub fn link(sealed: &[u8]) -> [u8; 32] {
    hazmat::sha256(&[b"KRYPT7 manifest link", sealed])
}

/// `name` cut to at most [`MAX_NAME`] bytes at a character boundary.
pub fn short_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Seals a format-02 manifest (`m.chain` is required: every new manifest links).
pub fn seal_manifest(
    vault_key: &VaultKey,
    account: &Id,
    vault: &Id,
    m: &Manifest,
) -> Result<Vec<u8>, CryptoError> {
    let c = m
        .chain
        .as_ref()
        .ok_or(CryptoError::Malformed("manifest (no chain)"))?;
    let name = short_name(&c.device_name);
    let mut pt = Vec::with_capacity(LEN_2 + name.len());
    pt.push(FORMAT);
    pt.extend_from_slice(&m.version.to_be_bytes());
    pt.extend_from_slice(&m.count.to_be_bytes());
    pt.extend_from_slice(&m.digest.0);
    pt.extend_from_slice(&c.prev);
    pt.extend_from_slice(&c.time.to_be_bytes());
    pt.extend_from_slice(&c.device);
    pt.push(name.len() as u8);
    pt.extend_from_slice(name.as_bytes());
    envelope::seal_with(
        &vault_key.0,
        envelope::Kind::ManifestUnderVaultKey,
        &[account, vault],
        &pt,
    )
}

pub fn open_manifest(
    vault_key: &VaultKey,
    account: &Id,
    vault: &Id,
    sealed: &[u8],
) -> Result<Manifest, CryptoError> {
    let pt = envelope::open_with(
        &vault_key.0,
        envelope::Kind::ManifestUnderVaultKey,
        &[account, vault],
        sealed,
    )?;
    let u = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&pt[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let arr = |at: usize| -> [u8; 32] {
        let mut b = [0u8; 32];
        b.copy_from_slice(&pt[at..at + 32]);
        b
    };
    let chain = match pt.first() {
        Some(&FORMAT_1) if pt.len() == LEN_1 => None,
        Some(&FORMAT) if pt.len() >= LEN_2 && pt.len() == LEN_2 + usize::from(pt[LEN_2 - 1]) => {
            let mut device = [0u8; 16];
            device.copy_from_slice(&pt[89..105]);
            let device_name = std::str::from_utf8(&pt[LEN_2..])
                .map_err(|_| CryptoError::Malformed("manifest (device name)"))?
                .to_string();
            if device_name.len() > MAX_NAME {
                return Err(CryptoError::Malformed("manifest (device name)"));
            }
            Some(Chain {
                prev: arr(49),
                time: u(81),
                device,
                device_name,
            })
        }
        Some(&(FORMAT_1 | FORMAT)) => return Err(CryptoError::Malformed("manifest (length)")),
        Some(&v) => return Err(CryptoError::UnsupportedVersion(v)),
        None => return Err(CryptoError::Malformed("manifest (length)")),
    };
    Ok(Manifest {
        version: u(1),
        count: u(9),
        digest: Digest(arr(17)),
        chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(b: u8) -> Term {
        Term([b; 32])
    }

    #[test]
    fn adding_then_subtracting_returns_to_the_start_in_any_order() {
        let mut d = Digest::default();
        for b in [0xff, 0x01, 0x80, 0x7f] {
            d.add(&term(b));
        }
        for b in [0x80, 0x01, 0x7f, 0xff] {
            d.sub(&term(b));
        }
        assert_eq!(d, Digest::default());
    }

    #[test]
    fn the_sum_wraps_mod_2_pow_256() {
        let mut d = Digest([0xff; 32]);
        d.add(&Term({
            let mut t = [0u8; 32];
            t[31] = 1;
            t
        }));
        assert_eq!(d, Digest::default());
        d.sub(&Term({
            let mut t = [0u8; 32];
            t[31] = 2;
            t
        }));
        let mut want = [0xff; 32];
        want[31] = 0xfe;
        assert_eq!(d, Digest(want));
    }

    #[test]
    fn terms_depend_on_key_id_revision_and_envelope() {
        let k = ManifestKey::derive(&VaultKey::from_bytes([7; 32]));
        let other = ManifestKey::derive(&VaultKey::from_bytes([8; 32]));
        let t = k.term(&[1; 16], 3, b"env");
        assert_ne!(t, other.term(&[1; 16], 3, b"env"));
        assert_ne!(t, k.term(&[2; 16], 3, b"env"));
        assert_ne!(t, k.term(&[1; 16], 4, b"env"));
        assert_ne!(t, k.term(&[1; 16], 3, b"enw"));
        assert_eq!(t, k.term(&[1; 16], 3, b"env"));
    }

    fn chained(version: u64, prev: [u8; 32], name: &str) -> Manifest {
        Manifest {
            version,
            count: 2,
            digest: Digest([3; 32]),
            chain: Some(Chain {
                prev,
                time: 1_700_000_000_123,
                device: [5; 16],
                device_name: name.into(),
            }),
        }
    }

    #[test]
    fn a_manifest_opens_only_for_its_vault_and_account() {
        let vk = VaultKey::from_bytes([9; 32]);
        let m = chained(5, [6; 32], "laptop");
        let sealed = seal_manifest(&vk, &[1; 16], &[2; 16], &m).unwrap();
        assert_eq!(open_manifest(&vk, &[1; 16], &[2; 16], &sealed).unwrap(), m);
        assert!(open_manifest(&vk, &[1; 16], &[3; 16], &sealed).is_err());
        assert!(open_manifest(&vk, &[4; 16], &[2; 16], &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open_manifest(&vk, &[1; 16], &[2; 16], &bad).is_err());
        }
    }

    #[test]
    fn every_manifest_is_sealed_with_its_chain_and_a_name_is_cut_at_a_character() {
        let vk = VaultKey::from_bytes([9; 32]);
        let mut unchained = chained(1, [0; 32], "x");
        unchained.chain = None;
        assert!(seal_manifest(&vk, &[1; 16], &[2; 16], &unchained).is_err());
        let long = "é".repeat(40); // 80 bytes
        let sealed = seal_manifest(&vk, &[1; 16], &[2; 16], &chained(1, [0; 32], &long)).unwrap();
        let name = open_manifest(&vk, &[1; 16], &[2; 16], &sealed)
            .unwrap()
            .chain
            .unwrap()
            .device_name;
        assert_eq!(name, "é".repeat(32));
        assert_ne!(
            link(&sealed),
            link(&seal_manifest(&vk, &[1; 16], &[2; 16], &chained(1, [0; 32], &long)).unwrap()),
            "a fresh nonce makes every sealed manifest, and so its link, its own"
        );
    }

    #[test]
    fn a_format_01_manifest_still_opens_without_a_chain() {
        let vk = VaultKey::from_bytes([9; 32]);
        let mut pt = vec![FORMAT_1];
        pt.extend_from_slice(&4u64.to_be_bytes());
        pt.extend_from_slice(&2u64.to_be_bytes());
        pt.extend_from_slice(&[3; 32]);
        let sealed = envelope::seal_with(
            &vk.0,
            envelope::Kind::ManifestUnderVaultKey,
            &[&[1; 16], &[2; 16]],
            &pt,
        )
        .unwrap();
        let m = open_manifest(&vk, &[1; 16], &[2; 16], &sealed).unwrap();
        assert_eq!((m.version, m.count, m.chain), (4, 2, None));
        pt.push(0);
        let longer = envelope::seal_with(
            &vk.0,
            envelope::Kind::ManifestUnderVaultKey,
            &[&[1; 16], &[2; 16]],
            &pt,
        )
        .unwrap();
        assert!(open_manifest(&vk, &[1; 16], &[2; 16], &longer).is_err());
    }
}
