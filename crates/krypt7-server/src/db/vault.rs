//! Vault data: key wraps, items and manifests, commits, and the change feed.

use krypt7_protocol::{B64, Current, Item, Manifest, Vault};
use sqlx::{Row, any::AnyRow};
use uuid::Uuid;

use super::{Db, DbError, Result, uuid};

/// Mail bytes a page of the change feed carries at most (beyond its first message).
const MAIL_PAGE_BYTES: usize = 8 << 20;

impl Db {
    // ---- vault data ------------------------------------------------------------------------

    /// Takes the account's next sequence number (and, on SQLite, the write lock).
    pub(super) async fn next_seq(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account: &[u8],
    ) -> Result<i64> {
        Ok(sqlx::query(
            "UPDATE accounts SET seq = seq + 1 WHERE id = $1 AND deleted_at IS NULL RETURNING seq",
        )
        .bind(account.to_vec())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DbError::NotFound)?
        .try_get("seq")?)
    }

    fn item_from(r: &AnyRow) -> Result<Item> {
        Ok(Item {
            id: uuid(r, "id")?,
            vault_id: uuid(r, "vault_id")?,
            revision: r.try_get("revision")?,
            envelope: B64(r.try_get("envelope")?),
            deleted: r.try_get::<i64, _>("deleted")? != 0,
            cursor: r.try_get("seq")?,
        })
    }

    /// Writes an item on top of `base_revision` (0 = the item is new), outside any commit. A
    /// stale base returns [`DbError::Conflict`] with the stored item; growth past the quota,
    /// `QuotaExceeded`.
    pub async fn push_item(
        &self,
        account: Uuid,
        id: Uuid,
        vault: Uuid,
        base_revision: i64,
        envelope: &[u8],
        deleted: bool,
    ) -> Result<Item> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let item =
            Self::write_item(&mut tx, &acct, id, vault, base_revision, envelope, deleted).await?;
        tx.commit().await?;
        Ok(item)
    }

    async fn write_item(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        acct: &[u8],
        id: Uuid,
        vault: Uuid,
        base_revision: i64,
        envelope: &[u8],
        deleted: bool,
    ) -> Result<Item> {
        let seq = Self::next_seq(tx, acct).await?;
        let current = sqlx::query("SELECT id, vault_id, revision, envelope, deleted, seq FROM items WHERE account_id = $1 AND id = $2")
            .bind(acct.to_vec())
            .bind(id.as_bytes().to_vec())
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| Self::item_from(&r))
            .transpose()?;
        let current_revision = current.as_ref().map_or(0, |i| i.revision);
        if current_revision != base_revision
            || current.as_ref().is_some_and(|c| c.vault_id != vault)
        {
            return Err(match current {
                Some(c) => DbError::Conflict(Box::new(Current::Item(c))),
                None => DbError::NotFound,
            });
        }
        let growth =
            envelope.len() as i64 - current.as_ref().map_or(0, |c| c.envelope.0.len() as i64);
        let ok = sqlx::query(
            "UPDATE accounts SET usage_bytes = usage_bytes + $1 WHERE id = $2 AND ($1 <= 0 OR usage_bytes + $1 <= quota_bytes)",
        )
        .bind(growth)
        .bind(acct.to_vec())
        .execute(&mut **tx)
        .await?;
        if ok.rows_affected() == 0 {
            return Err(DbError::QuotaExceeded);
        }
        let revision = current_revision + 1;
        sqlx::query(
            "INSERT INTO items (account_id, id, vault_id, revision, envelope, deleted, seq) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account_id, id) DO UPDATE SET revision = $4, envelope = $5, deleted = $6, seq = $7",
        )
        .bind(acct.to_vec())
        .bind(id.as_bytes().to_vec())
        .bind(vault.as_bytes().to_vec())
        .bind(revision)
        .bind(envelope)
        .bind(i64::from(deleted))
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        Ok(Item {
            id,
            vault_id: vault,
            revision,
            envelope: B64(envelope.to_vec()),
            deleted,
            cursor: seq,
        })
    }

    /// Stores a vault's wrapped key (creating the vault).
    pub async fn put_vault(&self, account: Uuid, vault: Uuid, key_wrap: &[u8]) -> Result<Vault> {
        let acct = account.as_bytes().to_vec();
        let vid = vault.as_bytes().to_vec();
        let mut tx = self.write().await?;
        // Write-once: a wrap, once stored, stays (the same bytes again are a retried request).
        let existing: Option<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT key_wrap, key_seq FROM vaults WHERE account_id = $1 AND id = $2",
        )
        .bind(&acct)
        .bind(&vid)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((stored, seq)) = existing {
            if stored != key_wrap {
                return Err(DbError::Exists);
            }
            return Ok(Vault {
                id: vault,
                key_wrap: B64(stored),
                cursor: seq,
            });
        }
        let seq = Self::next_seq(&mut tx, &acct).await?;
        sqlx::query(
            "INSERT INTO vaults (account_id, id, key_wrap, key_seq) VALUES ($1, $2, $3, $4)",
        )
        .bind(acct)
        .bind(vid)
        .bind(key_wrap)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Vault {
            id: vault,
            key_wrap: B64(key_wrap.to_vec()),
            cursor: seq,
        })
    }

    /// Every vault of the account, with its current key wrap.
    pub async fn vaults(&self, account: Uuid) -> Result<Vec<Vault>> {
        sqlx::query(
            "SELECT id, key_wrap, key_seq FROM vaults
             WHERE account_id = $1 AND key_wrap IS NOT NULL ORDER BY id",
        )
        .bind(account.as_bytes().to_vec())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(Self::vault_from)
        .collect()
    }

    fn vault_from(r: &AnyRow) -> Result<Vault> {
        Ok(Vault {
            id: uuid(r, "id")?,
            key_wrap: B64(r.try_get("key_wrap")?),
            cursor: r.try_get("key_seq")?,
        })
    }

    /// Writes a vault's items and its next manifest in one transaction: the manifest moves
    /// from version `expected` to `version` and every item from its base revision, or
    /// nothing changes.
    pub async fn commit(
        &self,
        account: Uuid,
        vault: Uuid,
        c: &krypt7_protocol::Commit,
    ) -> Result<krypt7_protocol::Committed> {
        let acct = account.as_bytes().to_vec();
        let vid = vault.as_bytes().to_vec();
        let mut tx = self.write().await?;
        // Fail fast on a stale manifest; the guarded UPDATE below decides under concurrency.
        if Self::manifest_version(&mut tx, &acct, &vid).await? != c.expected_version {
            return Err(Self::manifest_conflict(&mut tx, &acct, vault).await);
        }
        let mut items = Vec::with_capacity(c.items.len());
        for it in &c.items {
            items.push(
                Self::write_item(
                    &mut tx,
                    &acct,
                    it.id,
                    vault,
                    it.base_revision,
                    &it.envelope.0,
                    it.deleted,
                )
                .await?,
            );
        }
        let seq = Self::next_seq(&mut tx, &acct).await?;
        let updated = sqlx::query(
            "UPDATE vaults SET manifest = $1, manifest_version = $2, manifest_seq = $3
             WHERE account_id = $4 AND id = $5 AND manifest_version = $6",
        )
        .bind(c.manifest.0.clone())
        .bind(c.version)
        .bind(seq)
        .bind(acct.clone())
        .bind(vid)
        .bind(c.expected_version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Self::manifest_conflict(&mut tx, &acct, vault).await);
        }
        sqlx::query(
            "INSERT INTO manifests (account_id, vault_id, version, manifest, seq)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(acct.clone())
        .bind(vault.as_bytes().to_vec())
        .bind(c.version)
        .bind(c.manifest.0.clone())
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(krypt7_protocol::Committed {
            manifest: Manifest {
                vault_id: vault,
                version: c.version,
                manifest: c.manifest.clone(),
                cursor: seq,
            },
            items,
        })
    }

    async fn manifest_version(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        acct: &[u8],
        vid: &[u8],
    ) -> Result<i64> {
        Ok(
            sqlx::query("SELECT manifest_version FROM vaults WHERE account_id = $1 AND id = $2")
                .bind(acct.to_vec())
                .bind(vid.to_vec())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(DbError::NotFound)?
                .try_get("manifest_version")?,
        )
    }

    /// The error for a lost manifest race: `409` with the stored manifest.
    async fn manifest_conflict(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        acct: &[u8],
        vault: Uuid,
    ) -> DbError {
        let current = async {
            let r = sqlx::query("SELECT manifest, manifest_version, manifest_seq FROM vaults WHERE account_id = $1 AND id = $2")
                .bind(acct.to_vec())
                .bind(vault.as_bytes().to_vec())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(DbError::NotFound)?;
            Ok::<_, DbError>(Manifest {
                vault_id: vault,
                version: r.try_get("manifest_version")?,
                manifest: B64(r
                    .try_get::<Option<Vec<u8>>, _>("manifest")?
                    .unwrap_or_default()),
                cursor: r.try_get("manifest_seq")?,
            })
        };
        match current.await {
            Ok(m) => DbError::Conflict(Box::new(Current::Manifest(m))),
            Err(e) => e,
        }
    }

    /// Everything that changed after `since`, up to `limit` items and messages (O(changes),
    /// by index).
    pub async fn changes(
        &self,
        account: Uuid,
        since: i64,
        limit: i64,
    ) -> Result<krypt7_protocol::Changes> {
        let acct = account.as_bytes().to_vec();
        // Read the committed sequence first: any write that commits later has a larger one.
        let account_row = sqlx::query(
            "SELECT seq, credentials, key_epoch FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(acct.clone())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        let upto: i64 = account_row.try_get("seq")?;
        let rows = sqlx::query(
            "SELECT id, vault_id, revision, envelope, deleted, seq FROM items
             WHERE account_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(acct.clone())
        .bind(since)
        .bind(upto)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items: Vec<Item> = rows.iter().map(Self::item_from).collect::<Result<_>>()?;
        let mut mail = self.mail_between(&acct, since, upto, limit + 1).await?;
        // The page: the `limit` oldest changes of either kind, mail only up to a byte budget
        // (one message at least).
        let mut changes: Vec<(i64, usize)> = items
            .iter()
            .map(|i| (i.cursor, 0))
            .chain(mail.iter().map(|m| (m.cursor, m.sealed.0.len())))
            .collect();
        changes.sort_unstable();
        let mut bytes = 0;
        let mut cut = None;
        for (n, (_, size)) in changes.iter().enumerate() {
            bytes += size;
            if n as i64 == limit || (n > 0 && bytes > MAIL_PAGE_BYTES) {
                cut = Some(changes[n - 1].0);
                break;
            }
        }
        let (cursor, has_more) = match cut {
            Some(c) => (c, true),
            None => (upto.max(since), false),
        };
        items.retain(|i| i.cursor <= cursor);
        mail.retain(|m| m.cursor <= cursor);
        let vaults = sqlx::query(
            "SELECT id, key_wrap, key_seq FROM vaults
             WHERE account_id = $1 AND key_seq > $2 AND key_seq <= $3 AND key_wrap IS NOT NULL",
        )
        .bind(acct.clone())
        .bind(since)
        .bind(cursor)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(Self::vault_from)
        .collect::<Result<Vec<_>>>()?;
        // Every manifest in the range, in order: a device checks each links to the one before.
        let manifests = sqlx::query(
            "SELECT vault_id, version, manifest, seq FROM manifests
             WHERE account_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(acct)
        .bind(since)
        .bind(cursor)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Manifest {
                vault_id: uuid(r, "vault_id")?,
                version: r.try_get("version")?,
                manifest: B64(r.try_get("manifest")?),
                cursor: r.try_get("seq")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(krypt7_protocol::Changes {
            items,
            vaults,
            manifests,
            cursor,
            has_more,
            credentials: account_row.try_get("credentials")?,
            key_epoch: account_row.try_get("key_epoch")?,
            mail,
        })
    }
}
