//! Sign-in, sessions, second factors, step-up proofs and the record of unauthorized
//! attempts.

use sqlx::Row;
use uuid::Uuid;

use super::{Db, DbError, IP, Result, TOTP, uuid};

/// A step-up round as it starts.
pub struct NewStepUp<'a> {
    pub id: Uuid,
    pub account: Uuid,
    pub session: Uuid,
    pub action: &'a str,
    /// OPAQUE's server state until the round finishes.
    pub state: &'a [u8],
    /// Where the round came from (recorded if it is left unfinished).
    pub ip: &'a str,
    pub expires_at: i64,
}

/// A session row, as a request's token finds it.
pub struct LiveSession {
    pub id: Uuid,
    pub account: Uuid,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Why it ended ("signed out", "revoked", "expired"), if it did.
    pub ended: Option<String>,
}

/// A pending sign-in between OPAQUE's messages (and the second factor).
pub struct PendingLogin {
    pub account_id: Option<Uuid>,
    pub state: Vec<u8>,
    pub device_name: Option<String>,
    pub second_factor: Option<String>,
    pub attempts: i64,
    pub expires_at: i64,
}

pub struct SessionRow {
    pub id: Uuid,
    pub device_name: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl Db {
    // ---- sign-in and sessions ------------------------------------------------------------

    pub async fn put_pending_login(
        &self,
        id: Uuid,
        account: Option<Uuid>,
        state: &[u8],
        ip: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO pending_logins (id, account_id, state, ip, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_bytes().to_vec())
            .bind(account.map(|a| a.as_bytes().to_vec()))
            .bind(state)
            .bind(self.at_rest.seal_text(IP, b"", ip))
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes and returns a pending sign-in (each is used once).
    pub async fn take_pending_login(&self, id: Uuid) -> Result<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM pending_logins WHERE id = $1
             RETURNING account_id, state, device_name, second_factor, attempts, expires_at",
        )
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let account: Option<Vec<u8>> = r.try_get("account_id")?;
            Ok(PendingLogin {
                account_id: account.and_then(|b| Uuid::from_slice(&b).ok()),
                state: r.try_get("state")?,
                device_name: r.try_get("device_name")?,
                second_factor: r.try_get("second_factor")?,
                attempts: r.try_get("attempts")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Re-files a sign-in that passed OPAQUE and now waits for its second factor.
    pub async fn put_second_factor_login(
        &self,
        id: Uuid,
        account: Uuid,
        kind: &str,
        sms_code_hash: Option<&[u8]>,
        device_name: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pending_logins (id, account_id, state, device_name, second_factor, sms_code_hash, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_bytes().to_vec())
        .bind(account.as_bytes().to_vec())
        .bind(Vec::<u8>::new())
        .bind(device_name)
        .bind(kind)
        .bind(sms_code_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A sign-in waiting for its second factor: `(pending, sms code hash)`. Counts the
    /// attempt; the row is gone after five.
    pub async fn second_factor_attempt(
        &self,
        id: Uuid,
    ) -> Result<Option<(PendingLogin, Option<Vec<u8>>)>> {
        let idb = id.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE pending_logins SET attempts = attempts + 1 WHERE id = $1 AND second_factor IS NOT NULL
             RETURNING account_id, state, device_name, second_factor, attempts, expires_at, sms_code_hash",
        )
        .bind(idb.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let account: Option<Vec<u8>> = r.try_get("account_id")?;
        let pending = PendingLogin {
            account_id: account.and_then(|b| Uuid::from_slice(&b).ok()),
            state: r.try_get("state")?,
            device_name: r.try_get("device_name")?,
            second_factor: r.try_get("second_factor")?,
            attempts: r.try_get("attempts")?,
            expires_at: r.try_get("expires_at")?,
        };
        if pending.attempts >= 5 {
            sqlx::query("DELETE FROM pending_logins WHERE id = $1")
                .bind(idb)
                .execute(&mut *tx)
                .await?;
        }
        let hash = r.try_get("sms_code_hash")?;
        tx.commit().await?;
        Ok(Some((pending, hash)))
    }

    pub async fn delete_pending_login(&self, id: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM pending_logins WHERE id = $1")
            .bind(id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- second factors ------------------------------------------------------------------

    /// `(active secret, pending secret, last accepted step)`.
    pub async fn totp(&self, account: Uuid) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>, i64)> {
        let r = sqlx::query("SELECT totp_secret, totp_pending, totp_last_step FROM accounts WHERE id = $1 AND deleted_at IS NULL")
            .bind(account.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        let open = |column: &str| -> Result<Option<Vec<u8>>> {
            let sealed: Option<Vec<u8>> = r.try_get(column)?;
            Ok(sealed
                .map(|s| self.at_rest.open(TOTP, account.as_bytes(), &s))
                .transpose()?)
        };
        Ok((
            open("totp_secret")?,
            open("totp_pending")?,
            r.try_get("totp_last_step")?,
        ))
    }

    pub async fn set_totp_pending(&self, account: Uuid, secret: &[u8]) -> Result<()> {
        sqlx::query("UPDATE accounts SET totp_pending = $1 WHERE id = $2")
            .bind(self.at_rest.seal(TOTP, account.as_bytes(), secret))
            .bind(account.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Turns the pending secret on, consuming `step`.
    pub async fn confirm_totp(&self, account: Uuid, step: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1
             WHERE id = $2 AND totp_pending IS NOT NULL",
        )
        .bind(step)
        .bind(account.as_bytes().to_vec())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Accepts a TOTP step once: false if this step (or a later one) was already used.
    pub async fn use_totp_step(&self, account: Uuid, step: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(account.as_bytes().to_vec())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn disable_totp(&self, account: Uuid) -> Result<()> {
        sqlx::query("UPDATE accounts SET totp_secret = NULL, totp_pending = NULL WHERE id = $1")
            .bind(account.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores the hash of an SMS enrolment code.
    pub async fn set_sms_code(&self, account: Uuid, hash: &[u8], until: i64) -> Result<()> {
        sqlx::query("UPDATE accounts SET sms_code_hash = $1, sms_code_until = $2 WHERE id = $3")
            .bind(hash)
            .bind(until)
            .bind(account.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Turns SMS on if `hash` matches the enrolment code and it has not expired (used once).
    pub async fn confirm_sms(&self, account: Uuid, hash: &[u8], now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET sms_enabled = 1, sms_code_hash = NULL, sms_code_until = NULL
             WHERE id = $1 AND sms_code_hash = $2 AND sms_code_until >= $3",
        )
        .bind(account.as_bytes().to_vec())
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn disable_sms(&self, account: Uuid) -> Result<()> {
        sqlx::query("UPDATE accounts SET sms_enabled = 0, sms_code_hash = NULL, sms_code_until = NULL WHERE id = $1")
            .bind(account.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- step-up proofs --------------------------------------------------------------------

    /// A step-up round started by a session for an action, waiting for its finish.
    pub async fn put_step_up(&self, r: NewStepUp<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO step_ups (id, account_id, session_id, action, state, ip, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id.as_bytes().to_vec())
        .bind(r.account.as_bytes().to_vec())
        .bind(r.session.as_bytes().to_vec())
        .bind(r.action)
        .bind(r.state)
        .bind(self.at_rest.seal_text(IP, b"", r.ip))
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the OPAQUE state of an unfinished step-up round of `session` that has not
    /// expired by `now` (each round is finished once, right or wrong: a failed one is gone).
    pub async fn take_step_up_state(
        &self,
        id: Uuid,
        account: Uuid,
        session: Uuid,
        now: i64,
    ) -> Result<Option<Vec<u8>>> {
        let (id, account, session) = (
            id.as_bytes().to_vec(),
            account.as_bytes().to_vec(),
            session.as_bytes().to_vec(),
        );
        let mut tx = self.write().await?;
        let state: Option<(Option<Vec<u8>>, i64)> = sqlx::query_as(
            "SELECT state, expires_at FROM step_ups
             WHERE id = $1 AND account_id = $2 AND session_id = $3 AND proven_at IS NULL",
        )
        .bind(&id)
        .bind(&account)
        .bind(&session)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((Some(state), expires_at)) = state else {
            return Ok(None);
        };
        if expires_at < now {
            sqlx::query("DELETE FROM step_ups WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE step_ups SET state = NULL WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(state))
    }

    /// Marks a step-up round proven at `now`.
    pub async fn prove_step_up(&self, id: Uuid, now: i64) -> Result<()> {
        sqlx::query("UPDATE step_ups SET proven_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a step-up round (it failed).
    pub async fn drop_step_up(&self, id: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM step_ups WHERE id = $1")
            .bind(id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses up (`use_up`) or only checks the step-up `id` for `action` by `session`, if it
    /// was proven at or after `proven_after`; says whether it was there.
    pub async fn use_step_up(
        &self,
        id: Uuid,
        account: Uuid,
        session: Uuid,
        action: &str,
        proven_after: i64,
        use_up: bool,
    ) -> Result<bool> {
        macro_rules! proven {
            ($verb:literal) => {
                concat!(
                    $verb,
                    " WHERE id = $1 AND account_id = $2 AND session_id = $3
                     AND action = $4 AND proven_at IS NOT NULL AND proven_at >= $5"
                )
            };
        }
        let r = sqlx::query(if use_up {
            proven!("DELETE FROM step_ups")
        } else {
            proven!("UPDATE step_ups SET action = action")
        })
        .bind(id.as_bytes().to_vec())
        .bind(account.as_bytes().to_vec())
        .bind(session.as_bytes().to_vec())
        .bind(action)
        .bind(proven_after)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Uses up the account's pending SMS code if `hash` is its hash and it is still valid.
    pub async fn take_sms_code(&self, account: Uuid, hash: &[u8], now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE accounts SET sms_code_hash = NULL, sms_code_until = NULL
             WHERE id = $1 AND sms_code_hash = $2 AND sms_code_until >= $3",
        )
        .bind(account.as_bytes().to_vec())
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn create_session(
        &self,
        account: Uuid,
        token_hash: &[u8],
        device_name: &str,
        now: i64,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO sessions (id, account_id, token_hash, device_name, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id.as_bytes().to_vec())
        .bind(account.as_bytes().to_vec())
        .bind(token_hash)
        .bind(device_name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The session a token belongs to, if any (ended or not: the caller checks its limits).
    pub async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<LiveSession>> {
        let row = sqlx::query(
            "SELECT s.id, s.account_id, s.created_at, s.last_seen_at, s.end_reason FROM sessions s
             JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = $1 AND a.deleted_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LiveSession {
                id: uuid(&r, "id")?,
                account: uuid(&r, "account_id")?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                ended: r.try_get("end_reason")?,
            })
        })
        .transpose()
    }

    /// Ends every session unused since `idle_before` or signed in before `created_before`
    /// (at `now`), and forgets the ones that ended before `forget_before`; returns how many
    /// ended.
    pub async fn end_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
        now: i64,
        forget_before: i64,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET ended_at = $3, end_reason = 'expired'
             WHERE ended_at IS NULL AND (last_seen_at < $1 OR created_at < $2)",
        )
        .bind(idle_before)
        .bind(created_before)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE ended_at < $1")
            .bind(forget_before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn touch_session(&self, id: Uuid, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn sessions(&self, account: Uuid) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query("SELECT id, device_name, created_at, last_seen_at FROM sessions WHERE account_id = $1 AND ended_at IS NULL ORDER BY created_at, id")
            .bind(account.as_bytes().to_vec())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SessionRow {
                    id: uuid(r, "id")?,
                    device_name: r.try_get("device_name")?,
                    created_at: r.try_get("created_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                })
            })
            .collect()
    }

    /// Ends a live session at `now` for `reason` ("signed out", "revoked", "expired"); it
    /// stays as a tombstone (`end_expired_sessions` forgets it later).
    pub async fn rename_session(&self, account: Uuid, session: Uuid, name: &str) -> Result<()> {
        let r = sqlx::query(
            "UPDATE sessions SET device_name = $3
             WHERE account_id = $1 AND id = $2 AND ended_at IS NULL",
        )
        .bind(account.as_bytes().to_vec())
        .bind(session.as_bytes().to_vec())
        .bind(name)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub async fn end_session(
        &self,
        account: Uuid,
        session: Uuid,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE sessions SET ended_at = $3, end_reason = $4
             WHERE account_id = $1 AND id = $2 AND ended_at IS NULL",
        )
        .bind(account.as_bytes().to_vec())
        .bind(session.as_bytes().to_vec())
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub async fn record_unauthorized(
        &self,
        ip: &str,
        account: Option<Uuid>,
        at: i64,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO unauthorized_attempts (ip, account_id, at, reason) VALUES ($1, $2, $3, $4)",
        )
        .bind(self.at_rest.seal_text(IP, b"", ip))
        .bind(account.map(|a| a.as_bytes().to_vec()))
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The attempts against `account` since `since`, newest first, at most `limit`:
    /// `(ip, at, reason)`.
    pub async fn account_attempts(
        &self,
        account: Uuid,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64, String)>> {
        let rows = sqlx::query(
            "SELECT ip, at, reason FROM unauthorized_attempts
             WHERE account_id = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(account.as_bytes().to_vec())
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.attempt(r)).collect()
    }

    /// Records every sign-in and step-up round started before `now` and expired unfinished
    /// (for an existing account) as an attempt from its address, and removes them; returns
    /// the accounts that got a record.
    pub async fn sweep_unfinished(&self, now: i64, round_secs: i64) -> Result<Vec<Uuid>> {
        let mut tx = self.write().await?;
        let accounts: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT account_id FROM pending_logins
             WHERE expires_at < $1 AND account_id IS NOT NULL AND ip IS NOT NULL
             UNION SELECT account_id FROM step_ups
             WHERE expires_at < $1 AND proven_at IS NULL AND ip IS NOT NULL",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO unauthorized_attempts (ip, account_id, at, reason)
             SELECT ip, account_id, expires_at - $2, 'sign-in not completed' FROM pending_logins
             WHERE expires_at < $1 AND account_id IS NOT NULL AND ip IS NOT NULL",
        )
        .bind(now)
        .bind(round_secs)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO unauthorized_attempts (ip, account_id, at, reason)
             SELECT ip, account_id, expires_at - $2, 'step-up not completed' FROM step_ups
             WHERE expires_at < $1 AND proven_at IS NULL AND ip IS NOT NULL",
        )
        .bind(now)
        .bind(round_secs)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pending_logins WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM step_ups WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        accounts
            .into_iter()
            .map(|(a,)| Uuid::from_slice(&a).map_err(|_| DbError::NotFound))
            .collect()
    }

    /// Forgets the attempts recorded before `before` (the record's retention).
    pub async fn forget_attempts(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM unauthorized_attempts WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// `(ip, at, reason)`, newest first.
    pub async fn unauthorized_attempts(&self, limit: i64) -> Result<Vec<(String, i64, String)>> {
        let rows = sqlx::query(
            "SELECT ip, at, reason FROM unauthorized_attempts ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.attempt(r)).collect()
    }

    /// An attempt row as `(ip, at, reason)`, its address opened.
    fn attempt(&self, r: &sqlx::any::AnyRow) -> Result<(String, i64, String)> {
        let ip: String = r.try_get("ip")?;
        Ok((
            self.at_rest.open_text(IP, b"", &ip)?,
            r.try_get("at")?,
            r.try_get("reason")?,
        ))
    }
}
