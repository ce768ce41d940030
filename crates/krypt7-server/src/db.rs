//! Storage: one layer, two real backends.
//!
//! Both SQLite (the default, one file in the data directory, WAL) and PostgreSQL run the
//! same queries through sqlx's `Any` driver; only the schema files differ
//! (`migrations/sqlite`, `migrations/postgres`, kept in step). Ids are 16-byte blobs, times
//! Unix seconds, flags integers. Every write that changes what a client syncs takes the
//! account's next sequence number (`accounts.seq`) first, inside its transaction: that
//! makes the change feed a plain range scan, and it takes SQLite's write lock at once.

use std::str::FromStr;

use krypt7_protocol::{B64, Current, Item, Manifest, Vault};
use sqlx::{
    AnyPool, Row,
    any::{AnyConnectOptions, AnyPoolOptions, AnyRow},
};
use uuid::Uuid;

use crate::config::Config;

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What can go wrong in storage, as the API needs to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("username is taken")]
    UsernameTaken,
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict(Box<Current>),
    #[error("storage limit reached")]
    QuotaExceeded,
    /// Something written once (a vault's key wrap) is already there, different.
    #[error("already exists")]
    Exists,
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

type Result<T, E = DbError> = std::result::Result<T, E>;

const SCHEMA: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../migrations/sqlite/0001_initial.sql"),
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../migrations/sqlite/0002_manifest_history.sql"),
        include_str!("../migrations/postgres/0002_manifest_history.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_account_security.sql"),
        include_str!("../migrations/postgres/0003_account_security.sql"),
    ),
];

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

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

/// An account row as sign-in needs it.
pub struct LoginAccount {
    pub id: Uuid,
    pub opaque_record: Vec<u8>,
    pub kdf_setup: Vec<u8>,
    pub totp_enabled: bool,
    pub sms_enabled: bool,
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

/// A new account's fields.
pub struct NewAccount<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub opaque_record: &'a [u8],
    pub kdf_setup: &'a [u8],
    pub keyset: &'a [u8],
    pub key_bundle: &'a [u8],
    pub quota_bytes: i64,
    pub now: i64,
}

