//! The server's own encryption at rest, under the end-to-end layer (`docs/server.md`,
//! "Encryption at rest"). What the server must read to do its job but that names a person
//! (username, email, phone, the TOTP secret, the addresses of attempts) is sealed in the
//! database with AES-256-GCM under a **server key** that never enters the database: it
//! comes from a file or an environment variable. Usernames are found through a keyed blind
//! index (HMAC-SHA256), so the name itself is not in the database either.
//!
//! Several keys may be configured, each with a one-byte id; the first seals, all open (a
//! sealed value names its key), and a lookup tries the blind index of each. Rotation: put a
//! new key first on every node, run `krypt7-server reseal`, then drop the old key.

use std::path::{Path, PathBuf};

use ring::{
    aead, hmac,
    rand::{SecureRandom, SystemRandom},
};

/// The sealed format's version byte.
const FORMAT: u8 = 1;
/// A sealed value kept in a text column: this prefix, then base64url.
const TEXT_PREFIX: &str = "enc1:";

#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    #[error("a value is sealed under server key {0}, which is not configured")]
    UnknownKey(u8),
    #[error("a sealed value does not open: altered, or sealed under another key of that id")]
    Broken,
}

struct ServerKey {
    id: u8,
    aead: aead::LessSafeKey,
    index: hmac::Key,
}

/// The configured server keys; the first one seals.
pub struct AtRest {
    keys: Vec<ServerKey>,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|k| k.id).collect();
        f.debug_struct("AtRest").field("key_ids", &ids).finish()
    }
}

/// Whether a text column's value is sealed (under whichever key), not a value in clear from
/// before encryption at rest.
pub fn is_sealed_text(text: &str) -> bool {
    text.starts_with(TEXT_PREFIX)
}

/// Where the keys come from: `KRYPT7_SERVER_KEYS` (given here as `inline`), else the key
/// file (`server_key_file`, default `DATA_DIR/server-keys`, made with one new key when
/// missing).
pub fn key_file(data_dir: &Path, configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| data_dir.join("server-keys"), Path::to_path_buf)
}

impl AtRest {
    /// Keys written as `ID:KEY` (ID 1 to 255, KEY 32 bytes in unpadded base64url), one per
    /// line or comma-separated; `#` starts a comment.
    pub fn parse(text: &str) -> anyhow::Result<AtRest> {
        let mut keys: Vec<ServerKey> = Vec::new();
        for entry in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("a server key is written ID:KEY"))?;
            let id: u8 = id
                .trim()
                .parse()
                .ok()
                .filter(|i| *i > 0)
                .ok_or_else(|| anyhow::anyhow!("a server key's id is 1 to 255"))?;
            let key = krypt7_protocol::B64::decode(key.trim())
                .map(|b| b.0)
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    anyhow::anyhow!("server key {id} is not 32 bytes of unpadded base64url")
                })?;
            anyhow::ensure!(
                keys.iter().all(|k| k.id != id),
                "server key id {id} is given twice"
            );
            keys.push(ServerKey::new(id, &key)?);
        }
        anyhow::ensure!(!keys.is_empty(), "no server key is configured");
        Ok(AtRest { keys })
    }

    /// The keys from `inline` (the environment) or the key file at `path`, which is made with
    /// one new key (owner-only) when it does not exist yet.
    pub fn load(inline: Option<&str>, path: &Path) -> anyhow::Result<AtRest> {
        if let Some(text) = inline {
            return Self::parse(text);
        }
        if !path.exists() {
            let line = format!("{}\n", Self::new_key_line(1)?);
            write_private(path, &line)?;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the server keys {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// A new random key, written `ID:KEY`.
    pub fn new_key_line(id: u8) -> anyhow::Result<String> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        Ok(format!(
            "{id}:{}",
            krypt7_protocol::B64(key.to_vec()).encode()
        ))
    }

    fn current(&self) -> &ServerKey {
        &self.keys[0]
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> u8 {
        self.current().id
    }

    /// Seals `plain` for `purpose` (e.g. `"accounts.email"`), bound to `bind` (the row's
    /// account id, or nothing): `01 ‖ key id ‖ nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, purpose: &str, bind: &[u8], plain: &[u8]) -> Vec<u8> {
        let key = self.current();
        let mut nonce = [0u8; 12];
        // The OS generator does not fail on the platforms the server runs on; if it did, a
        // fixed nonce would be unsafe, so stop.
        #[allow(clippy::expect_used)]
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random generator failed");
        let mut out = plain.to_vec();
        #[allow(clippy::expect_used)]
        key.aead
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad(purpose, bind)),
                &mut out,
            )
            .expect("AES-GCM seals any length the database holds");
        [&[FORMAT, key.id][..], &nonce, &out].concat()
    }

    pub fn open(&self, purpose: &str, bind: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let [FORMAT, id, rest @ ..] = sealed else {
            return Err(AtRestError::Broken);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == *id)
            .ok_or(AtRestError::UnknownKey(*id))?;
        let (nonce, ct) = rest.split_at_checked(12).ok_or(AtRestError::Broken)?;
        let nonce =
            aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| AtRestError::Broken)?;
        let mut buf = ct.to_vec();
        let plain = key
            .aead
            .open_in_place(nonce, aead::Aad::from(aad(purpose, bind)), &mut buf)
            .map_err(|_| AtRestError::Broken)?;
        Ok(plain.to_vec())
    }

    /// [`AtRest::seal`] for a text column.
    pub fn seal_text(&self, purpose: &str, bind: &[u8], plain: &str) -> String {
        let sealed = self.seal(purpose, bind, plain.as_bytes());
        format!("{TEXT_PREFIX}{}", krypt7_protocol::B64(sealed).encode())
    }

    pub fn open_text(&self, purpose: &str, bind: &[u8], text: &str) -> Result<String, AtRestError> {
        let sealed = text
            .strip_prefix(TEXT_PREFIX)
            .and_then(krypt7_protocol::B64::decode)
            .ok_or(AtRestError::Broken)?;
        let plain = self.open(purpose, bind, &sealed.0)?;
        String::from_utf8(plain).map_err(|_| AtRestError::Broken)
    }

    /// Whether `sealed` is sealed under the current key (a reseal leaves it as it is).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        matches!(sealed, [FORMAT, id, ..] if *id == self.current_id())
    }

    /// Whether a text column's value is sealed under the current key.
    pub fn is_current_text(&self, text: &str) -> bool {
        text.strip_prefix(TEXT_PREFIX)
            .and_then(krypt7_protocol::B64::decode)
            .is_some_and(|b| self.is_current(&b.0))
    }

    /// The blind index of a (normalized) username under the current key.
    pub fn index(&self, username: &str) -> Vec<u8> {
        index_under(self.current(), username)
    }

    /// Its blind index under every configured key, the current one first: a lookup finds
    /// a row indexed under any of them (during a rotation).
    pub fn indexes(&self, username: &str) -> Vec<Vec<u8>> {
        self.keys.iter().map(|k| index_under(k, username)).collect()
    }
}

