//! Public-key operations (`docs/crypto.md` §6): Ed25519 identity keys (ring), X25519 keys for
//! HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM),
//! signed key bundles, fingerprints, and sign-then-seal messages.

use std::fmt;

use hpke::{Deserializable, Kem as _, Serializable};
use ring::signature::{self, KeyPair};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{
    CryptoError, DOMAIN, Id,
    hazmat::{self, AesGcm, NONCE_LEN, TAG_LEN},
    secret::Key256,
};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigningPublicKey(pub [u8; 32]);

/// An X25519 public key (HPKE recipient key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionPublicKey(pub [u8; 32]);

impl fmt::Debug for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningPublicKey({})", hex(&self.0))
    }
}
impl fmt::Debug for EncryptionPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionPublicKey({})", hex(&self.0))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The Ed25519 identity key. Holds only the 32-byte seed (zeroized on drop); ring's key pair
/// is rebuilt for each signature so no unzeroized copy lives on.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct IdentityKeyPair {
    seed: [u8; 32],
    #[zeroize(skip)]
    public: SigningPublicKey,
}

impl IdentityKeyPair {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut seed = [0u8; 32];
        hazmat::fill_random(&mut seed)?;
        Self::from_seed(seed)
    }

    pub fn from_seed(seed: [u8; 32]) -> Result<Self, CryptoError> {
        let kp = signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| CryptoError::Malformed("Ed25519 seed"))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(kp.public_key().as_ref());
        Ok(IdentityKeyPair {
            seed,
            public: SigningPublicKey(public),
        })
    }

    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    pub fn public(&self) -> SigningPublicKey {
        self.public
    }

    /// Ed25519 signature (RFC 8032) over `parts` concatenated.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 64] {
        // Invariant: the seed was accepted by from_seed.
        #[allow(clippy::unwrap_used)]
        let kp = signature::Ed25519KeyPair::from_seed_unchecked(&self.seed).unwrap();
        let msg = Zeroizing::new(parts.concat());
        let mut out = [0u8; 64];
        out.copy_from_slice(kp.sign(&msg).as_ref());
        out
    }
}

impl SigningPublicKey {
    pub fn verify(&self, parts: &[&[u8]], sig: &[u8]) -> Result<(), CryptoError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(&parts.concat(), sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdentityKeyPair {{ public: {:?}, secret: [REDACTED] }}",
            self.public
        )
    }
}

/// The X25519 key pair for receiving shares and mail.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct EncryptionKeyPair {
    secret: [u8; 32],
    #[zeroize(skip)]
    public: EncryptionPublicKey,
}

impl EncryptionKeyPair {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut s = [0u8; 32];
        hazmat::fill_random(&mut s)?;
        Self::from_secret_bytes(s)
    }

    pub fn from_secret_bytes(secret: [u8; 32]) -> Result<Self, CryptoError> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret)
            .map_err(|_| CryptoError::Malformed("X25519 private key"))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(&Kem::sk_to_pk(&sk).to_bytes());
        Ok(EncryptionKeyPair {
            secret,
            public: EncryptionPublicKey(public),
        })
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    pub fn public(&self) -> EncryptionPublicKey {
        self.public
    }

    fn hpke_private(&self) -> Result<<Kem as hpke::Kem>::PrivateKey, CryptoError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&self.secret)
            .map_err(|_| CryptoError::Malformed("X25519 private key"))
    }
}

impl fmt::Debug for EncryptionKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EncryptionKeyPair {{ public: {:?}, secret: [REDACTED] }}",
            self.public
        )
    }
}

/// A user's two public keys, as published and as pinned by others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKeys {
    pub signing: SigningPublicKey,
    pub encryption: EncryptionPublicKey,
}

/// A short, human-comparable fingerprint of [`PublicKeys`]: 30 decimal digits in six groups
/// (≈ 99.7 bits), e.g. `04823 11907 59310 00412 77781 30265` (`docs/crypto.md` §6.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fingerprint(pub [u32; 6]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.0.iter().map(|g| format!("{g:05}")).collect();
        f.write_str(&groups.join(" "))
    }
}

