//! Storage: one layer, two real backends.
//!
//! Both SQLite (the default, one file in the data directory, WAL) and PostgreSQL run the
//! same queries through sqlx's `Any` driver; only the schema files differ
//! (`migrations/sqlite`, `migrations/postgres`, kept in step). Ids are 16-byte blobs, times
//! Unix seconds, flags integers. Every write that changes what a client syncs takes the
//! account's next sequence number (`accounts.seq`) first, inside its transaction: that
//! makes the change feed a plain range scan, and it takes SQLite's write lock at once.

use std::str::FromStr;

use krypt7_protocol::{B64, Current};
use sqlx::{
    AnyPool, Row,
    any::{AnyConnectOptions, AnyPoolOptions, AnyRow},
};
use uuid::Uuid;

use crate::{
    at_rest::{self, AtRest},
    config::Config,
};

mod mail;
mod rekey;
pub use mail::{BlobHead, Delivery};
pub use rekey::NewCredentials;
mod sessions;
mod vault;

pub use sessions::{LiveSession, NewStepUp, PendingLogin, SessionRow};

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
    /// A message's recipient does not exist (or was deleted).
    #[error("no such recipient: {0}")]
    NoRecipient(Uuid),
    /// A message's recipient has no room for it.
    #[error("the recipient's storage is full: {0}")]
    RecipientFull(Uuid),
    /// Something written once (a vault's key wrap) is already there, different.
    #[error("already exists")]
    Exists,
    /// A change made on a view of the account that is no longer current (what is wrong).
    #[error("stale: {0}")]
    Stale(&'static str),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    AtRest(#[from] at_rest::AtRestError),
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
    (
        4,
        include_str!("../migrations/sqlite/0004_credentials.sql"),
        include_str!("../migrations/postgres/0004_credentials.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_at_rest.sql"),
        include_str!("../migrations/postgres/0005_at_rest.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_secret_key_change.sql"),
        include_str!("../migrations/postgres/0006_secret_key_change.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_mail.sql"),
        include_str!("../migrations/postgres/0007_mail.sql"),
    ),
];

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The server keys that seal what names a person (`crate::at_rest`).
    at_rest: std::sync::Arc<AtRest>,
}

// What the server seals, by purpose (bound to the account's id where there is one).
const USERNAME: &str = "accounts.username";
const EMAIL: &str = "accounts.email";
const PHONE: &str = "accounts.phone";
const TOTP: &str = "accounts.totp";
const IP: &str = "ip";

