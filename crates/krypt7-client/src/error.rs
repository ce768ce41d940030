use krypt7_crypto::CryptoError;
use krypt7_store::StoreError;

/// Every failure of a client operation, with a stable code for the UI and CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("the vault is locked: unlock it first")]
    Locked,
    #[error("no account on this device: sign up or sign in first")]
    NoAccount,
    #[error("this device already has an account")]
    AlreadySetUp,
    #[error("wrong password or Secret Key")]
    WrongCredentials,
    #[error("no such item")]
    NoSuchItem,
    /// The server ended this device's session (it expired, or was signed out): sign in
    /// again. Nothing on the device is lost; the outbox waits.
    #[error(
        "this device's session with the server ended: sign in again (nothing on this device is lost)"
    )]
    SignedOut,
    /// The password was changed on another device, and this one dropped its unlock by the
    /// old one when it synced: unlock with the new password, online (once).
    #[error(
        "the password was changed on another device: unlock with the new password while online"
    )]
    PasswordChanged,
    /// The Secret Key was changed on another device: this device's keys open nothing new.
    /// It unlocks next with the new Secret Key (from the new Emergency Kit), online; what it
    /// had not sent yet is kept.
    #[error(
        "the Secret Key was changed on another device: unlock with the new Secret Key (from \
         the new Emergency Kit) while online; nothing on this device is lost"
    )]
    SecretKeyChanged,
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("the server cannot be reached: {0}")]
    Offline(String),
    /// The server's TLS certificate was refused (expired, for another host, or from an
    /// issuer this device does not trust): nothing was sent. There is no way to accept it.
    #[error("the server's certificate is not trusted ({0}): nothing was sent")]
    Untrusted(String),
    /// The server answered with an error.
    #[error("the server refused: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// Data from the server failed verification: nothing was accepted.
    #[error("integrity error: {0}")]
    Integrity(String),
    /// The server now gives other keys for a user than the ones pinned on this device:
    /// nothing goes to them, and nothing from them is shown as genuine, until the user
    /// compares the offered fingerprint with them and accepts it
    /// ([`crate::Client::accept_changed_key`]).
    #[error(
        "integrity error: the server now gives other keys for {username:?} than the ones \
         pinned on this device (fingerprint {pinned} pinned, {offered} offered): nothing will \
         be sent to them until you compare the offered fingerprint with them and accept it"
    )]
    KeyChanged {
        username: String,
        pinned: String,
        offered: String,
    },
    /// An answer from the server was larger than the client reads for that request.
    #[error("integrity error: {0}")]
    TooLarge(String),
    /// The OS keychain is missing, locked or refused; nothing local was changed.
    #[error("the system keychain is unavailable ({0}); unlock with your password instead")]
    Keychain(String),
    /// The user stopped the work before it wrote anything.
    #[error("cancelled: nothing was changed")]
    Cancelled,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClientError {
    /// A stable code the UI and CLI can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Locked => "locked",
            ClientError::NoAccount => "no_account",
            ClientError::AlreadySetUp => "already_set_up",
            ClientError::WrongCredentials => "wrong_credentials",
            ClientError::NoSuchItem => "no_such_item",
            ClientError::SignedOut => "signed_out",
            ClientError::PasswordChanged => "password_changed",
            ClientError::SecretKeyChanged => "secret_key_changed",
            ClientError::Invalid(_) => "invalid_input",
            ClientError::Offline(_) => "offline",
            ClientError::Untrusted(_) => "untrusted_server",
            ClientError::Server { .. } => "server_error",
            ClientError::Integrity(_) | ClientError::TooLarge(_) => "integrity",
            ClientError::KeyChanged { .. } => "key_changed",
            ClientError::Keychain(_) => "keychain_unavailable",
            ClientError::Cancelled => "cancelled",
            ClientError::Crypto(CryptoError::Integrity) => "integrity",
            ClientError::Crypto(_) => "crypto",
            ClientError::Store(StoreError::Corrupt { .. }) => "cache_corrupt",
            ClientError::Store(StoreError::ManifestRollback { .. }) => "integrity",
            ClientError::Store(_) => "cache",
        }
    }

    /// What the message adds to what its code says (the server's or the system's words),
    /// for a UI that words each code in its own language.
    pub fn detail(&self) -> Option<String> {
        match self {
            ClientError::Invalid(s)
            | ClientError::Offline(s)
            | ClientError::Untrusted(s)
            | ClientError::Integrity(s)
            | ClientError::TooLarge(s)
            | ClientError::Keychain(s) => Some(s.clone()),
            ClientError::Server { message, .. } => Some(message.clone()),
            ClientError::KeyChanged { username, .. } => Some(username.clone()),
            ClientError::Crypto(e) => Some(e.to_string()),
            ClientError::Store(e) => Some(e.to_string()),
            _ => None,
        }
    }
}

/// An I/O error on the device's own files (the mail search index) is a cache error.
impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> ClientError {
        ClientError::Store(StoreError::Io(e))
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