impl PublicKeys {
    pub fn fingerprint(&self) -> Fingerprint {
        let h = hazmat::sha256(&[
            DOMAIN,
            b" fingerprint v1",
            &self.signing.0,
            &self.encryption.0,
        ]);
        let mut g = [0u32; 6];
        for (i, chunk) in h[..30].chunks(5).enumerate() {
            let v = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            g[i] = (v % 100_000) as u32;
        }
        Fingerprint(g)
    }
}

const BUNDLE_VERSION: u8 = 1;
/// Length of a signed key bundle.
pub const BUNDLE_LEN: usize = 1 + 16 + 32 + 32 + 64;

/// A key bundle signed by its own Ed25519 key and bound to the account id
/// (`docs/crypto.md` §6.1): `01 ‖ account ‖ signing pk ‖ encryption pk ‖ sig`.
///
/// The self-signature proves possession and binds the X25519 key to the identity key; it does
/// not prove whose key it is. That comes from pinning and fingerprint comparison.
pub fn sign_key_bundle(
    identity: &IdentityKeyPair,
    encryption: &EncryptionKeyPair,
    account: &Id,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(BUNDLE_LEN);
    b.push(BUNDLE_VERSION);
    b.extend_from_slice(account);
    b.extend_from_slice(&identity.public().0);
    b.extend_from_slice(&encryption.public().0);
    let sig = identity.sign(&[DOMAIN, b" key-bundle v1", &b]);
    b.extend_from_slice(&sig);
    b
}

/// Verifies a bundle's self-signature and that it belongs to `account`.
pub fn verify_key_bundle(bundle: &[u8], account: &Id) -> Result<PublicKeys, CryptoError> {
    if bundle.first() != Some(&BUNDLE_VERSION) {
        return Err(bundle
            .first()
            .map_or(CryptoError::Malformed("key bundle"), |&v| {
                CryptoError::UnsupportedVersion(v)
            }));
    }
    if bundle.len() != BUNDLE_LEN {
        return Err(CryptoError::Malformed("key bundle"));
    }
    if &bundle[1..17] != account {
        return Err(CryptoError::Malformed("key bundle (for another account)"));
    }
    let key = |r: std::ops::Range<usize>| -> [u8; 32] {
        let mut a = [0u8; 32];
        a.copy_from_slice(&bundle[r]);
        a
    };
    let keys = PublicKeys {
        signing: SigningPublicKey(key(17..49)),
        encryption: EncryptionPublicKey(key(49..81)),
    };
    keys.signing
        .verify(&[DOMAIN, b" key-bundle v1", &bundle[..81]], &bundle[81..])?;
    Ok(keys)
}

/// What a sealed message carries; part of the header and of everything signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageKind {
    Mail = 0x20,
    KeyShare = 0x21,
}

impl MessageKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x20 => Some(MessageKind::Mail),
            0x21 => Some(MessageKind::KeyShare),
            _ => None,
        }
    }
}

/// A recipient of a sealed message: their account id and their (pinned) encryption key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub account: Id,
    pub key: EncryptionPublicKey,
}

/// A message after [`open_message`]: the signature has been checked against `sender_key`,
/// the key the message names. Show "verified sender" only if `sender_key` equals the key
/// pinned for `sender`.
pub struct OpenedMessage {
    pub kind: MessageKind,
    pub sender: Id,
    pub sender_key: SigningPublicKey,
    pub recipients: Vec<Recipient>,
    pub content: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for OpenedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedMessage")
            .field("kind", &self.kind)
            .field("sender_key", &self.sender_key)
            .field("recipients", &self.recipients.len())
            .field("content", &"[REDACTED]")
            .finish()
    }
}

