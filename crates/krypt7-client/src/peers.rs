//! Other users' public keys, pinned on first sight (`docs/sync.md` § Public keys).
//!
//! The server's directory says which keys belong to a username; a malicious server could
//! answer with its own. So the first answer is pinned on this device (sealed under the
//! account key, with the username inside) and shown with its fingerprint for the user to
//! compare out of band; every later answer must equal the pin, or the lookup fails with an
//! integrity error. Nothing here ever trusts a key because the server says so.

use krypt7_crypto::pk;
use krypt7_protocol::DirectoryEntry;
use krypt7_store::Records;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Client, ClientError, Result};

pub(crate) const PIN_LABEL: &[u8] = b"pinned-key";

/// Another user's keys as this device knows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKeys {
    pub username: String,
    pub account_id: Uuid,
    /// The signed key bundle as first seen.
    #[serde(with = "hex_bytes")]
    pub bundle: Vec<u8>,
    /// The user compared the fingerprint out of band.
    pub verified: bool,
}

impl PeerKeys {
    pub fn keys(&self) -> Result<pk::PublicKeys> {
        Ok(pk::verify_key_bundle(
            &self.bundle,
            self.account_id.as_bytes(),
        )?)
    }

    /// 30 digits in six groups, to read aloud and compare.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(self.keys()?.fingerprint().to_string())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("not hex"))
            })
            .collect()
    }
}

impl Client {
    /// This account's own fingerprint, for others to compare.
    pub fn own_fingerprint(&self) -> Result<String> {
        let u = self.unlocked()?;
        Ok(pk::PublicKeys {
            signing: u.keyset.identity.public(),
            encryption: u.keyset.encryption.public(),
        }
        .fingerprint()
        .to_string())
    }

    /// Every pinned key, with its row.
    fn pins(&self) -> Result<Vec<([u8; 16], PeerKeys)>> {
        self.records(Records::PinnedKeys, PIN_LABEL)
    }

    /// Pins `peer` as `row`, and seals the session token again bound to the pins then held,
    /// in one transaction.
    fn save_pin(&self, row: [u8; 16], peer: &PeerKeys) -> Result<()> {
        let sealed = self.seal_record(PIN_LABEL, peer)?;
        let token = self.rebound_token(Some((row, &sealed)))?;
        self.store.put_sealed_with_metas(
            Records::PinnedKeys,
            row,
            &sealed,
            &[("token", token.as_deref())],
        )?;
        self.unlocked()?.mail_catalog.pins_changed();
        Ok(())
    }

    /// Pinned keys, by username.
    pub fn pinned_peers(&self) -> Result<Vec<PeerKeys>> {
        let mut v: Vec<PeerKeys> = self.pins()?.into_iter().map(|(_, p)| p).collect();
        v.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(v)
    }

    /// A user's public keys from the directory: pinned on first sight (unverified), and
    /// from then on required to equal the pin. A different answer is refused loudly.
    pub async fn peer_keys(&mut self, username: &str) -> Result<PeerKeys> {
        let (wanted, entry, offered) = self.directory_keys(username).await?;
        if let Some((_, pinned)) = self.pins()?.into_iter().find(|(_, p)| p.username == wanted) {
            if pinned.account_id != entry.account_id || pinned.keys()? != offered {
                return Err(ClientError::KeyChanged {
                    username: wanted,
                    pinned: pinned.fingerprint()?,
                    offered: offered.fingerprint().to_string(),
                });
            }
            return Ok(pinned);
        }
        let peer = PeerKeys {
            username: wanted,
            account_id: entry.account_id,
            bundle: entry.key_bundle.0,
            verified: false,
        };
        let mut row = [0u8; 16];
        row.copy_from_slice(Uuid::new_v4().as_bytes());
        self.save_pin(row, &peer)?;
        Ok(peer)
    }

    /// What the directory gives for `username` now, checked to be a self-signed bundle for
    /// that name: `(username lowercased, entry, its keys)`.
    async fn directory_keys(
        &self,
        username: &str,
    ) -> Result<(String, DirectoryEntry, pk::PublicKeys)> {
        let token = self.token()?;
        let entry: DirectoryEntry = self
            .api
            .call::<(), _>(
                Method::GET,
                &format!("/v1/directory/{}", urlencode(username)),
                Some(&token),
                None,
            )
            .await?;
        let wanted = username.trim().to_ascii_lowercase();
        if entry.username != wanted {
            return Err(ClientError::Integrity(format!(
                "asked the directory for {wanted:?}, it answered for {:?}",
                entry.username
            )));
        }
        let offered = pk::verify_key_bundle(&entry.key_bundle.0, entry.account_id.as_bytes())
            .map_err(|_| {
                ClientError::Integrity(format!(
                    "the directory's keys for {wanted:?} are not a valid self-signed bundle"
                ))
            })?;
        Ok((wanted, entry, offered))
    }

    /// Pins the keys the directory gives for `username` now, in place of the pinned ones,
    /// once the user compared their fingerprint with that person out of band: `fingerprint`
    /// must be the offered keys' (spaces and dashes ignored), or nothing changes. The new pin
    /// is verified. This is the only way past a changed key: until then mail to them is
    /// refused and mail from them quarantined. (Messages quarantined before stay there.)
    pub async fn accept_changed_key(
        &mut self,
        username: &str,
        fingerprint: &str,
    ) -> Result<PeerKeys> {
        let (wanted, entry, offered) = self.directory_keys(username).await?;
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        if digits(fingerprint) != digits(&offered.fingerprint().to_string()) {
            return Err(ClientError::Invalid(format!(
                "{fingerprint:?} is not the fingerprint of the keys the server gives for \
                 {wanted:?} now: compare again with them (nothing was changed)"
            )));
        }
        let row = match self.pins()?.into_iter().find(|(_, p)| p.username == wanted) {
            Some((row, _)) => row,
            None => {
                let mut row = [0u8; 16];
                row.copy_from_slice(Uuid::new_v4().as_bytes());
                row
            }
        };
        let peer = PeerKeys {
            username: wanted,
            account_id: entry.account_id,
            bundle: entry.key_bundle.0,
            verified: true,
        };
        self.save_pin(row, &peer)?;
        Ok(peer)
    }

    /// Marks a pinned key as verified once the user has compared its fingerprint with the
    /// other person (spaces and dashes in `fingerprint` are ignored).
    pub fn verify_peer(&mut self, username: &str, fingerprint: &str) -> Result<PeerKeys> {
        let wanted = username.trim().to_ascii_lowercase();
        let (row, mut peer) = self
            .pins()?
            .into_iter()
            .find(|(_, p)| p.username == wanted)
            .ok_or_else(|| {
                ClientError::Invalid(format!("no key pinned for {wanted:?}: look it up first"))
            })?;
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        if digits(fingerprint) != digits(&peer.fingerprint()?) {
            return Err(ClientError::Invalid(format!(
                "that fingerprint is not the one pinned for {wanted:?}: do not trust this key \
                 until you find out why"
            )));
        }
        peer.verified = true;
        self.save_pin(row, &peer)?;
        Ok(peer)
    }
}

/// Percent-encodes a path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
