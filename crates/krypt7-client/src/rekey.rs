//! Changing the Secret Key (`docs/sync.md`, "Changing the Secret Key"): a new account key and
//! new vault keys, every item sealed again under them, so that a copy of the server's data
//! taken before, with the old Secret Key and the password, opens nothing written after.
//!
//! On the device that makes the change ([`Client::change_secret_key`]): every item is
//! re-sealed and staged on the server, then the credentials, keyset, key wraps, manifests
//! (each vault's chain starts again) and items are replaced at once; the cache is sealed
//! again under the new keys ([`Client::rekey_cache`]). On the account's other devices: the
//! next sync sees the change (`key_epoch` up), wraps the keys it holds under a key only the
//! new keyset can derive as well ([`Client::carry_keyset`]), and stops; the next unlock, with
//! the new Secret Key, online, opens them again and seals the cache, with whatever this
//! device had not sent, under the new keys ([`Client::rekey_from_carried`]).

use std::collections::HashMap;

use krypt7_crypto::{
    Password,
    envelope::{self, ItemBinding, KeysetWrapper},
    kdf::{KdfParams, KdfSetup},
    keys::{CarryKey, Keyset, VaultKey},
    manifest::{self, Chain, Digest, ManifestKey},
    opaque::Registration,
    secret_key::SecretKey,
};
use krypt7_protocol::{
    B64, PasswordChangeStart, PasswordChangeStarted, RekeyedVault, SecretKeyChange,
    SecretKeyChanged, StagedItem, StagedItems, StepUpAction, Vault,
};
use krypt7_store::{Records, Rekey, RekeyedItem};
use reqwest::Method;
use uuid::Uuid;

use crate::{Auth, Client, ClientError, Confirm, Counts, Result, keychain};

/// Staged items per request, and the most envelope bytes in one (under the server's 4 MiB).
const STAGE_ITEMS: usize = 1000;
const STAGE_BYTES: usize = 3 << 20;

/// Each vault's keys across a change: (old, new).
type VaultKeys = HashMap<Uuid, (VaultKey, VaultKey)>;