const MSG_VERSION: u8 = 1;
/// HPKE suite X25519/HKDF-SHA256/AES-256-GCM for the content key, AES-256-GCM for the body.
const MSG_ALG: u8 = 1;
const MAX_RECIPIENTS: usize = 1024;
const RECIPIENT_ENTRY_LEN: usize = 16 + 32 + 32 + TAG_LEN;
const SIG_LEN: usize = 64;

/// Sign-then-seal (`docs/crypto.md` §6.3). The sender signs kind, sender, the full recipient
/// list (ids and keys) and the content; the signed body is encrypted once under a random
/// content key, which is sealed to each recipient with HPKE.
///
/// ```text
/// msg    = 01 ‖ 01 ‖ kind ‖ n u16 ‖ n × (recipient id ‖ enc (32) ‖ HPKE(content key) (48)) ‖ nonce ‖ E(body)
/// body   = sender id ‖ sender signing pk ‖ n u16 ‖ n × (id ‖ X25519 pk) ‖ len u32 ‖ content ‖ sig
/// sig    = Ed25519("KRYPT7 signed v1" ‖ kind ‖ body without sig)
/// HPKE   info = "KRYPT7 seal v1" ‖ 01 01 kind, aad = recipient id
/// E(body): AES-256-GCM, AAD = "KRYPT7" ‖ the whole header up to the nonce
/// ```
pub fn seal_message(
    kind: MessageKind,
    sender: &Id,
    identity: &IdentityKeyPair,
    recipients: &[Recipient],
    content: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(CryptoError::Malformed(
            "recipient list (1 to 1024 recipients)",
        ));
    }
    let content_len =
        u32::try_from(content.len()).map_err(|_| CryptoError::Malformed("message too long"))?;
    let n = recipients.len() as u16;
    // The signed body.
    let mut body = Zeroizing::new(Vec::with_capacity(
        16 + 32 + 2 + recipients.len() * 48 + 4 + content.len() + SIG_LEN,
    ));
    body.extend_from_slice(sender);
    body.extend_from_slice(&identity.public().0);
    body.extend_from_slice(&n.to_be_bytes());
    for r in recipients {
        body.extend_from_slice(&r.account);
        body.extend_from_slice(&r.key.0);
    }
    body.extend_from_slice(&content_len.to_be_bytes());
    body.extend_from_slice(content);
    let sig = identity.sign(&[DOMAIN, b" signed v1", &[kind as u8], &body]);
    body.extend_from_slice(&sig);

    // The header: one HPKE-sealed content key per recipient.
    let cek = Key256::generate()?;
    let prefix = [MSG_VERSION, MSG_ALG, kind as u8];
    let info = [DOMAIN, b" seal v1", &prefix].concat();
    let mut out = Vec::with_capacity(
        5 + recipients.len() * RECIPIENT_ENTRY_LEN + NONCE_LEN + body.len() + TAG_LEN,
    );
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&n.to_be_bytes());
    for r in recipients {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&r.key.0)
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        let (enc, sealed) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
            &hpke::OpModeS::Base,
            &pk,
            &info,
            cek.expose_secret(),
            &r.account,
        )
        .map_err(|_| CryptoError::InvalidPublicKey)?;
        out.extend_from_slice(&r.account);
        out.extend_from_slice(&enc.to_bytes());
        out.extend_from_slice(&sealed);
    }
    let nonce = hazmat::random_nonce()?;
    let body_aad = [DOMAIN, &out[..]].concat();
    let ct = AesGcm::new(cek.expose_secret()).seal(nonce, &body_aad, &body)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a message addressed to `me`, checks that the signed recipient list names `me` with
