//! A change of the account's Secret Key (`docs/server.md`, "Changing the Secret Key"): every
//! item re-sealed under new keys is staged, then the account's credentials, key wraps,
//! items and manifests are replaced in one transaction, or nothing changes.

use krypt7_protocol::{RekeyedVault, StagedItem};
use sqlx::Row;
use uuid::Uuid;

use super::{Db, DbError, Result, uuid};

/// Staged items are applied this many at a time (each is one `UPDATE`).
const PAGE: i64 = 1000;

/// What a finished Secret Key change replaces.
pub struct NewCredentials<'a> {
    pub opaque_record: &'a [u8],
    pub kdf_setup: &'a [u8],
    pub keyset: &'a [u8],
}

impl Db {
    /// Drops every item staged for a Secret Key change (a new change starts).
    pub async fn drop_staged(&self, account: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM rekey_items WHERE account_id = $1")
            .bind(account.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stages re-sealed items. Only an item the account holds, in the vault it is in, can be
    /// staged (so staging is bounded by what the account stores); staging one again replaces
    /// it. Returns how many items are staged now.
    pub async fn stage(&self, account: Uuid, items: &[StagedItem]) -> Result<i64> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        for it in items {
            let r = sqlx::query(
                "INSERT INTO rekey_items (account_id, id, vault_id, base_revision, envelope, deleted)
                 SELECT account_id, id, vault_id, $1, $2, $3 FROM items
                 WHERE account_id = $4 AND id = $5 AND vault_id = $6
                 ON CONFLICT (account_id, id) DO UPDATE
                 SET base_revision = $1, envelope = $2, deleted = $3",
            )
            .bind(it.base_revision)
            .bind(it.envelope.0.clone())
            .bind(i64::from(it.deleted))
            .bind(acct.clone())
            .bind(it.id.as_bytes().to_vec())
            .bind(it.vault_id.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Err(DbError::Stale(
                    "a staged item is not one of the account's items in that vault",
                ));
            }
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM rekey_items WHERE account_id = $1")
            .bind(acct)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        tx.commit().await?;
        Ok(n)
    }

    /// Finishes a Secret Key change: checks that every vault of the account is named once at
    /// its current manifest version and that every item is staged at its current revision,
    /// then replaces the credentials and keyset, each vault's key wrap and manifest (its
    /// history, sealed under the old key, deleted), and each item by its staged envelope.
    /// Returns the account's new counts `(credentials, key_epoch)` and its feed position.
    /// The old values are gone from the files when this returns.
    pub async fn change_secret_key(
        &self,
        account: Uuid,
        new: &NewCredentials<'_>,
        vaults: &[RekeyedVault],
    ) -> Result<(i64, i64, i64)> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let stored: Vec<(Uuid, i64)> =
            sqlx::query("SELECT id, manifest_version FROM vaults WHERE account_id = $1")
                .bind(acct.clone())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((uuid(r, "id")?, r.try_get("manifest_version")?)))
                .collect::<Result<_>>()?;
        if stored.len() != vaults.len() {
            return Err(DbError::Stale(
                "every vault of the account must be re-keyed, each once",
            ));
        }
        for (id, version) in &stored {
            match vaults.iter().find(|v| v.id == *id) {
                None => {
                    return Err(DbError::Stale(
                        "every vault of the account must be re-keyed, each once",
                    ));
                }
                Some(v) if v.expected_version != *version => {
                    return Err(DbError::Stale(
                        "a vault's manifest changed since the change was prepared",
                    ));
                }
                Some(_) => {}
            }
        }
        // Every item staged, at its current revision, in its vault; nothing else staged.
        let missing: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM items i WHERE i.account_id = $1 AND NOT EXISTS (
                 SELECT 1 FROM rekey_items r WHERE r.account_id = i.account_id AND r.id = i.id
                 AND r.vault_id = i.vault_id AND r.base_revision = i.revision)",
        )
        .bind(acct.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if missing != 0 {
            return Err(DbError::Stale(
                "items changed since the change was prepared, or were not all staged",
            ));
        }
        let (items, staged_bytes, stored_bytes): (i64, i64, i64) = {
            let r = sqlx::query(
                "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(r.envelope)), 0) AS staged,
                        COALESCE(SUM(LENGTH(i.envelope)), 0) AS stored
                 FROM rekey_items r JOIN items i ON i.account_id = r.account_id AND i.id = r.id
                 WHERE r.account_id = $1",
            )
            .bind(acct.clone())
            .fetch_one(&mut *tx)
            .await?;
            (r.try_get("n")?, r.try_get("staged")?, r.try_get("stored")?)
        };
        let growth = staged_bytes - stored_bytes;
        let ok = sqlx::query(
            "UPDATE accounts SET usage_bytes = usage_bytes + $1 WHERE id = $2
             AND ($1 <= 0 OR usage_bytes + $1 <= quota_bytes)",
        )
        .bind(growth)
        .bind(acct.clone())
        .execute(&mut *tx)
        .await?;
        if ok.rows_affected() == 0 {
            return Err(DbError::QuotaExceeded);
        }
        // The new wraps first in the feed, then the items, then the manifests.
        for v in vaults {
            let seq = Self::next_seq(&mut tx, &acct).await?;
            sqlx::query(
                "UPDATE vaults SET key_wrap = $1, key_seq = $2 WHERE account_id = $3 AND id = $4",
            )
            .bind(v.key_wrap.0.clone())
            .bind(seq)
            .bind(acct.clone())
            .bind(v.id.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
        }
        // Each item its own feed position (the feed pages by position).
        let mut applied = 0i64;
        let mut after: Vec<u8> = Vec::new();
        loop {
            let page = sqlx::query(
                "SELECT id, base_revision, envelope, deleted FROM rekey_items
                 WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(acct.clone())
            .bind(after.clone())
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.try_get("id")?;
            for r in &page {
                let seq = Self::next_seq(&mut tx, &acct).await?;
                let done = sqlx::query(
                    "UPDATE items SET envelope = $1, deleted = $2, revision = revision + 1, seq = $3
                     WHERE account_id = $4 AND id = $5 AND revision = $6",
                )
                .bind(r.try_get::<Vec<u8>, _>("envelope")?)
                .bind(r.try_get::<i64, _>("deleted")?)
                .bind(seq)
                .bind(acct.clone())
                .bind(r.try_get::<Vec<u8>, _>("id")?)
                .bind(r.try_get::<i64, _>("base_revision")?)
                .execute(&mut *tx)
                .await?;
                applied += i64::try_from(done.rows_affected()).unwrap_or(0);
            }
        }
        if applied != items {
            return Err(DbError::Stale("items changed while the change was applied"));
        }
        sqlx::query("DELETE FROM rekey_items WHERE account_id = $1")
            .bind(acct.clone())
            .execute(&mut *tx)
            .await?;
        // The histories were sealed under the old keys: each vault's chain starts again.
        sqlx::query("DELETE FROM manifests WHERE account_id = $1")
            .bind(acct.clone())
            .execute(&mut *tx)
            .await?;
        for v in vaults {
            let seq = Self::next_seq(&mut tx, &acct).await?;
            let version = v.expected_version + 1;
            sqlx::query(
                "UPDATE vaults SET manifest = $1, manifest_version = $2, manifest_seq = $3
                 WHERE account_id = $4 AND id = $5",
            )
            .bind(v.manifest.0.clone())
            .bind(version)
            .bind(seq)
            .bind(acct.clone())
            .bind(v.id.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO manifests (account_id, vault_id, version, manifest, seq)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(acct.clone())
            .bind(v.id.as_bytes().to_vec())
            .bind(version)
            .bind(v.manifest.0.clone())
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        let r = sqlx::query(
            "UPDATE accounts SET opaque_record = $1, kdf_setup = $2, keyset = $3,
             credentials = credentials + 1, key_epoch = key_epoch + 1
             WHERE id = $4 AND deleted_at IS NULL RETURNING credentials, key_epoch, seq",
        )
        .bind(new.opaque_record)
        .bind(new.kdf_setup)
        .bind(new.keyset)
        .bind(acct)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound)?;
        let changed = (
            r.try_get("credentials")?,
            r.try_get("key_epoch")?,
            r.try_get("seq")?,
        );
        tx.commit().await?;
        self.forget_old_versions(true).await?;
        Ok(changed)
    }
}
