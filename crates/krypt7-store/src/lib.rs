//! The client's local cache: SQLite (WAL, `synchronous=FULL`, `secure_delete`), holding
//! envelopes exactly as synced and never a plaintext. Everything that identifies a user's
//! content is inside the envelopes the client core seals before calling this crate.
//!
//! Tables (schema in `schema.sql`): `meta` (small named values: ids, sealed KDF setup,
//! wrapped keyset, sync cursor), `vaults` (wrapped vault keys and the highest verified
//! manifest), `items` (current local envelope, the server's revision and envelope as the base
//! of a three-way merge, the outbox flag), `history` (earlier envelopes of each item) and
//! `pinned_keys` (other users' keys, sealed, under random row ids so that not even
//! whom a user pinned shows).
//!
//! Every multi-row change runs in one transaction, so a crash or a `kill -9` leaves either the
//! old state or the new one. Opening checks the file (`quick_check`) and refuses a damaged
//! cache with [`StoreError::Corrupt`] without changing it.

#![forbid(unsafe_code)]

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

const GENERATION: &str = "generation";

const SCHEMA: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2.sql"),
    include_str!("schema_3.sql"),
    include_str!("schema_4.sql"),
    include_str!("schema_5.sql"),
    include_str!("schema_6.sql"),
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The cache file is damaged or is not a KRYPT7 cache. Nothing was changed.
    #[error("the local cache at {path} is damaged ({detail}); it was left untouched")]
    Corrupt { path: String, detail: String },
    /// The cache was written by a newer KRYPT7.
    #[error("the local cache uses schema version {0}, newer than this version of KRYPT7 supports")]
    SchemaTooNew(i64),
    /// A manifest version lower than one already verified (the caller treats it as an attack).
    #[error("manifest version {offered} is older than the verified version {verified}")]
    ManifestRollback { offered: i64, verified: i64 },
    #[error("not found")]
    NotFound,
    #[error("local cache I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("local cache error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A vault as cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultRow {
    pub id: Uuid,
    pub key_wrap: Vec<u8>,
    /// The highest manifest verified so far (sealed), and its version.
    pub manifest: Option<Vec<u8>>,
    pub manifest_version: i64,
    /// The multiset hash and count of the server states of the vault's live items (`None`:
    /// to be recomputed from the items).
    pub digest: Option<[u8; 32]>,
    pub live_count: i64,
}

/// A vault's sync state after a change: its digest and count, and the manifest that was
/// checked against them (or that this device just committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultState {
    pub id: Uuid,
    pub digest: [u8; 32],
    pub live_count: i64,
    /// `None` for a vault that never had one (and so holds no item).
    pub manifest: Option<(i64, Vec<u8>)>,
}

/// An item as cached: sealed envelopes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRow {
    pub id: Uuid,
    pub vault_id: Uuid,
    /// The current local state.
    pub envelope: Vec<u8>,
    pub deleted: bool,
    /// The last revision seen from the server (0: never pushed) and its envelope: the base
    /// of a three-way merge.
    pub server_revision: i64,
    pub server_envelope: Option<Vec<u8>>,
    /// The server's state is a tombstone.
    pub server_deleted: bool,
    /// In the outbox: the local state differs from what the server acknowledged.
    pub dirty: bool,
    /// Bumped at every local write; a push acknowledges the version it carried.
    pub local_version: i64,
}

/// A change of keys for [`Store::rekey`].
#[derive(Debug, Default)]
pub struct Rekey {
    /// Each vault's new key wrap.
    pub vaults: Vec<(Uuid, Vec<u8>)>,
    pub items: Vec<RekeyedItem>,
    pub history: Vec<EarlierState>,
    pub records: Vec<(Records, [u8; 16], Vec<u8>)>,
    /// Named values to set (`Some`) or delete (`None`).
    pub metas: Vec<(String, Option<Vec<u8>>)>,
}

/// An earlier state of an item: `(item, version, envelope)`.
pub type EarlierState = (Uuid, i64, Vec<u8>);

/// An item re-sealed for [`Store::rekey`].
#[derive(Debug)]
pub struct RekeyedItem {
    pub id: Uuid,
    pub envelope: Vec<u8>,
    /// The merge base re-sealed, where it is kept apart from the current state.
    pub server_envelope: Option<Vec<u8>>,
}