impl ServerKey {
    fn new(id: u8, key: &[u8]) -> anyhow::Result<ServerKey> {
        // Two keys from one: AES-256-GCM's and the blind index's (HMAC as a PRF).
        let prf = hmac::Key::new(hmac::HMAC_SHA256, key);
        let aead_key = hmac::sign(&prf, b"krypt7 server key: at-rest AES-256-GCM v1");
        let index_key = hmac::sign(&prf, b"krypt7 server key: username index v1");
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, aead_key.as_ref())
            .map_err(|_| anyhow::anyhow!("bad AES key"))?;
        Ok(ServerKey {
            id,
            aead: aead::LessSafeKey::new(unbound),
            index: hmac::Key::new(hmac::HMAC_SHA256, index_key.as_ref()),
        })
    }
}

fn aad(purpose: &str, bind: &[u8]) -> Vec<u8> {
    [b"krypt7 ".as_slice(), purpose.as_bytes(), b"\0", bind].concat()
}

fn index_under(key: &ServerKey, username: &str) -> Vec<u8> {
    hmac::sign(&key.index, username.as_bytes())
        .as_ref()
        .to_vec()
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create the server keys {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn values_open_under_their_key_and_purpose_only() {
        let old = AtRest::new_key_line(1).unwrap();
        let new = AtRest::new_key_line(2).unwrap();
        let a = AtRest::parse(&old).unwrap();
        let sealed = a.seal("accounts.email", b"row", b"alice@example.org");
        assert_eq!(
            a.open("accounts.email", b"row", &sealed).unwrap(),
            b"alice@example.org"
        );
        assert!(a.open("accounts.phone", b"row", &sealed).is_err());
        assert!(a.open("accounts.email", b"other row", &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(a.open("accounts.email", b"row", &flipped).is_err());
        // After a rotation: the new key seals, the old still opens; without it, nothing.
        let both = AtRest::parse(&format!("{new}\n{old}")).unwrap();
        assert_eq!(both.current_id(), 2);
        assert!(!both.is_current(&sealed));
        assert!(both.open("accounts.email", b"row", &sealed).is_ok());
        assert_eq!(both.indexes("alice")[1], a.index("alice"));
        let only_new = AtRest::parse(&new).unwrap();
        assert!(matches!(
            only_new.open("accounts.email", b"row", &sealed),
            Err(AtRestError::UnknownKey(1))
        ));
        assert_ne!(only_new.index("alice"), a.index("alice"));
        let text = only_new.seal_text("attempts.ip", b"", "192.0.2.1");
        assert!(!text.contains("192.0.2.1"));
        assert_eq!(
            only_new.open_text("attempts.ip", b"", &text).unwrap(),
            "192.0.2.1"
        );
        assert!(only_new.is_current_text(&text));
    }

    #[test]
    fn bad_key_lists_are_refused() {
        for bad in ["", "1", "0:AAAA", "1:short", "x:AAAA"] {
            assert!(AtRest::parse(bad).is_err(), "{bad:?}");
        }
        let k = AtRest::new_key_line(3).unwrap();
        assert!(AtRest::parse(&format!("{k},{k}")).is_err());
    }
}
