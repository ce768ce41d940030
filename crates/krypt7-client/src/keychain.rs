//! The OS keychain (`keyring`): macOS Keychain, Windows Credential Manager, the Secret
//! Service on Linux. KRYPT7 keeps two entries per account there when the user turns keychain
//! unlock on: a random device key that wraps the keyset in the cache, and the Secret Key.
//! Turning it off deletes both. A missing or locked keychain is an error the caller answers
//! by asking for the password; it never causes local data to be deleted.

use keyring::Entry;
use uuid::Uuid;
use zeroize::Zeroizing;

use krypt7_crypto::{
    envelope::{self, KeysetWrapper},
    secret_key::SecretKey,
};

use crate::{
    Client,
    error::{ClientError, Result},
};

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

/// Keychain unlock for this device.
impl Client {
    /// Turns on OS keychain unlock for this device: a random device key (in the keychain)
    /// wraps the keyset in the cache, and the Secret Key goes to the keychain too.
    pub fn enable_keychain_unlock(&mut self, secret_key: &SecretKey) -> Result<()> {
        let u = self.unlocked()?;
        let device_key = krypt7_crypto::keys::DeviceKey::generate()?;
        let wrapped = envelope::wrap_keyset(
            KeysetWrapper::Device(&device_key),
            u.account.as_bytes(),
            &u.keyset,
        )?;
        let account = u.account;
        store(
            account,
            DEVICE_KEY,
            &krypt7_protocol::B64(device_key.expose_secret().to_vec()).encode(),
        )?;
        store(account, SECRET_KEY, &secret_key.to_human())?;
        self.store.set_meta("keyset_device", &wrapped)?;
        Ok(())
    }

    /// Turns keychain unlock off: deletes both keychain entries and the wrapped keyset.
    pub fn disable_keychain_unlock(&mut self) -> Result<()> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        self.store.delete_meta("keyset_device")?;
        delete(account, DEVICE_KEY)?;
        delete(account, SECRET_KEY)
    }

    pub fn keychain_unlock_enabled(&self) -> Result<bool> {
        Ok(self.store.meta("keyset_device")?.is_some())
    }

    /// Unlocks with the device key from the OS keychain (no password).
    pub fn unlock_with_keychain(&mut self) -> Result<()> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        let wrapped = self
            .store
            .meta("keyset_device")?
            .ok_or_else(|| ClientError::Keychain("keychain unlock is off on this device".into()))?;
        let encoded = load(account, DEVICE_KEY)?.ok_or_else(|| {
            ClientError::Keychain("the device key is missing from the keychain".into())
        })?;
        let bytes = krypt7_protocol::B64::decode(&encoded)
            .ok_or_else(|| ClientError::Keychain("the keychain entry is damaged".into()))?;
        let key: [u8; 32] = bytes
            .0
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Keychain("the keychain entry is damaged".into()))?;
        let keyset = envelope::unwrap_keyset(
            KeysetWrapper::Device(&krypt7_crypto::keys::DeviceKey::from_bytes(key)),
            account.as_bytes(),
            &wrapped,
        )
        .map_err(|_| {
            ClientError::Keychain("the keychain's device key does not open this cache".into())
        })?;
        let (token, changed) = self.stored_token(account, &keyset)?;
        self.load(account, keyset, token, changed)
    }

    /// Keeps the Secret Key in the OS keychain so that a desktop unlock asks for the password
    /// only (a keychain that is missing or locked is an error the caller may ignore: the user
    /// then types the Secret Key at unlock).
    pub fn remember_secret_key(&self, secret_key: &SecretKey) -> Result<()> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        store(account, SECRET_KEY, &secret_key.to_human())
    }

    /// The Secret Key kept in the OS keychain, if keychain unlock is on.
    pub fn keychain_secret_key(&self) -> Result<Option<SecretKey>> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        match load(account, SECRET_KEY)? {
            Some(s) => Ok(Some(SecretKey::parse(&s)?)),
            None => Ok(None),
        }
    }
}