/// Kinds of sealed records kept under random row ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// Other users' public keys, pinned on first sight.
    PinnedKeys,
    /// Unfinished file uploads.
    Transfers,
}

impl Records {
    /// The table and its id column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Records::PinnedKeys => ("pinned_keys", "account_id"),
            Records::Transfers => ("transfers", "id"),
        }
    }
}

/// What a local write did: the item's new local version, and the cache's new generation
/// (see [`Store::generation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    pub version: i64,
    pub generation: i64,
}

/// An item's current local state, for reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveItem {
    pub id: Uuid,
    pub vault_id: Uuid,
    pub envelope: Vec<u8>,
    /// In the outbox.
    pub dirty: bool,
}

/// An earlier state of an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: i64,
    pub envelope: Vec<u8>,
    pub saved_at: i64,
}

/// A change from the server's feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteItem {
    pub id: Uuid,
    pub vault_id: Uuid,
    pub revision: i64,
    pub envelope: Vec<u8>,
    pub deleted: bool,
}

pub struct Store {
    conn: std::sync::Mutex<Connection>,
}

fn uuid(b: Vec<u8>) -> rusqlite::Result<Uuid> {
    Uuid::from_slice(&b).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

const VAULT_SELECT: &str =
    "SELECT id, key_wrap, manifest, manifest_version, digest, live_count FROM vaults";

fn vault_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<VaultRow> {
    let digest: Option<Vec<u8>> = r.get(4)?;
    Ok(VaultRow {
        id: uuid(r.get(0)?)?,
        key_wrap: r.get(1)?,
        manifest: r.get(2)?,
        manifest_version: r.get(3)?,
        digest: digest.and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok()),
        live_count: r.get(5)?,
    })
}

fn item_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    let envelope: Vec<u8> = r.get(2)?;
    // Empty: the same as the local state (schema_4.sql).
    let server_envelope = r
        .get::<_, Option<Vec<u8>>>(5)?
        .map(|s| if s.is_empty() { envelope.clone() } else { s });
    Ok(ItemRow {
        id: uuid(r.get(0)?)?,
        vault_id: uuid(r.get(1)?)?,
        envelope,
        deleted: r.get(3)?,
        server_revision: r.get(4)?,
        server_envelope,
        dirty: r.get(6)?,
        local_version: r.get(7)?,
        server_deleted: r.get(8)?,
    })
}

const ITEM_COLUMNS: &str = "id, vault_id, envelope, deleted, server_revision, server_envelope, dirty, local_version, server_deleted";

