//! The client half of OPAQUE against opaque-ke's server half, with the server's cipher suite
//! defined as krypt7-server defines it (the KSF runs only on the client, so the server names
//! `Identity`; the wire messages are the same).

use krypt7_crypto::{
    CryptoError, Password,
    kdf::{KdfParams, KdfSetup},
    opaque::{CONTEXT, Login, Registration},
    secret_key::SecretKey,
};
use opaque_ke::{
    CipherSuite, CredentialFinalization, CredentialRequest, Identifiers, RegistrationRequest,
    RegistrationUpload, ServerLogin, ServerLoginParameters, ServerRegistration, ServerSetup,
    rand::rngs::OsRng,
};

struct ServerSuite;
impl CipherSuite for ServerSuite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = opaque_ke::ksf::Identity;
}

struct Server {
    setup: ServerSetup<ServerSuite>,
    record: Option<Vec<u8>>,
}

const ACCOUNT: [u8; 16] = [9; 16];

impl Server {
    fn new() -> Self {
        Server {
            setup: ServerSetup::new(&mut OsRng),
            record: None,
        }
    }
    fn register(&mut self, pw: &str, sk: &SecretKey, kdf: &KdfSetup) -> [u8; 32] {
        let (reg, req) = Registration::start(&Password::new(pw), sk).unwrap();
        let resp = ServerRegistration::<ServerSuite>::start(
            &self.setup,
            RegistrationRequest::deserialize(&req).unwrap(),
            &ACCOUNT,
        )
        .unwrap();
        let (upload, auk) = reg
            .finish(&ACCOUNT, kdf, &resp.message.serialize())
            .unwrap();
        let record = ServerRegistration::<ServerSuite>::finish(
            RegistrationUpload::deserialize(&upload).unwrap(),
        );
        self.record = Some(record.serialize().to_vec());
        *auk.expose_secret()
    }
    /// Returns the client's AUK if both sides accept the exchange.
    fn login(&self, pw: &str, sk: &SecretKey, kdf: &KdfSetup) -> Result<[u8; 32], CryptoError> {
        let (login, req) = Login::start(&Password::new(pw), sk)?;
        let params = || ServerLoginParameters {
            context: Some(CONTEXT),
            identifiers: Identifiers {
                client: Some(&ACCOUNT),
                server: None,
            },
        };
        let record = self
            .record
            .as_ref()
            .map(|r| ServerRegistration::deserialize(r).unwrap());
        let s = ServerLogin::start(
            &mut OsRng,
            &self.setup,
            record,
            CredentialRequest::deserialize(&req).unwrap(),
            &ACCOUNT,
            params(),
        )
        .unwrap();
        let (fin, auk) = login.finish(&ACCOUNT, kdf, &s.message.serialize())?;
        s.state
            .finish(CredentialFinalization::deserialize(&fin).unwrap(), params())
            .map_err(|_| CryptoError::SignInFailed)?;
        Ok(*auk.expose_secret())
    }
}

#[test]
fn register_then_sign_in_yields_the_same_auk() {
    let sk = SecretKey::generate().unwrap();
    let kdf = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
    let mut server = Server::new();
    let auk = server.register("hunter2 hunter2", &sk, &kdf);
    assert_eq!(server.login("hunter2 hunter2", &sk, &kdf).unwrap(), auk);
}

#[test]
fn wrong_password_secret_key_or_setup_fails_sign_in() {
    let sk = SecretKey::generate().unwrap();
    let kdf = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
    let mut server = Server::new();
    server.register("right password", &sk, &kdf);
    assert_eq!(
        server.login("wrong password", &sk, &kdf).unwrap_err(),
        CryptoError::SignInFailed
    );
    assert_eq!(
        server
            .login("right password", &SecretKey::generate().unwrap(), &kdf)
            .unwrap_err(),
        CryptoError::SignInFailed
    );
    // Another salt or stronger parameters: another KSF output, so sign-in fails too.
    let other = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
    assert_eq!(
        server.login("right password", &sk, &other).unwrap_err(),
        CryptoError::SignInFailed
    );
}

#[test]
fn an_unknown_account_gets_a_fake_response_that_fails() {
    // The server answers for accounts it does not have (no user enumeration); the client fails.
    let sk = SecretKey::generate().unwrap();
    let kdf = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
    let server = Server::new();
    assert_eq!(
        server.login("anything", &sk, &kdf).unwrap_err(),
        CryptoError::SignInFailed
    );
}

#[test]
fn garbage_server_messages_are_refused() {
    let sk = SecretKey::generate().unwrap();
    let kdf = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
    let (login, _) = Login::start(&Password::new("pw"), &sk).unwrap();
    assert!(login.finish(&ACCOUNT, &kdf, &[0u8; 7]).is_err());
    let (reg, _) = Registration::start(&Password::new("pw"), &sk).unwrap();
    assert!(reg.finish(&ACCOUNT, &kdf, &[0xffu8; 32]).is_err());
}