/// An account row as sign-in needs it.
pub struct LoginAccount {
    pub id: Uuid,
    pub opaque_record: Vec<u8>,
    pub kdf_setup: Vec<u8>,
    pub totp_enabled: bool,
    pub sms_enabled: bool,
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

fn uuid(row: &AnyRow, col: &str) -> Result<Uuid> {
    let b: Vec<u8> = row.try_get(col)?;
    Uuid::from_slice(&b).map_err(|e| DbError::Sqlx(sqlx::Error::Decode(Box::new(e))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens the configured database (creating the SQLite file if needed) and migrates it.
    pub async fn connect(config: &Config) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let at_rest = AtRest::load(
            config.server_keys.as_deref(),
            &at_rest::key_file(&config.data_dir, config.server_key_file.as_deref()),
        )?;
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
        let db = Db {
            pool,
            backend,
            at_rest: std::sync::Arc::new(at_rest),
        };
        db.migrate().await?;
        let resealed = db.reseal().await?;
        if resealed > 0 {
            tracing::info!(
                values = resealed,
                key = db.at_rest.current_id(),
                "sealed under the current server key"
            );
        }
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
        self.check_name_free(a.username, None).await?;
        let id = a.id.as_bytes();
        let r = sqlx::query(
            "INSERT INTO accounts (id, username_index, username_sealed, email, phone, opaque_record, kdf_setup, keyset, key_bundle, quota_bytes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.to_vec())
        .bind(self.name_index(a.username))
        .bind(self.at_rest.seal(USERNAME, id, a.username.as_bytes()))
        .bind(a.email.map(|e| self.at_rest.seal_text(EMAIL, id, e)))
        .bind(a.phone.map(|p| self.at_rest.seal_text(PHONE, id, p)))
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

    /// The blind index a username is stored under now (hex of its HMAC under the current
    /// server key).
    fn name_index(&self, username: &str) -> String {
        hex(&self.at_rest.index(username))
    }

    /// The open account of that name, found by its blind index under any configured key
    /// (during a rotation some rows are still indexed under the old one).
    async fn account_named(&self, username: &str) -> Result<Option<Uuid>> {
        for index in self.at_rest.indexes(username) {
            let r: Option<(Vec<u8>,)> = sqlx::query_as(
                "SELECT id FROM accounts WHERE username_index = $1 AND deleted_at IS NULL",
            )
            .bind(hex(&index))
            .fetch_optional(&self.pool)
            .await?;
            if let Some((id,)) = r {
                return Uuid::from_slice(&id)
                    .map(Some)
                    .map_err(|e| DbError::Sqlx(sqlx::Error::Decode(Box::new(e))));
            }
        }
        Ok(None)
    }

    /// `UsernameTaken` if an account (deleted ones included, until purged) other than
    /// `except` has the name under an index of an older key; the unique index catches it
    /// under the current one.
    async fn check_name_free(&self, username: &str, except: Option<Uuid>) -> Result<()> {
        for index in self.at_rest.indexes(username).iter().skip(1) {
            let r: Option<(Vec<u8>,)> =
                sqlx::query_as("SELECT id FROM accounts WHERE username_index = $1")
                    .bind(hex(index))
                    .fetch_optional(&self.pool)
                    .await?;
            if r.is_some_and(|(id,)| {
                Some(id.as_slice()) != except.as_ref().map(|e| &e.as_bytes()[..])
            }) {
                return Err(DbError::UsernameTaken);
            }
        }
        Ok(())
    }

    pub async fn login_account(&self, username: &str) -> Result<Option<LoginAccount>> {
        let Some(id) = self.account_named(username).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT id, opaque_record, kdf_setup, totp_secret IS NOT NULL AS totp, sms_enabled
             FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.as_bytes().to_vec())
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
            "SELECT id, username_sealed, email, phone, totp_secret, sms_enabled, usage_bytes, quota_bytes
             FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        let bind = id.as_bytes();
        let text = |column: &str, purpose: &str| -> Result<Option<String>> {
            let sealed: Option<String> = r.try_get(column)?;
            Ok(sealed
                .map(|s| self.at_rest.open_text(purpose, bind, &s))
                .transpose()?)
        };
        Ok(krypt7_protocol::AccountInfo {
            account_id: uuid(&r, "id")?,
            username: self.username_of(id, &r)?,
            email: text("email", EMAIL)?,
            phone: text("phone", PHONE)?,
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
        if let Some(u) = username {
            self.check_name_free(u, Some(id)).await?;
        }
        let mut tx = self.write().await?;
        let bind = id.as_bytes();
        let idb = bind.to_vec();
        if let Some(u) = username {
            let r = sqlx::query(
                "UPDATE accounts SET username_index = $1, username_sealed = $2 WHERE id = $3",
            )
            .bind(self.name_index(u))
            .bind(self.at_rest.seal(USERNAME, bind, u.as_bytes()))
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
                .bind(e.map(|e| self.at_rest.seal_text(EMAIL, bind, e)))
                .bind(idb.clone())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(p) = phone {
            sqlx::query("UPDATE accounts SET phone = $1 WHERE id = $2")
                .bind(p.map(|p| self.at_rest.seal_text(PHONE, bind, p)))
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

    /// The account's key material as `GET /v1/account/keys` serves it.
    pub async fn account_keys(&self, id: Uuid) -> Result<krypt7_protocol::AccountKeys> {
        let r = sqlx::query("SELECT kdf_setup, keyset, key_bundle, credentials, key_epoch FROM accounts WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        Ok(krypt7_protocol::AccountKeys {
            kdf_setup: B64(r.try_get("kdf_setup")?),
            keyset: B64(r.try_get("keyset")?),
            key_bundle: B64(r.try_get("key_bundle")?),
            credentials: r.try_get("credentials")?,
            key_epoch: r.try_get("key_epoch")?,
        })
    }

    /// Replaces the password's OPAQUE record, sealed setup and keyset wrap at once and counts
    /// the change; the old ones are gone from the files when this returns. Returns the new
    /// count and the account's change-feed position.
    pub async fn change_password(
        &self,
        id: Uuid,
        opaque_record: &[u8],
        kdf_setup: &[u8],
        keyset: &[u8],
    ) -> Result<(i64, i64)> {
        let mut tx = self.write().await?;
        let r = sqlx::query(
            "UPDATE accounts SET opaque_record = $1, kdf_setup = $2, keyset = $3,
             credentials = credentials + 1 WHERE id = $4 AND deleted_at IS NULL
             RETURNING credentials, seq",
        )
        .bind(opaque_record)
        .bind(kdf_setup)
        .bind(keyset)
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound)?;
        let changed = (r.try_get("credentials")?, r.try_get("seq")?);
        tx.commit().await?;
        self.forget_old_versions(false).await?;
        Ok(changed)
    }

    /// `(account id, username, key bundle)` for the public-key directory.
    pub async fn directory(&self, username: &str) -> Result<(Uuid, String, Vec<u8>)> {
        let id = self
            .account_named(username)
            .await?
            .ok_or(DbError::NotFound)?;
        let r = sqlx::query(
            "SELECT username_sealed, key_bundle FROM accounts WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        Ok((id, self.username_of(id, &r)?, r.try_get("key_bundle")?))
    }

    /// [`Db::reseal`] for the recorded addresses (attempts, rounds in progress).
    async fn reseal_ips(&self) -> Result<u64> {
        macro_rules! reseal {
            ($table:literal, $id:ty) => {{
                let rows = sqlx::query(concat!(
                    "SELECT id, ip FROM ",
                    $table,
                    " WHERE ip IS NOT NULL"
                ))
                .fetch_all(&self.pool)
                .await?;
                let mut n = 0;
                for r in rows {
                    let ip: String = r.try_get("ip")?;
                    if self.at_rest.is_current_text(&ip) {
                        continue;
                    }
                    let plain = if at_rest::is_sealed_text(&ip) {
                        self.at_rest.open_text(IP, b"", &ip)?
                    } else {
                        ip
                    };
                    sqlx::query(concat!("UPDATE ", $table, " SET ip = $1 WHERE id = $2"))
                        .bind(self.at_rest.seal_text(IP, b"", &plain))
                        .bind(r.try_get::<$id, _>("id")?)
                        .execute(&self.pool)
                        .await?;
                    n += 1;
                }
                n
            }};
        }
        Ok(reseal!("unauthorized_attempts", i64)
            + reseal!("pending_logins", Vec<u8>)
            + reseal!("step_ups", Vec<u8>))
    }

    /// The username sealed in `row` (its `username_sealed` column) of account `id`.
    fn username_of(&self, id: Uuid, row: &AnyRow) -> Result<String> {
        let sealed: Vec<u8> = row.try_get("username_sealed")?;
        let plain = self.at_rest.open(USERNAME, id.as_bytes(), &sealed)?;
        String::from_utf8(plain).map_err(|_| DbError::AtRest(at_rest::AtRestError::Broken))
    }

    /// Seals every value that is not yet sealed under the current server key: rows from
    /// before encryption at rest (in clear) and rows sealed under an older key (a rotation).
    /// Runs at each start; returns how many values it sealed.
    pub async fn reseal(&self) -> Result<u64> {
        let mut count = 0;
        let rows = sqlx::query(
            "SELECT id, username_index, username_sealed, email, phone, totp_secret, totp_pending
             FROM accounts",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let id = uuid(&r, "id")?;
            let bind = id.as_bytes();
            let sealed: Option<Vec<u8>> = r.try_get("username_sealed")?;
            let email: Option<String> = r.try_get("email")?;
            let phone: Option<String> = r.try_get("phone")?;
            let totp: [Option<Vec<u8>>; 2] =
                [r.try_get("totp_secret")?, r.try_get("totp_pending")?];
            // A row from before encryption at rest holds its values in clear.
            let legacy = sealed.is_none();
            let current = !legacy
                && sealed
                    .as_deref()
                    .is_some_and(|s| self.at_rest.is_current(s))
                && [&email, &phone]
                    .iter()
                    .all(|v| v.as_deref().is_none_or(|t| self.at_rest.is_current_text(t)))
                && totp
                    .iter()
                    .all(|v| v.as_deref().is_none_or(|t| self.at_rest.is_current(t)));
            if current {
                continue;
            }
            let open_text = |v: Option<String>, purpose| -> Result<Option<String>> {
                Ok(match v {
                    Some(t) if legacy => Some(t),
                    Some(t) => Some(self.at_rest.open_text(purpose, bind, &t)?),
                    None => None,
                })
            };
            let username = match &sealed {
                None => r.try_get::<String, _>("username_index")?,
                Some(_) => self.username_of(id, &r)?,
            };
            let email = open_text(email, EMAIL)?;
            let phone = open_text(phone, PHONE)?;
            let [secret, pending] = totp.map(|v| match v {
                Some(t) if legacy => Ok(Some(t)),
                Some(t) => self.at_rest.open(TOTP, bind, &t).map(Some),
                None => Ok(None),
            });
            let (secret, pending) = (secret?, pending?);
            sqlx::query(
                "UPDATE accounts SET username_index = $1, username_sealed = $2, email = $3,
                 phone = $4, totp_secret = $5, totp_pending = $6 WHERE id = $7",
            )
            .bind(self.name_index(&username))
            .bind(self.at_rest.seal(USERNAME, bind, username.as_bytes()))
            .bind(email.map(|e| self.at_rest.seal_text(EMAIL, bind, &e)))
            .bind(phone.map(|p| self.at_rest.seal_text(PHONE, bind, &p)))
            .bind(secret.map(|s| self.at_rest.seal(TOTP, bind, &s)))
            .bind(pending.map(|s| self.at_rest.seal(TOTP, bind, &s)))
            .bind(bind.to_vec())
            .execute(&self.pool)
            .await?;
            count += 1;
        }
        count += self.reseal_ips().await?;
        if count > 0 {
            self.forget_old_versions(true).await?;
        }
        Ok(count)
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