impl Client {
    /// Changes the account's Secret Key to `new_secret_key` (made by the caller and shown to
    /// the user, in a new Emergency Kit, before this is called: should anything fail after
    /// the server took the change, the user holds it). Confirmed with the current password,
    /// Secret Key and second factor (`confirm`). Needs this device's changes all sent: it
    /// syncs first and refuses while its outbox is not empty. On success the old Secret Key
    /// opens nothing on the server; this device unlocks with the new one; other devices
    /// unlock with it once, online, after their next sync.
    pub async fn change_secret_key(
        &mut self,
        new_secret_key: &SecretKey,
        confirm: &Confirm<'_>,
    ) -> Result<()> {
        if new_secret_key.to_human() == confirm.secret_key.to_human() {
            return Err(ClientError::Invalid(
                "the new Secret Key is the current one".into(),
            ));
        }
        self.sync().await?;
        let unsent = self.store.outbox()?.len();
        if unsent > 0 {
            return Err(ClientError::Invalid(format!(
                "{unsent} change(s) on this device are not on the server yet: sync them, then \
                 change the Secret Key"
            )));
        }
        let auth = self.step_up(StepUpAction::ChangeSecretKey, confirm).await?;
        let (account, old, new) = {
            let u = self.unlocked()?;
            (
                u.account,
                u.keyset.try_clone()?,
                u.keyset.with_new_account_key()?,
            )
        };
        // New vault keys, and every item the server holds sealed under them.
        let keys = self.vault_keys(account, &old, |_| Ok(VaultKey::generate()?))?;
        let mut vaults = Vec::new();
        let mut staged = Vec::new();
        for row in self.store.vaults()? {
            let (old_key, new_key) = &keys[&row.id];
            let wrap = envelope::wrap_vault_key(
                &new.account_key,
                account.as_bytes(),
                row.id.as_bytes(),
                new_key,
            )?;
            let mk = ManifestKey::derive(new_key);
            let mut digest = Digest::default();
            let mut count = 0u64;
            for it in self.store.vault_items(row.id)? {
                if it.server_revision == 0 {
                    continue;
                }
                // The server's state, which the outbox being empty makes the local one too.
                let state = match &it.server_envelope {
                    Some(base) if !base.is_empty() => base,
                    _ => &it.envelope,
                };
                let sealed = reseal(old_key, new_key, &binding(account, row.id, it.id), state)?;
                if !it.server_deleted {
                    digest.add(&mk.term(it.id.as_bytes(), it.server_revision as u64 + 1, &sealed));
                    count += 1;
                }
                staged.push(StagedItem {
                    id: it.id,
                    vault_id: row.id,
                    base_revision: it.server_revision,
                    envelope: B64(sealed),
                    deleted: it.server_deleted,
                });
            }
            let m = manifest::Manifest {
                version: row.manifest_version as u64 + 1,
                count,
                digest,
                chain: Some(Chain {
                    prev: [0; 32],
                    time: crate::now_ms(),
                    device: self.device_id()?,
                    device_name: self.device_name()?,
                }),
            };
            let sealed_manifest =
                manifest::seal_manifest(new_key, account.as_bytes(), row.id.as_bytes(), &m)?;
            vaults.push(RekeyedVault {
                id: row.id,
                key_wrap: B64(wrap),
                expected_version: row.manifest_version,
                manifest: B64(sealed_manifest),
            });
        }
        let pw = Password::new(confirm.password);
        let setup = KdfSetup::generate(KdfParams::DEFAULT)?;
        let (registration, request) = Registration::start(&pw, new_secret_key)?;
        let started: PasswordChangeStarted = self
            .api
            .call(
                Method::POST,
                "/v1/account/secret-key/start",
                Some(&auth),
                Some(&PasswordChangeStart {
                    registration_request: B64(request),
                }),
            )
            .await?;
        self.stage(&auth, staged).await?;
        let (upload, auk) =
            registration.finish(account.as_bytes(), &setup, &started.registration_response.0)?;
        let wrapped = envelope::wrap_keyset(KeysetWrapper::Auk(&auk), account.as_bytes(), &new)?;
        let changed: SecretKeyChanged = self
            .api
            .call(
                Method::PUT,
                "/v1/account/secret-key",
                Some(&auth),
                Some(&SecretKeyChange {
                    registration_upload: B64(upload),
                    kdf_setup: B64(setup.seal(new_secret_key)),
                    keyset: B64(wrapped),
                    vaults: vaults.clone(),
                }),
            )
            .await
            .map_err(|e| match e {
                ClientError::Server { status: 409, .. } => ClientError::Invalid(
                    "the vault changed on another device while the Secret Key was being \
                     changed; nothing was changed (the old Secret Key still holds): try again"
                        .into(),
                ),
                e => e,
            })?;
        // This device committed each vault's new first version.
        let own = vaults
            .iter()
            .map(|v| (v.id, v.expected_version + 1))
            .collect::<Vec<_>>();
        let keychain = self.keychain_unlock_enabled()?;
        let token = self.unlocked()?.token.clone();
        self.rekey_cache(account, &old, &new, &keys, &own)?;
        self.wrap_locally(
            account,
            &pw,
            new_secret_key,
            &new,
            Counts {
                credentials: changed.credentials,
                key_epoch: changed.key_epoch,
            },
        )?;
        if let Some(t) = &token {
            self.seal_token(account, &new, t)?;
        }
        self.load(account, new, token, false)?;
        if keychain {
            self.enable_keychain_unlock(new_secret_key)?;
        }
        Ok(())
    }

    /// Each cached vault's key under the `old` keyset, and its new one (`new_key`).
    fn vault_keys(
        &self,
        account: Uuid,
        old: &Keyset,
        mut new_key: impl FnMut(&krypt7_store::VaultRow) -> Result<VaultKey>,
    ) -> Result<VaultKeys> {
        let mut keys = VaultKeys::new();
        for row in self.store.vaults()? {
            let old_key = envelope::unwrap_vault_key(
                &old.account_key,
                account.as_bytes(),
                row.id.as_bytes(),
                &row.key_wrap,
            )?;
            keys.insert(row.id, (old_key, new_key(&row)?));
        }
        Ok(keys)
    }