pub struct SessionRow {
    pub id: Uuid,
    pub device_name: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

fn uuid(row: &AnyRow, col: &str) -> Result<Uuid> {
    let b: Vec<u8> = row.try_get(col)?;
    Uuid::from_slice(&b).map_err(|e| DbError::Sqlx(sqlx::Error::Decode(Box::new(e))))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens the configured database (creating the SQLite file if needed) and migrates it.
    pub async fn connect(config: &Config) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match &config.database_url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                (u.clone(), Backend::Postgres)
            }
            Some(u) => anyhow::bail!(
                "unsupported database URL {u:?}: use postgres://… or leave it out for SQLite"
            ),
            None => {
                let path = config.data_dir.join("krypt7.db");
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Backend::Sqlite,
                )
            }
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL for concurrent readers; FULL so an acknowledged write survives
                            // power loss; a writer waits up to 5 s for the lock; deleted and
                            // overwritten content is zeroed, not left in free space.
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA secure_delete = ON",
                                "PRAGMA synchronous = FULL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA busy_timeout = 5000",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect_with(opts)
                    .await?
            }
        };
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            .fetch_one(&self.pool)
            .await?
            .try_get("v")?;
        for (version, sqlite, postgres) in SCHEMA {
            if *version <= current {
                continue;
            }
            let mut tx = self.write().await?;
            let script = match self.backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            for stmt in script.split(';').map(str::trim).filter(|s| {
                !s.lines()
                    .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
            }) {
                sqlx::query(sqlx::AssertSqlSafe(stmt.to_string()))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// A write transaction. SQLite's `BEGIN IMMEDIATE` takes the write lock up front, so two
    /// writers queue (busy timeout) instead of failing on a lock upgrade.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A server-wide secret, created once by whichever node asks first.
    pub async fn server_secret(
        &self,
        name: &str,
        make: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(make())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?
                .try_get("value")?,
        )
    }

    // ---- accounts ----------------------------------------------------------------------

    pub async fn create_account(&self, a: NewAccount<'_>) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO accounts (id, username, email, phone, opaque_record, kdf_setup, keyset, key_bundle, quota_bytes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(a.id.as_bytes().to_vec())
        .bind(a.username)
        .bind(a.email)
        .bind(a.phone)
        .bind(a.opaque_record)
        .bind(a.kdf_setup)
        .bind(a.keyset)
        .bind(a.key_bundle)
        .bind(a.quota_bytes)
        .bind(a.now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(DbError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// An open account's OPAQUE registration record.
    pub async fn opaque_record(&self, account: Uuid) -> Result<Vec<u8>> {
        let r: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT opaque_record FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(account.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.ok_or(DbError::NotFound)?.0)
    }

    pub async fn login_account(&self, username: &str) -> Result<Option<LoginAccount>> {
        let row = sqlx::query(
            "SELECT id, opaque_record, kdf_setup, totp_secret IS NOT NULL AS totp, sms_enabled
             FROM accounts WHERE username = $1 AND deleted_at IS NULL",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LoginAccount {
                id: uuid(&r, "id")?,
                opaque_record: r.try_get("opaque_record")?,
                kdf_setup: r.try_get("kdf_setup")?,
                totp_enabled: r
                    .try_get::<i64, _>("totp")
                    .or_else(|_| r.try_get::<bool, _>("totp").map(i64::from))?
                    != 0,
                sms_enabled: r.try_get::<i64, _>("sms_enabled")? != 0,
            })
        })
        .transpose()
    }

    /// The account as `GET /v1/account` shows it.
    pub async fn account(&self, id: Uuid) -> Result<krypt7_protocol::AccountInfo> {
        let r = sqlx::query(
            "SELECT id, username, email, phone, totp_secret, sms_enabled, usage_bytes, quota_bytes
             FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        Ok(krypt7_protocol::AccountInfo {
            account_id: uuid(&r, "id")?,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            phone: r.try_get("phone")?,
            totp_enabled: r.try_get::<Option<Vec<u8>>, _>("totp_secret")?.is_some(),
            sms_enabled: r.try_get::<i64, _>("sms_enabled")? != 0,
            usage_bytes: r.try_get("usage_bytes")?,
            quota_bytes: r.try_get("quota_bytes")?,
        })
    }

    /// Overwrites the given fields in place: the previous values are not kept anywhere.
    pub async fn update_account(
        &self,
        id: Uuid,
        username: Option<&str>,
        email: Option<Option<&str>>,
        phone: Option<Option<&str>>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let idb = id.as_bytes().to_vec();
        if let Some(u) = username {
            let r = sqlx::query("UPDATE accounts SET username = $1 WHERE id = $2")
                .bind(u)
                .bind(idb.clone())
                .execute(&mut *tx)
                .await;
            match r {
                Err(e) if is_unique_violation(&e) => return Err(DbError::UsernameTaken),
                r => {
                    r?;
                }
            }
        }
        if let Some(e) = email {
            sqlx::query("UPDATE accounts SET email = $1 WHERE id = $2")
                .bind(e)
                .bind(idb.clone())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(p) = phone {
            sqlx::query("UPDATE accounts SET phone = $1 WHERE id = $2")
                .bind(p)
                .bind(idb.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_old_versions(false).await
    }

    /// Makes overwritten values unrecoverable from the database files right away: on SQLite,
    /// secure_delete has zeroed them in their pages, and a truncating checkpoint copies the
    /// pages home and empties the WAL, whose older frames still held them. PostgreSQL keeps
    /// dead row versions until VACUUM, which runs here (for the accounts table, or all).
    async fn forget_old_versions(&self, all_tables: bool) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                // A reader can hold the checkpoint back for a moment: retry briefly.
                for _ in 0..50 {
                    let r = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&self.pool)
                        .await?;
                    if r.try_get::<i64, _>(0)? == 0 {
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                tracing::warn!(
                    "WAL checkpoint kept being blocked by readers; old values leave the WAL at the next one"
                );
            }
            Backend::Postgres => {
                let stmt = if all_tables {
                    "VACUUM"
                } else {
                    "VACUUM accounts"
                };
                sqlx::query(stmt).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    /// `(kdf_setup, keyset, key_bundle)`.
    pub async fn account_keys(&self, id: Uuid) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let r = sqlx::query("SELECT kdf_setup, keyset, key_bundle FROM accounts WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        Ok((
            r.try_get("kdf_setup")?,
            r.try_get("keyset")?,
            r.try_get("key_bundle")?,
        ))
    }

    /// `(account id, username, key bundle)` for the public-key directory.
    pub async fn directory(&self, username: &str) -> Result<(Uuid, String, Vec<u8>)> {
        let r = sqlx::query("SELECT id, username, key_bundle FROM accounts WHERE username = $1 AND deleted_at IS NULL")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        Ok((
            uuid(&r, "id")?,
            r.try_get("username")?,
            r.try_get("key_bundle")?,
        ))
    }

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
            .bind(ip)
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
        Ok((
            r.try_get("totp_secret")?,
            r.try_get("totp_pending")?,
            r.try_get("totp_last_step")?,
        ))
    }

    pub async fn set_totp_pending(&self, account: Uuid, secret: &[u8]) -> Result<()> {
        sqlx::query("UPDATE accounts SET totp_pending = $1 WHERE id = $2")
            .bind(secret)
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
        .bind(r.ip)
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

    /// Uses up the step-up `id` for `action` by `session`, if it was proven at or after
    /// `proven_after`; says whether it was there to use.
    pub async fn use_step_up(
        &self,
        id: Uuid,
        account: Uuid,
        session: Uuid,
        action: &str,
        proven_after: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM step_ups WHERE id = $1 AND account_id = $2 AND session_id = $3
             AND action = $4 AND proven_at IS NOT NULL AND proven_at >= $5",
        )
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
        .bind(ip)
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
        rows.iter()
            .map(|r| Ok((r.try_get("ip")?, r.try_get("at")?, r.try_get("reason")?)))
            .collect()
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
        rows.iter()
            .map(|r| Ok((r.try_get("ip")?, r.try_get("at")?, r.try_get("reason")?)))
            .collect()
    }

    // ---- vault data ------------------------------------------------------------------------

    /// Takes the account's next sequence number (and, on SQLite, the write lock).
    async fn next_seq(
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

    /// Everything that changed after `since`, up to `limit` items (O(changes), by index).
    pub async fn changes(
        &self,
        account: Uuid,
        since: i64,
        limit: i64,
    ) -> Result<krypt7_protocol::Changes> {
        let acct = account.as_bytes().to_vec();
        // Read the committed sequence first: any write that commits later has a larger one.
        let upto: i64 =
            sqlx::query("SELECT seq FROM accounts WHERE id = $1 AND deleted_at IS NULL")
                .bind(acct.clone())
                .fetch_optional(&self.pool)
                .await?
                .ok_or(DbError::NotFound)?
                .try_get("seq")?;
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
        let has_more = rows.len() as i64 > limit;
        let items: Vec<Item> = rows
            .iter()
            .take(limit as usize)
            .map(Self::item_from)
            .collect::<Result<_>>()?;
        let cursor = if has_more {
            items.last().map_or(upto, |i| i.cursor)
        } else {
            upto.max(since)
        };
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
        .map(|r| {
            Ok(Vault {
                id: uuid(r, "id")?,
                key_wrap: B64(r.try_get("key_wrap")?),
                cursor: r.try_get("key_seq")?,
            })
        })
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
        })
    }

    // ---- change notifications across nodes (PostgreSQL) ------------------------------------

    pub const CHANNEL: &'static str = "krypt7_changes";

    /// Sends `account:notice` on the change channel (PostgreSQL).
    pub async fn notify(&self, account: Uuid, notice: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(Self::CHANNEL)
            .bind(format!("{account}:{notice}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- deletion --------------------------------------------------------------------------

    /// Closes the account at once: every session ends and nothing of it is served again.
    /// The rows stay (the username reserved) until the purge job removes them
    /// ([`Db::purge_account`]).
    pub async fn delete_account(&self, id: Uuid, now: i64) -> Result<()> {
        let idb = id.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let r =
            sqlx::query("UPDATE accounts SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(now)
                .bind(idb.clone())
                .execute(&mut *tx)
                .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(idb.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pending_logins WHERE account_id = $1")
            .bind(idb)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accounts deleted at or before `cutoff`.
    pub async fn deleted_before(&self, cutoff: i64) -> Result<Vec<Uuid>> {
        let rows = sqlx::query(
            "SELECT id FROM accounts WHERE deleted_at IS NOT NULL AND deleted_at <= $1",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| uuid(r, "id")).collect()
    }

    /// Removes every row of an account (its items, vaults, blobs records and sessions go
    /// with it), then makes the removed data unrecoverable from the database files.
    pub async fn purge_account(&self, id: Uuid) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "DELETE FROM unauthorized_attempts WHERE account_id IN
             (SELECT id FROM accounts WHERE id = $1 AND deleted_at IS NOT NULL)",
        )
        .bind(id.as_bytes().to_vec())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM accounts WHERE id = $1 AND deleted_at IS NOT NULL")
            .bind(id.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_old_versions(true).await
    }

    // ---- blobs -----------------------------------------------------------------------------

    /// Registers an upload and reserves its size against the quota.
    pub async fn create_blob(
        &self,
        account: Uuid,
        id: Uuid,
        size: i64,
        chunk_size: i64,
        now: i64,
    ) -> Result<()> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let ok = sqlx::query("UPDATE accounts SET usage_bytes = usage_bytes + $1 WHERE id = $2 AND usage_bytes + $1 <= quota_bytes")
            .bind(size)
            .bind(acct.clone())
            .execute(&mut *tx)
            .await?;
        if ok.rows_affected() == 0 {
            return Err(DbError::QuotaExceeded);
        }
        sqlx::query("INSERT INTO blobs (account_id, id, size, chunk_size, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(acct)
            .bind(id.as_bytes().to_vec())
            .bind(size)
            .bind(chunk_size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A blob's size, geometry and state, without the list of chunks received (what each
    /// chunk upload checks: reading the list there would make an upload quadratic).
    pub async fn blob_head(&self, account: Uuid, id: Uuid) -> Result<krypt7_protocol::BlobStatus> {
        let r = sqlx::query(
            "SELECT size, chunk_size, complete FROM blobs WHERE account_id = $1 AND id = $2",
        )
        .bind(account.as_bytes().to_vec())
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        let size: i64 = r.try_get("size")?;
        let chunk_size: i64 = r.try_get("chunk_size")?;
        Ok(krypt7_protocol::BlobStatus {
            blob_id: id,
            size,
            chunk_size,
            chunks: (size + chunk_size - 1) / chunk_size,
            received: vec![],
            complete: r.try_get::<i64, _>("complete")? != 0,
        })
    }

    /// A blob's state with the indexes of the chunks received, in order.
    pub async fn blob(&self, account: Uuid, id: Uuid) -> Result<krypt7_protocol::BlobStatus> {
        let mut b = self.blob_head(account, id).await?;
        b.received = sqlx::query(
            "SELECT idx FROM blob_chunks WHERE account_id = $1 AND blob_id = $2 ORDER BY idx",
        )
        .bind(account.as_bytes().to_vec())
        .bind(id.as_bytes().to_vec())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("idx"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(b)
    }

    pub async fn record_chunk(&self, account: Uuid, id: Uuid, index: i64) -> Result<()> {
        sqlx::query("INSERT INTO blob_chunks (account_id, blob_id, idx) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(account.as_bytes().to_vec())
            .bind(id.as_bytes().to_vec())
            .bind(index)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn complete_blob(&self, account: Uuid, id: Uuid) -> Result<()> {
        sqlx::query("UPDATE blobs SET complete = 1 WHERE account_id = $1 AND id = $2")
            .bind(account.as_bytes().to_vec())
            .bind(id.as_bytes().to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a blob and gives its size back to the quota.
    pub async fn delete_blob(&self, account: Uuid, id: Uuid) -> Result<()> {
        let acct = account.as_bytes().to_vec();
        let mut tx = self.write().await?;
        let size: i64 =
            sqlx::query("DELETE FROM blobs WHERE account_id = $1 AND id = $2 RETURNING size")
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
        Ok(())
    }

    /// The raw pool, for tests that inspect what is stored.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
