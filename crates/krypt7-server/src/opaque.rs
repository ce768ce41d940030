//! The server half of OPAQUE (RFC 9807). The suite matches the client's
//! (`krypt7_crypto::opaque`, `docs/crypto.md` §3.3) except for the key-stretching function,
//! which only the client runs: here it is `Identity`, and the messages are the same.

use opaque_ke::{
    CipherSuite, CredentialFinalization, CredentialRequest, Identifiers, RegistrationRequest,
    RegistrationUpload, ServerLogin, ServerLoginParameters, ServerRegistration, ServerSetup,
    rand::rngs::OsRng,
};

/// Bound into every exchange; the client uses the same bytes.
pub const CONTEXT: &[u8] = b"KRYPT7 v1";

pub struct Suite;

impl CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = opaque_ke::ksf::Identity;
}

/// Why an OPAQUE step failed (the detail stays in the server).
#[derive(Debug, thiserror::Error)]
pub enum OpaqueError {
    #[error("malformed OPAQUE message")]
    Malformed,
    #[error("authentication failed")]
    Failed,
}

/// The server's OPAQUE key material (OPRF seed and AKE key pair), shared by all nodes.
pub struct Opaque(ServerSetup<Suite>);

fn params(account: &[u8; 16]) -> ServerLoginParameters<'static, '_> {
    ServerLoginParameters {
        context: Some(CONTEXT),
        identifiers: Identifiers {
            client: Some(account),
            server: None,
        },
    }
}

impl Opaque {
    pub fn generate() -> Vec<u8> {
        ServerSetup::<Suite>::new(&mut OsRng).serialize().to_vec()
    }

    pub fn from_bytes(b: &[u8]) -> anyhow::Result<Self> {
        Ok(Opaque(ServerSetup::deserialize(b).map_err(|_| {
            anyhow::anyhow!("stored OPAQUE server setup is corrupt")
        })?))
    }

    /// Registration step 1: the `RegistrationResponse` for `account`.
    pub fn registration_response(
        &self,
        request: &[u8],
        account: &[u8; 16],
    ) -> Result<Vec<u8>, OpaqueError> {
        let req = RegistrationRequest::deserialize(request).map_err(|_| OpaqueError::Malformed)?;
        let r = ServerRegistration::<Suite>::start(&self.0, req, account)
            .map_err(|_| OpaqueError::Malformed)?;
        Ok(r.message.serialize().to_vec())
    }

    /// Registration step 2: the record to store.
    pub fn registration_record(upload: &[u8]) -> Result<Vec<u8>, OpaqueError> {
        let up =
            RegistrationUpload::<Suite>::deserialize(upload).map_err(|_| OpaqueError::Malformed)?;
        Ok(ServerRegistration::finish(up).serialize().to_vec())
    }

    /// Sign-in step 1: `(CredentialResponse, state to keep)`. With no record (unknown user),
    /// a fake response indistinguishable from a real one.
    pub fn login_start(
        &self,
        record: Option<&[u8]>,
        request: &[u8],
        account: &[u8; 16],
    ) -> Result<(Vec<u8>, Vec<u8>), OpaqueError> {
        let record = record
            .map(ServerRegistration::<Suite>::deserialize)
            .transpose()
            .map_err(|_| OpaqueError::Malformed)?;
        let req = CredentialRequest::deserialize(request).map_err(|_| OpaqueError::Malformed)?;
        let r = ServerLogin::start(&mut OsRng, &self.0, record, req, account, params(account))
            .map_err(|_| OpaqueError::Malformed)?;
        Ok((r.message.serialize().to_vec(), r.state.serialize().to_vec()))
    }

    /// Sign-in step 2: succeeds only if the client proved knowledge of the password input.
    pub fn login_finish(
        state: &[u8],
        finalization: &[u8],
        account: &[u8; 16],
    ) -> Result<(), OpaqueError> {
        let state = ServerLogin::<Suite>::deserialize(state).map_err(|_| OpaqueError::Malformed)?;
        let fin = CredentialFinalization::deserialize(finalization)
            .map_err(|_| OpaqueError::Malformed)?;
        state
            .finish(fin, params(account))
            .map(|_| ())
            .map_err(|_| OpaqueError::Failed)
    }
}
