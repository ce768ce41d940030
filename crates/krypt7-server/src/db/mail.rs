//! Mail: delivery (one row per recipient, in the recipient's change feed, counted against
//! the recipient's quota), the feed's mail entries, and a device taking a message in (its
//! bytes and its share of the quota go; a marker stays in the feed). Messages are sealed on the sender's device: the server
//! stores opaque bytes and knows sender, recipients, size and time (`docs/mail.md`).

use krypt7_protocol::{B64, IncomingMail};
use sqlx::Row;
use uuid::Uuid;

use super::{Db, DbError, Result, uuid};

/// One sealed copy of a message and the recipient accounts it goes to.
pub struct Delivery {
    pub recipients: Vec<Uuid>,
    pub sealed: Vec<u8>,
}

/// An attachment of a message: one of the sender's complete blobs.
pub struct BlobHead {
    pub id: Uuid,
    pub size: i64,
    pub chunk_size: i64,
    pub chunks: i64,
}

/// What a delivery did: when, whether it was a retry of one already made, and the feed
/// position it took in each recipient's account (for the push channel).
pub struct Delivered {
    pub at: i64,
    pub already: bool,
    pub cursors: Vec<(Uuid, i64)>,
}

impl Db {
    /// Delivers one message: every copy to each of its recipients, all or nothing. A
    /// `client_id` the sender used before is not delivered again (`already`). A recipient
    /// that does not exist (or was deleted) is [`DbError::NoRecipient`]; one whose storage
    /// is full, [`DbError::RecipientFull`].
    pub async fn deliver(
        &self,
        sender: Uuid,
        client_id: Uuid,
        copies: &[Delivery],
        attachments: &[BlobHead],
        now: i64,
    ) -> Result<Delivered> {
        let mut tx = self.write().await?;
        let first = sqlx::query(
            "INSERT INTO mail_sent (sender_id, client_id, delivered_at) VALUES ($1, $2, $3)
             ON CONFLICT (sender_id, client_id) DO NOTHING",
        )
        .bind(sender.as_bytes().to_vec())
        .bind(client_id.as_bytes().to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if first.rows_affected() == 0 {
            let at: i64 = sqlx::query(
                "SELECT delivered_at FROM mail_sent WHERE sender_id = $1 AND client_id = $2",
            )
            .bind(sender.as_bytes().to_vec())
            .bind(client_id.as_bytes().to_vec())
            .fetch_one(&mut *tx)
            .await?
            .try_get("delivered_at")?;
            return Ok(Delivered {
                at,
                already: true,
                cursors: vec![],
            });
        }
        // Accounts in one order, whatever the message's: two deliveries never wait on each
        // other's rows in opposite orders.
        let mut rows: Vec<(Uuid, &[u8])> = copies
            .iter()
            .flat_map(|c| c.recipients.iter().map(|r| (*r, c.sealed.as_slice())))
            .collect();
        rows.sort_by_key(|(r, _)| *r);
        let mut cursors = Vec::with_capacity(rows.len());
        for (recipient, sealed) in rows {
            let acct = recipient.as_bytes().to_vec();
            let seq = match Self::next_seq(&mut tx, &acct).await {
                Err(DbError::NotFound) => return Err(DbError::NoRecipient(recipient)),
                r => r?,
            };
            // Each attachment becomes the recipient's blob (its chunks were linked before),
            // unless they hold it already; what is new counts against their quota.
            let mut size = sealed.len() as i64;
            for b in attachments {
                let added = sqlx::query(
                    "INSERT INTO blobs (account_id, id, size, chunk_size, complete, created_at)
                     VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT DO NOTHING",
                )
                .bind(acct.clone())
                .bind(b.id.as_bytes().to_vec())
                .bind(b.size)
                .bind(b.chunk_size)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if added.rows_affected() == 0 {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO blob_chunks (account_id, blob_id, idx)
                     SELECT $1, blob_id, idx FROM blob_chunks WHERE account_id = $2 AND blob_id = $3",
                )
                .bind(acct.clone())
                .bind(sender.as_bytes().to_vec())
                .bind(b.id.as_bytes().to_vec())
                .execute(&mut *tx)
                .await?;
                size += b.size;
            }
            let fits = sqlx::query(
                "UPDATE accounts SET usage_bytes = usage_bytes + $1 WHERE id = $2 AND usage_bytes + $1 <= quota_bytes",
            )
            .bind(size)
            .bind(acct.clone())
            .execute(&mut *tx)
            .await?;
            if fits.rows_affected() == 0 {
                return Err(DbError::RecipientFull(recipient));
            }
            sqlx::query(
                "INSERT INTO mail (account_id, id, sender_id, sealed, size, arrived_at, seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(acct)
            .bind(Uuid::new_v4().as_bytes().to_vec())
            .bind(sender.as_bytes().to_vec())
            .bind(sealed.to_vec())
            .bind(sealed.len() as i64)
            .bind(now)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            cursors.push((recipient, seq));
        }
        tx.commit().await?;
        Ok(Delivered {
            at: now,
            already: false,
            cursors,
        })
    }

    /// The sender's blobs `ids`, each complete; any other is [`DbError::NotFound`].
    pub async fn complete_blobs(&self, account: Uuid, ids: &[Uuid]) -> Result<Vec<BlobHead>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let b = self.blob_head(account, *id).await?;
            if !b.complete {
                return Err(DbError::NotFound);
            }
            out.push(BlobHead {
                id: *id,
                size: b.size,
                chunk_size: b.chunk_size,
                chunks: b.chunks,
            });
        }
        Ok(out)
    }

    /// Mail in the feed after `since` up to `upto`, oldest first, at most `limit`.
    pub(super) async fn mail_between(
        &self,
        account: &[u8],
        since: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<IncomingMail>> {
        sqlx::query(
            "SELECT id, sender_id, sealed, arrived_at, seq, taken FROM mail
             WHERE account_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(account.to_vec())
        .bind(since)
        .bind(upto)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(IncomingMail {
                id: uuid(r, "id")?,
                sender: uuid(r, "sender_id")?,
                arrived_at: r.try_get("arrived_at")?,
                sealed: B64(r.try_get("sealed")?),
                cursor: r.try_get("seq")?,
                taken: r.try_get::<i64, _>("taken")? != 0,
            })
        })
        .collect()
    }

    /// A device took message `id` in: its sealed bytes leave the server and its size the
    /// quota; a marker stays in the feed at a new position (returned).
    pub async fn take_mail(&self, account: Uuid, id: Uuid) -> Result<i64> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let seq = Self::next_seq(&mut tx, &acct).await?;
        let size: i64 = sqlx::query(
            "UPDATE mail SET sealed = $1, taken = 1, seq = $2
             WHERE account_id = $3 AND id = $4 AND taken = 0 RETURNING size",
        )
        .bind(Vec::<u8>::new())
        .bind(seq)
        .bind(acct.clone())
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound)?
        .try_get("size")?;
        sqlx::query("UPDATE accounts SET usage_bytes = usage_bytes - $1 WHERE id = $2")
            .bind(size)
            .bind(acct)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }
}