impl Store {
    /// The connection. A panic while it was held leaves SQLite itself consistent (every
    /// change is a transaction), so a poisoned lock is taken over.
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens (or creates) the cache at `path`, checks it and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let conn = Connection::open(path)?;
        // The first statements touch the file header: a non-database fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| corrupt(&e))?;
        if mode != "wal" {
            return Err(corrupt(&format!(
                "cannot use write-ahead logging (mode {mode})"
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA busy_timeout = 5000;
             PRAGMA mmap_size = 1073741824;",
        )?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt(&e))?;
        if check != "ok" {
            return Err(corrupt(&check));
        }
        let mut store = Store {
            conn: std::sync::Mutex::new(conn),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA.len() as i64 {
            return Err(StoreError::SchemaTooNew(version));
        }
        for (i, sql) in SCHEMA.iter().enumerate().skip(version as usize) {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    // ---- meta --------------------------------------------------------------------------

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(st.query_row([key], |r| r.get(0)).optional()?)
    }

    /// The first `len` bytes of a meta value (a large value's header, without reading it all).
    pub fn meta_head(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT substr(value, 1, ?2) FROM meta WHERE key = ?1")?;
        Ok(st
            .query_row(params![key, len as i64], |r| r.get(0))
            .optional()?)
    }

    /// The names of the named values that start with `prefix`.
    pub fn meta_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT key FROM meta WHERE substr(key, 1, length(?1)) = ?1")?;
        let rows = st.query_map([prefix], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    // ---- vaults ------------------------------------------------------------------------

    pub fn put_vault(&self, id: Uuid, key_wrap: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO vaults (id, key_wrap) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET key_wrap = ?2",
            params![id.as_bytes().as_slice(), key_wrap],
        )?;
        Ok(())
    }

    pub fn vaults(&self) -> Result<Vec<VaultRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("{VAULT_SELECT} ORDER BY id"))?;
        let rows = st.query_map([], vault_from)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn vault(&self, id: Uuid) -> Result<Option<VaultRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("{VAULT_SELECT} WHERE id = ?1"),
                [id.as_bytes().as_slice()],
                vault_from,
            )
            .optional()?)
    }

    /// Items of one vault, for recomputing its digest.
    pub fn vault_items(&self, vault: Uuid) -> Result<Vec<ItemRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE vault_id = ?1"
        ))?;
        let rows = st.query_map([vault.as_bytes().as_slice()], item_from)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a vault's new state inside `tx`. A manifest version never goes down: an older
    /// one is refused and the whole transaction with it.
    fn set_vault_state(tx: &rusqlite::Transaction<'_>, v: &VaultState) -> Result<()> {
        let idb = v.id.as_bytes().as_slice();
        let verified: i64 = tx
            .query_row(
                "SELECT manifest_version FROM vaults WHERE id = ?1",
                [idb],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)?;
        let (version, sealed) = match &v.manifest {
            Some((version, sealed)) => (*version, Some(sealed.as_slice())),
            None => (0, None),
        };
        if version < verified {
            return Err(StoreError::ManifestRollback {
                offered: version,
                verified,
            });
        }
        tx.execute(
            "UPDATE vaults SET digest = ?1, live_count = ?2, manifest = COALESCE(?3, manifest), manifest_version = ?4 WHERE id = ?5",
            params![v.digest.as_slice(), v.live_count, sealed, version, idb],
        )?;
        Ok(())
    }

    // ---- items -------------------------------------------------------------------------

    pub fn item(&self, id: Uuid) -> Result<Option<ItemRow>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"))?;
        Ok(st
            .query_row([id.as_bytes().as_slice()], item_from)
            .optional()?)
    }

    /// Every item that is not deleted, with only what reading it needs (at unlock: this is
    /// the one query that touches the whole vault).
    pub fn live_items(&self) -> Result<Vec<LiveItem>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT id, vault_id, envelope, dirty FROM items WHERE deleted = 0")?;
        let rows = st.query_map([], |r| {
            Ok(LiveItem {
                id: uuid(r.get(0)?)?,
                vault_id: uuid(r.get(1)?)?,
                envelope: r.get(2)?,
                dirty: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every deleted item (a tombstone), as [`LiveItem`]s: the client checks that each is
    /// sealed as a deletion.
    pub fn deleted_items(&self) -> Result<Vec<LiveItem>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT id, vault_id, envelope, dirty FROM items WHERE deleted <> 0")?;
        let rows = st.query_map([], |r| {
            Ok(LiveItem {
                id: uuid(r.get(0)?)?,
                vault_id: uuid(r.get(1)?)?,
                envelope: r.get(2)?,
                dirty: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` live items after row `after` (0 to start), in storage order, and the
    /// row to continue after: a large cache read in batches, so that reading and decrypting
    /// overlap.
    pub fn live_items_after(&self, after: i64, limit: usize) -> Result<(i64, Vec<LiveItem>)> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT rowid, id, vault_id, envelope, dirty FROM items
             WHERE deleted = 0 AND rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let mut last = after;
        let rows = st.query_map(params![after, limit as i64], |r| {
            last = r.get(0)?;
            Ok(LiveItem {
                id: uuid(r.get(1)?)?,
                vault_id: uuid(r.get(2)?)?,
                envelope: r.get(3)?,
                dirty: r.get(4)?,
            })
        })?;
        let items = rows.collect::<rusqlite::Result<_>>()?;
        Ok((last, items))
    }

    /// The live items of `vault` with their local versions (which move at every change of
    /// an item), nothing decrypted: what a copy derived from them (the mail search index)
    /// compares itself with.
    pub fn item_versions(&self, vault: Uuid) -> Result<Vec<(Uuid, i64)>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT id, local_version FROM items WHERE vault_id = ?1 AND deleted = 0",
        )?;
        let rows = st.query_map([vault.as_bytes().as_slice()], |r| {
            Ok((uuid(r.get(0)?)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The outbox: items whose local state the server has not acknowledged.
    pub fn outbox(&self) -> Result<Vec<ItemRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE dirty = 1 ORDER BY local_version"
        ))?;
        let rows = st.query_map([], item_from)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A local write: the item's new sealed state, queued for the server, the previous state
    /// kept in history.
    pub fn save_local(
        &self,
        id: Uuid,
        vault: Uuid,
        envelope: &[u8],
        deleted: bool,
        now: i64,
    ) -> Result<Saved> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let generation = Self::bump_generation(&tx)?;
        let version = Self::write_local(&tx, id, vault, envelope, deleted, now)?;
        tx.commit()?;
        Ok(Saved {
            version,
            generation,
        })
    }

    /// Many new or changed items in one transaction (an import): all or none. Returns the
    /// new generation.
    pub fn save_local_many(&self, writes: &[(Uuid, Uuid, Vec<u8>)], now: i64) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let generation = Self::bump_generation(&tx)?;
        for (id, vault, envelope) in writes {
            Self::write_local(&tx, *id, *vault, envelope, false, now)?;
        }
        tx.commit()?;
        Ok(generation)
    }

    /// A counter that every transaction changing items' local state moves by exactly one
    /// (the write returns the new value): a copy of something derived from all items (the
    /// client's search index) is current only at the generation it was made at, and one
    /// made at `g - 1` plus the changes of the write that returned `g` is current at `g`.
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .meta(GENERATION)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, i64::from_be_bytes))
    }

    fn bump_generation(tx: &rusqlite::Transaction<'_>) -> Result<i64> {
        let current: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [GENERATION], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, i64::from_be_bytes);
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![GENERATION, (current + 1).to_be_bytes().as_slice()],
        )?;
        Ok(current + 1)
    }

    fn write_local(
        tx: &rusqlite::Transaction<'_>,
        id: Uuid,
        vault: Uuid,
        envelope: &[u8],
        deleted: bool,
        now: i64,
    ) -> Result<i64> {
        let idb = id.as_bytes().as_slice();
        let previous: Option<(Vec<u8>, i64)> = tx
            .query_row(
                "SELECT envelope, local_version FROM items WHERE id = ?1",
                [idb],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match &previous {
            Some((old, v)) => {
                tx.execute("INSERT OR REPLACE INTO history (item_id, version, envelope, saved_at) VALUES (?1, ?2, ?3, ?4)", params![idb, v, old, now])?;
                tx.execute(
                    "UPDATE items SET envelope = ?1, deleted = ?2, dirty = 1, local_version = local_version + 1, rekeyed = 0,
                            server_envelope = CASE WHEN server_envelope = x'' THEN envelope ELSE server_envelope END
                     WHERE id = ?3",
                    params![envelope, deleted, idb],
                )?;
                v + 1
            }
            None => {
                tx.execute(
                    "INSERT INTO items (id, vault_id, envelope, deleted, dirty, local_version) VALUES (?1, ?2, ?3, ?4, 1, 1)",
                    params![idb, vault.as_bytes().as_slice(), envelope, deleted],
                )?;
                1
            }
        })
    }

    /// Applies the server's changes, the vaults' new states and the cursor after them, in one
    /// transaction (a refused manifest version leaves everything as it was).
    /// For an item that is also changed locally, `merged` gives the state to keep and whether
    /// it is a deletion (the caller's three-way merge; `None` keeps the local state as it is)
    /// and the item stays in the outbox on top of the new server revision: a local edit is
    /// never dropped here.
    /// Other items take the server's state. Returns the new generation if any item changed.
    pub fn apply_remote(
        &self,
        changes: &[RemoteItem],
        mut merged: impl FnMut(&ItemRow, &RemoteItem) -> Option<(Vec<u8>, bool)>,
        vaults: &[VaultState],
        cursor: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for c in changes {
            let idb = c.id.as_bytes().as_slice();
            let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1");
            let local = tx.query_row(&sql, [idb], item_from).optional()?;
            match local {
                None => {
                    tx.execute(
                        "INSERT INTO items (id, vault_id, envelope, deleted, server_revision, server_envelope, dirty, local_version, server_deleted)
                         VALUES (?1, ?2, ?3, ?4, ?5, x'', 0, 0, ?4)",
                        params![idb, c.vault_id.as_bytes().as_slice(), c.envelope, c.deleted, c.revision],
                    )?;
                }
                Some(l) => {
                    let keep = l
                        .dirty
                        .then(|| merged(&l, c).unwrap_or_else(|| (l.envelope.clone(), l.deleted)));
                    let new_envelope = keep.as_ref().map_or(&c.envelope, |k| &k.0);
                    // (Not for a state re-sealed here under new keys: the server's is the
                    // same content.)
                    if l.envelope != *new_envelope {
                        tx.execute(
                            "INSERT OR REPLACE INTO history (item_id, version, envelope, saved_at)
                             SELECT ?1, ?2, ?3, ?4 FROM items WHERE id = ?1 AND rekeyed = 0",
                            params![idb, l.local_version, l.envelope, now],
                        )?;
                    }
                    // A kept state equal to the server's leaves the outbox (e.g. a push whose
                    // answer was lost comes back in the feed).
                    let (envelope, deleted, dirty) = match &keep {
                        Some((m, d)) if *m != c.envelope => (m.as_slice(), *d, true),
                        _ => (c.envelope.as_slice(), c.deleted, false),
                    };
                    tx.execute(
                        "UPDATE items SET envelope = ?1, deleted = ?2, server_revision = ?3, server_envelope = ?4, dirty = ?5,
                                local_version = local_version + 1, server_deleted = ?6, rekeyed = 0
                         WHERE id = ?7",
                        params![
                            envelope,
                            deleted,
                            c.revision,
                            if envelope == c.envelope.as_slice() { &[][..] } else { &c.envelope[..] },
                            dirty,
                            c.deleted,
                            idb
                        ],
                    )?;
                    // Deleted for good here too: no earlier state of it stays on this device.
                    if deleted {
                        tx.execute("DELETE FROM history WHERE item_id = ?1", [idb])?;
                    }
                }
            }
        }
        for v in vaults {
            Self::set_vault_state(&tx, v)?;
        }
        let generation = if changes.is_empty() {
            None
        } else {
            Some(Self::bump_generation(&tx)?)
        };
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('cursor', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
            [cursor.to_be_bytes().as_slice()],
        )?;
        tx.commit()?;
        Ok(generation)
    }

    // ---- sealed records (pinned keys, transfers) -------------------------------------

    /// Every record of a kind: a random row id and the sealed record (whose content, e.g. a
    /// pinned user's name or a file's path, is only inside it).
    pub fn sealed_rows(&self, kind: Records) -> Result<Vec<([u8; 16], Vec<u8>)>> {
        let (table, id) = kind.table();
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("SELECT {id}, sealed FROM {table}"))?;
        let rows = st.query_map([], |r| {
            let id: Vec<u8> = r.get(0)?;
            Ok((
                <[u8; 16]>::try_from(id.as_slice()).unwrap_or_default(),
                r.get(1)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn put_sealed(&self, kind: Records, row: [u8; 16], sealed: &[u8]) -> Result<()> {
        let (table, id) = kind.table();
        self.conn().execute(
            &format!(
                "INSERT INTO {table} ({id}, sealed) VALUES (?1, ?2)
                 ON CONFLICT ({id}) DO UPDATE SET sealed = ?2"
            ),
            params![row.as_slice(), sealed],
        )?;
        Ok(())
    }

    /// [`Store::put_sealed`] and [`Store::set_metas`] in one transaction.
    pub fn put_sealed_with_metas(
        &self,
        kind: Records,
        row: [u8; 16],
        sealed: &[u8],
        metas: &[(&str, Option<&[u8]>)],
    ) -> Result<()> {
        let (table, id) = kind.table();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            &format!(
                "INSERT INTO {table} ({id}, sealed) VALUES (?1, ?2)
                 ON CONFLICT ({id}) DO UPDATE SET sealed = ?2"
            ),
            params![row.as_slice(), sealed],
        )?;
        write_metas(&tx, metas)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets (`Some`) or deletes (`None`) several named values at once, all or none.
    pub fn set_metas(&self, metas: &[(&str, Option<&[u8]>)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_metas(&tx, metas)?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete_sealed(&self, kind: Records, row: [u8; 16]) -> Result<()> {
        let (table, id) = kind.table();
        self.conn().execute(
            &format!("DELETE FROM {table} WHERE {id} = ?1"),
            [row.as_slice()],
        )?;
        Ok(())
    }

    /// The change-feed cursor after the last applied page.
    pub fn cursor(&self) -> Result<i64> {
        Ok(self
            .meta("cursor")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, i64::from_be_bytes))
    }

    /// Every envelope sealed under a vault key: the items (current state and merge base) and
    /// their earlier states `(item, version, envelope)`, for a change of keys.
    pub fn sealed_for_rekey(&self) -> Result<(Vec<ItemRow>, Vec<EarlierState>)> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items"))?;
        let items = st
            .query_map([], item_from)?
            .collect::<rusqlite::Result<_>>()?;
        let mut st = conn.prepare_cached("SELECT item_id, version, envelope FROM history")?;
        let history = st
            .query_map([], |r| {
                let id: Vec<u8> = r.get(0)?;
                Ok((
                    Uuid::from_slice(&id).unwrap_or_default(),
                    r.get(1)?,
                    r.get(2)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((items, history))
    }

    /// Puts a change of keys in place, all or nothing: each vault's new key wrap (its
    /// manifest and digest forgotten, to be verified again from the server's), each item and
    /// earlier state re-sealed, the sealed records and named values replaced. An item that is
    /// not in the outbox is marked, so that the server's next state of it replaces it without
    /// a history entry. What was overwritten is gone from the files when this returns.
    pub fn rekey(&self, r: &Rekey) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, wrap) in &r.vaults {
            tx.execute(
                "UPDATE vaults SET key_wrap = ?1, manifest = NULL, manifest_version = 0, digest = NULL, live_count = 0
                 WHERE id = ?2",
                params![wrap, id.as_bytes().as_slice()],
            )?;
        }
        for it in &r.items {
            tx.execute(
                "UPDATE items SET envelope = ?1, server_envelope = COALESCE(?2, server_envelope), rekeyed = (dirty = 0)
                 WHERE id = ?3",
                params![it.envelope, it.server_envelope, it.id.as_bytes().as_slice()],
            )?;
        }
        for (id, version, envelope) in &r.history {
            tx.execute(
                "UPDATE history SET envelope = ?1 WHERE item_id = ?2 AND version = ?3",
                params![envelope, id.as_bytes().as_slice(), version],
            )?;
        }
        for (kind, row, sealed) in &r.records {
            let (table, id) = kind.table();
            tx.execute(
                &format!("UPDATE {table} SET sealed = ?1 WHERE {id} = ?2"),
                params![sealed, row.as_slice()],
            )?;
        }
        let metas: Vec<(&str, Option<&[u8]>)> = r
            .metas
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        write_metas(&tx, &metas)?;
        Self::bump_generation(&tx)?;
        tx.commit()?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Empties the cache (the account was deleted): every table, then a VACUUM so the file
    /// keeps nothing of it.
    pub fn forget_everything(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for t in [
            "meta",
            "vaults",
            "items",
            "history",
            "pinned_keys",
            "transfers",
        ] {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        tx.commit()?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")?;
        Ok(())
    }

    /// Makes what was just overwritten or deleted unrecoverable from the files: with
    /// `secure_delete` the pages hold zeros where it was; a truncating checkpoint copies them
    /// home and empties the WAL, whose older frames still held it.
    pub fn forget_overwritten(&self) -> Result<()> {
        self.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Forgets every earlier state of an item (when it is purged).
    pub fn erase_history(&self, id: Uuid) -> Result<()> {
        self.conn().execute(
            "DELETE FROM history WHERE item_id = ?1",
            [id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    /// Earlier states of an item, newest first.
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT version, envelope, saved_at FROM history WHERE item_id = ?1 ORDER BY version DESC")?;
        let rows = st.query_map([id.as_bytes().as_slice()], |r| {
            Ok(HistoryRow {
                version: r.get(0)?,
                envelope: r.get(1)?,
                saved_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn write_metas(tx: &rusqlite::Transaction<'_>, metas: &[(&str, Option<&[u8]>)]) -> Result<()> {
    for (key, value) in metas {
        match value {
            Some(v) => tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, v],
            )?,
            None => tx.execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
    }
    Ok(())
}
