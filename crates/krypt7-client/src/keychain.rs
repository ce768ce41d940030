//! The OS keychain (`keyring`): macOS Keychain, Windows Credential Manager, the Secret
//! Service on Linux. KRYPT7 keeps two entries per account there when the user turns keychain
//! unlock on: a random device key that wraps the keyset in the cache, and the Secret Key.
//! Turning it off deletes both. A missing or locked keychain is an error the caller answers
//! by asking for the password; it never causes local data to be deleted.

use keyring::Entry;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

const SERVICE: &str = "KRYPT7";

pub(crate) const DEVICE_KEY: &str = "device-key";
pub(crate) const SECRET_KEY: &str = "secret-key";

fn entry(account: Uuid, what: &str) -> Result<Entry> {
    Entry::new(SERVICE, &format!("{account}/{what}"))
        .map_err(|e| ClientError::Keychain(e.to_string()))
}

pub(crate) fn store(account: Uuid, what: &str, secret: &str) -> Result<()> {
    entry(account, what)?
        .set_password(secret)
        .map_err(|e| ClientError::Keychain(e.to_string()))
}

/// `Ok(None)` when there is no entry.
pub(crate) fn load(account: Uuid, what: &str) -> Result<Option<Zeroizing<String>>> {
    match entry(account, what)?.get_password() {
        Ok(s) => Ok(Some(Zeroizing::new(s))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(ClientError::Keychain(e.to_string())),
    }
}

pub(crate) fn delete(account: Uuid, what: &str) -> Result<()> {
    match entry(account, what)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(ClientError::Keychain(e.to_string())),
    }
}