/// `my_keys`' public key and matches the header, and verifies the sender's signature.
pub fn open_message(
    expected: MessageKind,
    me: &Id,
    my_keys: &EncryptionKeyPair,
    msg: &[u8],
) -> Result<OpenedMessage, CryptoError> {
    if msg.len() < 5 {
        return Err(CryptoError::Malformed("message"));
    }
    if msg[0] != MSG_VERSION {
        return Err(CryptoError::UnsupportedVersion(msg[0]));
    }
    if msg[1] != MSG_ALG {
        return Err(CryptoError::UnsupportedAlgorithm(msg[1]));
    }
    let kind = MessageKind::from_u8(msg[2]).ok_or(CryptoError::Malformed("message kind"))?;
    if kind != expected {
        return Err(CryptoError::Malformed("message (another kind of message)"));
    }
    let n = usize::from(u16::from_be_bytes([msg[3], msg[4]]));
    if n == 0 || n > MAX_RECIPIENTS {
        return Err(CryptoError::Malformed("message recipient count"));
    }
    let header_len = 5 + n * RECIPIENT_ENTRY_LEN;
    if msg.len() < header_len + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("message (too short)"));
    }
    let entries: Vec<&[u8]> = msg[5..header_len].chunks(RECIPIENT_ENTRY_LEN).collect();
    let mine = entries
        .iter()
        .find(|e| &e[..16] == me)
        .ok_or(CryptoError::NotARecipient)?;
    let info = [DOMAIN, b" seal v1", &msg[..3]].concat();
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&mine[16..48])
        .map_err(|_| CryptoError::Malformed("message"))?;
    let cek_bytes = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &hpke::OpModeR::Base,
            &my_keys.hpke_private()?,
            &enc,
            &info,
            &mine[48..],
            me,
        )
        .map_err(|_| CryptoError::Integrity)?,
    );
    let cek = Key256::from_slice(&cek_bytes)?;
    let nonce: [u8; NONCE_LEN] = msg[header_len..header_len + NONCE_LEN]
        .try_into()
        .map_err(|_| CryptoError::Malformed("message"))?;
    let body_aad = [DOMAIN, &msg[..header_len]].concat();
    let body =
        AesGcm::new(cek.expose_secret()).open(nonce, &body_aad, &msg[header_len + NONCE_LEN..])?;

    // Parse the signed body.
    let malformed = CryptoError::Malformed("message body");
    if body.len() < 16 + 32 + 2 + SIG_LEN {
        return Err(malformed);
    }
    let (signed, sig) = body.split_at(body.len() - SIG_LEN);
    let mut sender = [0u8; 16];
    sender.copy_from_slice(&signed[..16]);
    let mut sk = [0u8; 32];
    sk.copy_from_slice(&signed[16..48]);
    let sender_key = SigningPublicKey(sk);
    let rn = usize::from(u16::from_be_bytes([signed[48], signed[49]]));
    let list_end = 50 + rn * 48;
    if rn != n || signed.len() < list_end + 4 {
        return Err(malformed);
    }
    let mut recipients = Vec::with_capacity(rn);
    for (i, e) in signed[50..list_end].chunks(48).enumerate() {
        let mut account = [0u8; 16];
        account.copy_from_slice(&e[..16]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&e[16..48]);
        if entries[i][..16] != account {
            return Err(CryptoError::Malformed(
                "message (header and signed recipients differ)",
            ));
        }
        recipients.push(Recipient {
            account,
            key: EncryptionPublicKey(key),
        });
    }
    let len_bytes: [u8; 4] = signed[list_end..list_end + 4]
        .try_into()
        .map_err(|_| CryptoError::Malformed("message body"))?;
    let content_len = u32::from_be_bytes(len_bytes) as usize;
    if signed.len() != list_end + 4 + content_len {
        return Err(malformed);
    }
    sender_key.verify(&[DOMAIN, b" signed v1", &[kind as u8], signed], sig)?;
    // The signed list must name me with my key: a message re-sealed to someone it was not
    // written for (surreptitious forwarding) is refused.
    if !recipients
        .iter()
        .any(|r| &r.account == me && r.key == my_keys.public())
    {
        return Err(CryptoError::NotARecipient);
    }
    Ok(OpenedMessage {
        kind,
        sender,
        sender_key,
        recipients,
        content: Zeroizing::new(signed[list_end + 4..].to_vec()),
    })
}