    /// Stages `items` in batches of at most [`STAGE_ITEMS`] items and [`STAGE_BYTES`] bytes,
    /// and checks that the server holds all of them.
    async fn stage(&self, auth: &Auth, items: Vec<StagedItem>) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Staged {
            staged: i64,
        }
        let total = items.len();
        let mut batch: Vec<StagedItem> = Vec::new();
        let mut bytes = 0;
        let mut held = 0;
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() || !batch.is_empty() {
            let full = match rest.peek() {
                Some(next) => {
                    batch.len() == STAGE_ITEMS
                        || (!batch.is_empty() && bytes + next.envelope.0.len() > STAGE_BYTES)
                }
                None => true,
            };
            if full {
                let sent: Staged = self
                    .api
                    .call(
                        Method::PUT,
                        "/v1/account/secret-key/items",
                        Some(auth),
                        Some(&StagedItems {
                            items: std::mem::take(&mut batch),
                        }),
                    )
                    .await?;
                held = sent.staged;
                bytes = 0;
                continue;
            }
            if let Some(next) = rest.next() {
                bytes += next.envelope.0.len();
                batch.push(next);
            }
        }
        if held != total as i64 {
            return Err(ClientError::Integrity(format!(
                "the server holds {held} staged items of the {total} sent"
            )));
        }
        Ok(())
    }

    /// Seals the cache again under new keys, all or nothing: each vault's new wrap, every
    /// item (current state and merge base) and earlier state, the sealed records and values;
    /// the search index and a CLI session's wrap are dropped (both are made again). `own`:
    /// the manifest versions this device committed (the change's first ones).
    fn rekey_cache(
        &self,
        account: Uuid,
        old: &Keyset,
        new: &Keyset,
        keys: &VaultKeys,
        own: &[(Uuid, i64)],
    ) -> Result<()> {
        let mut r = Rekey::default();
        for row in self.store.vaults()? {
            let (_, new_key) = keys.get(&row.id).ok_or_else(|| {
                ClientError::Integrity(format!("no new key for vault {}", row.id))
            })?;
            r.vaults.push((
                row.id,
                envelope::wrap_vault_key(
                    &new.account_key,
                    account.as_bytes(),
                    row.id.as_bytes(),
                    new_key,
                )?,
            ));
            r.metas.push((format!("last-change:{}", row.id), None));
        }
        let (items, history) = self.store.sealed_for_rekey()?;
        let mut vault_of = HashMap::new();
        for it in items {
            let (old_key, new_key) = keys.get(&it.vault_id).ok_or_else(|| {
                ClientError::Integrity(format!("an item of an unknown vault {}", it.vault_id))
            })?;
            let at = binding(account, it.vault_id, it.id);
            let server_envelope = match &it.server_envelope {
                Some(base) if !base.is_empty() => Some(reseal(old_key, new_key, &at, base)?),
                _ => None,
            };
            r.items.push(RekeyedItem {
                id: it.id,
                envelope: reseal(old_key, new_key, &at, &it.envelope)?,
                server_envelope,
            });
            vault_of.insert(it.id, it.vault_id);
        }
        for (id, version, sealed) in history {
            // (An earlier state of an item no longer here opens nothing: left as it is.)
            let Some(vault) = vault_of.get(&id) else {
                continue;
            };
            let (old_key, new_key) = &keys[vault];
            r.history.push((
                id,
                version,
                reseal(old_key, new_key, &binding(account, *vault, id), &sealed)?,
            ));
        }
        for (kind, label) in [
            (Records::PinnedKeys, crate::peers::PIN_LABEL),
            (Records::Transfers, crate::files::TRANSFER_LABEL),
        ] {
            for (row, sealed) in self.store.sealed_rows(kind)? {
                r.records
                    .push((kind, row, reseal_local(account, old, new, label, &sealed)?));
            }
        }
        let mut named = self.store.meta_keys("setting:")?;
        named.push(crate::folder::STATE_KEY.to_string());
        for key in named {
            if let Some(sealed) = self.store.meta(&key)? {
                let again = reseal_local(account, old, new, key.as_bytes(), &sealed)?;
                r.metas.push((key, Some(again)));
            }
        }
        for (vault, version) in own {
            r.metas.push((
                format!("own-commit:{vault}"),
                Some(version.to_be_bytes().to_vec()),
            ));
        }
        for gone in [
            crate::item_index::INDEX_KEY,
            "token",
            "keyset_session",
            "keyset_session_until",
            "keyset_carried",
        ] {
            r.metas.push((gone.to_string(), None));
        }
        Ok(self.store.rekey(&r)?)
    }

    /// The Secret Key was changed on another device (this sync's feed says so): the keys
    /// this device holds open nothing written since. They are wrapped under a key that the
    /// new keyset derives as well (the encryption key pair stays across the change), so that
    /// the cache, and what this device has not sent, open again after the next unlock with
    /// the new Secret Key; the unlock by the old one, keychain unlock and a CLI session are
    /// dropped. The sync stops here ([`ClientError::SecretKeyChanged`]).
    pub(crate) fn carry_keyset(&self, counts: Counts) -> Result<()> {
        let u = self.unlocked()?;
        let account = u.account;
        let carried = match self.store.meta("keyset_carried")? {
            // Changed twice before this device unlocked again: the keys it holds are those
            // it carried the first time.
            Some(c) => c,
            None => envelope::wrap_keyset(
                KeysetWrapper::Carry(&CarryKey::derive(&u.keyset.encryption)),
                account.as_bytes(),
                &u.keyset,
            )?,
        };
        drop(u);
        let credentials = counts.credentials.to_string();
        let key_epoch = counts.key_epoch.to_string();
        self.store.set_metas(&[
            ("keyset_carried", Some(&carried)),
            ("local_setup", None),
            ("keyset_local", None),
            ("keyset_device", None),
            ("keyset_session", None),
            ("keyset_session_until", None),
            ("credentials", Some(credentials.as_bytes())),
            ("key_epoch", Some(key_epoch.as_bytes())),
        ])?;
        self.store.forget_overwritten()?;
        // Best effort: the keychain's entries open nothing here any more.
        let _ = keychain::delete(account, keychain::DEVICE_KEY);
        let _ = keychain::delete(account, keychain::SECRET_KEY);
        Err(ClientError::SecretKeyChanged)
    }

    /// The Secret Key was changed on another device, and this one has learned of it (a
    /// sync): it unlocks next with the new Secret Key, online ([`Client::unlock_online`]).
    pub fn secret_key_changed_elsewhere(&self) -> Result<bool> {
        Ok(self.store.meta("keyset_carried")?.is_some())
    }

    /// The keys this device carried across a change of the Secret Key, opened with the new
    /// keyset (`None` when it carries none).
    pub(crate) fn carried_keyset(&self, account: Uuid, new: &Keyset) -> Result<Option<Keyset>> {
        let Some(carried) = self.store.meta("keyset_carried")? else {
            return Ok(None);
        };
        envelope::unwrap_keyset(
            KeysetWrapper::Carry(&CarryKey::derive(&new.encryption)),
            account.as_bytes(),
            &carried,
        )
        .map(Some)
        .map_err(|_| {
            ClientError::Integrity(
                "the keys this device kept across the Secret Key change do not open with the \
                 account's new keys"
                    .into(),
            )
        })
    }

    /// After a change of the Secret Key made elsewhere: the vaults' new keys from the server
    /// (opened with the new keyset), and the cache sealed again under them.
    pub(crate) async fn rekey_from_carried(
        &mut self,
        account: Uuid,
        old: &Keyset,
        new: &Keyset,
        token: &str,
    ) -> Result<()> {
        let vaults: Vec<Vault> = self
            .api
            .call::<(), _>(Method::GET, "/v1/vaults", Some(&Auth::unbound(token)), None)
            .await?;
        let keys = self.vault_keys(account, old, |row| {
            let wrap = vaults.iter().find(|v| v.id == row.id).ok_or_else(|| {
                ClientError::Integrity(format!("the server holds no key for vault {}", row.id))
            })?;
            envelope::unwrap_vault_key(
                &new.account_key,
                account.as_bytes(),
                row.id.as_bytes(),
                &wrap.key_wrap.0,
            )
            .map_err(|_| {
                ClientError::Integrity("a vault key that this account did not wrap".into())
            })
        })?;
        self.rekey_cache(account, old, new, &keys, &[])
    }
}

fn binding(account: Uuid, vault: Uuid, item: Uuid) -> ItemBinding {
    ItemBinding {
        account: *account.as_bytes(),
        vault: *vault.as_bytes(),
        item: *item.as_bytes(),
    }
}

/// An item opened under `old` and sealed again under `new`, unchanged (an empty state, which
/// only a deletion may have, stays empty).
fn reseal(old: &VaultKey, new: &VaultKey, at: &ItemBinding, sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.is_empty() {
        return Ok(Vec::new());
    }
    let opened = envelope::open_item(old, at, sealed)?;
    Ok(envelope::seal_item(
        new,
        at,
        opened.item_type,
        opened.format_version,
        &opened.plaintext,
    )?)
}

/// A local secret opened under the old account key and sealed again under the new one.
fn reseal_local(
    account: Uuid,
    old: &Keyset,
    new: &Keyset,
    label: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let plain = envelope::open_local_secret(&old.account_key, account.as_bytes(), label, sealed)?;
    Ok(envelope::seal_local_secret(
        &new.account_key,
        account.as_bytes(),
        label,
        &plain,
    )?)
}
