//! The client half of OPAQUE (RFC 9807, `opaque-ke`), `docs/crypto.md` §3.3.
//!
//! ```text
//! input = HKDF-SHA256(salt = "KRYPT7", ikm = NFKD(password) ‖ SecretKey, info = "KRYPT7 OPAQUE input v1")
//! suite = OPRF ristretto255-SHA512, 3DH over ristretto255 with SHA-512,
//!         KSF = Argon2id(msg, salt = the account's setup salt, m, t, p of the verified setup)
//! identifiers: client = account id (16 bytes), server = the server's public key (default)
//! context = "KRYPT7 v1"
//! AUK = HKDF-SHA256(salt = "KRYPT7", ikm = export key, info = "KRYPT7 AUK v1")
//! ```
//! The password meets the Secret Key through HKDF before OPAQUE sees it, so the OPAQUE
//! record on the server cannot be attacked offline without the Secret Key; Argon2id runs once,
//! as OPAQUE's key-stretching function, after the server's OPRF. Its parameters come from a
//! setup whose MAC the caller verified with the Secret Key ([`KdfSetup::open`]), and are
//! checked against the compiled-in minimum again here.

use opaque_ke::{
    CipherSuite, ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialResponse, Identifiers, RegistrationResponse,
    errors::{InternalError, ProtocolError},
    generic_array::{ArrayLength, GenericArray},
    rand::rngs::OsRng,
};
use zeroize::Zeroizing;

use crate::{
    CryptoError, DOMAIN, Id, Password, hazmat,
    kdf::{self, KdfParams, KdfSetup},
    keys::AccountUnlockKey,
    secret_key::SecretKey,
};

/// Bound into every KRYPT7 OPAQUE exchange (both sides must use it).
pub const CONTEXT: &[u8] = b"KRYPT7 v1";

/// Argon2id with parameters that were checked against the pinned minimum.
pub struct PinnedArgon2id {
    params: KdfParams,
    salt: [u8; 16],
}

impl Default for PinnedArgon2id {
    /// The minimum parameters; KRYPT7 always passes an explicit instance.
    fn default() -> Self {
        PinnedArgon2id {
            params: KdfParams::MINIMUM,
            salt: *b"KRYPT7 KSF salt!",
        }
    }
}

impl PinnedArgon2id {
    fn from_setup(setup: &KdfSetup) -> Result<Self, CryptoError> {
        Ok(PinnedArgon2id {
            params: setup.params().validate()?,
            salt: *setup.salt(),
        })
    }
}

impl opaque_ke::ksf::Ksf for PinnedArgon2id {
    fn hash<L: ArrayLength<u8>>(
        &self,
        input: GenericArray<u8, L>,
    ) -> Result<GenericArray<u8, L>, InternalError> {
        let params = self
            .params
            .validate()
            .map_err(|_| InternalError::KsfError)?;
        let mut out = GenericArray::default();
        kdf::argon2id(params, &input, &self.salt, &mut out).map_err(|_| InternalError::KsfError)?;
        Ok(out)
    }
}

/// KRYPT7's OPAQUE cipher suite (client side).
pub struct Suite;

impl CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = PinnedArgon2id;
}

/// What the password and Secret Key give OPAQUE (never sent anywhere).
struct Input(Zeroizing<[u8; 32]>);

fn input(password: &Password, secret_key: &SecretKey) -> Input {
    let mut ikm = Zeroizing::new(Vec::with_capacity(password.expose_secret().len() + 16));
    ikm.extend_from_slice(password.expose_secret());
    ikm.extend_from_slice(secret_key.expose_secret());
    let mut out = Zeroizing::new([0u8; 32]);
    hazmat::hkdf_sha256(DOMAIN, &ikm, &[DOMAIN, b" OPAQUE input v1"], &mut *out);
    Input(out)
}

fn identifiers(account: &Id) -> Identifiers<'_> {
    Identifiers {
        client: Some(account),
        server: None,
    }
}

fn protocol_error(e: ProtocolError) -> CryptoError {
    match e {
        ProtocolError::SerializationError => CryptoError::Malformed("OPAQUE message"),
        // A wrong password, a wrong Secret Key, an unknown user, or a server that lies.
        _ => CryptoError::SignInFailed,
    }
}

/// Registration, between its two messages.
pub struct Registration {
    state: ClientRegistration<Suite>,
    input: Input,
}

impl Registration {
    /// Step 1: returns the state and the `RegistrationRequest` to send.
    pub fn start(
        password: &Password,
        secret_key: &SecretKey,
    ) -> Result<(Self, Vec<u8>), CryptoError> {
        let input = input(password, secret_key);
        let r =
            ClientRegistration::<Suite>::start(&mut OsRng, &*input.0).map_err(protocol_error)?;
        Ok((
            Registration {
                state: r.state,
                input,
            },
            r.message.serialize().to_vec(),
        ))
    }

    /// Step 2: from the server's `RegistrationResponse`, the `RegistrationUpload` to send and
    /// the Account Unlock Key.
    pub fn finish(
        self,
        account: &Id,
        setup: &KdfSetup,
        response: &[u8],
    ) -> Result<(Vec<u8>, AccountUnlockKey), CryptoError> {
        let ksf = PinnedArgon2id::from_setup(setup)?;
        let response =
            RegistrationResponse::<Suite>::deserialize(response).map_err(protocol_error)?;
        let r = self
            .state
            .finish(
                &mut OsRng,
                &*self.input.0,
                response,
                ClientRegistrationFinishParameters::new(identifiers(account), Some(&ksf)),
            )
            .map_err(protocol_error)?;
        let auk = AccountUnlockKey::from_opaque_export_key(&Zeroizing::new(r.export_key.to_vec()));
        Ok((r.message.serialize().to_vec(), auk))
    }
}

/// Sign-in, between its messages.
pub struct Login {
    state: ClientLogin<Suite>,
    input: Input,
}

impl Login {
    /// Step 1: returns the state and the `CredentialRequest` to send.
    pub fn start(
        password: &Password,
        secret_key: &SecretKey,
    ) -> Result<(Self, Vec<u8>), CryptoError> {
        let input = input(password, secret_key);
        let r = ClientLogin::<Suite>::start(&mut OsRng, &*input.0).map_err(protocol_error)?;
        Ok((
            Login {
                state: r.state,
                input,
            },
            r.message.serialize().to_vec(),
        ))
    }

    /// Step 2: from the server's `CredentialResponse` and the account's setup (already opened
    /// with [`KdfSetup::open`]), the `CredentialFinalization` to send and the AUK. Fails with
    /// [`CryptoError::SignInFailed`] for a wrong password or Secret Key, or a lying server.
    pub fn finish(
        self,
        account: &Id,
        setup: &KdfSetup,
        response: &[u8],
    ) -> Result<(Vec<u8>, AccountUnlockKey), CryptoError> {
        let ksf = PinnedArgon2id::from_setup(setup)?;
        let response =
            CredentialResponse::<Suite>::deserialize(response).map_err(protocol_error)?;
        let r = self
            .state
            .finish(
                &mut OsRng,
                &*self.input.0,
                response,
                ClientLoginFinishParameters::new(Some(CONTEXT), identifiers(account), Some(&ksf)),
            )
            .map_err(protocol_error)?;
        let auk = AccountUnlockKey::from_opaque_export_key(&Zeroizing::new(r.export_key.to_vec()));
        Ok((r.message.serialize().to_vec(), auk))
    }
}
