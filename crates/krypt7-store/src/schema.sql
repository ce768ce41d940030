-- KRYPT7 local cache, schema version 1. Every BLOB that belongs to the user's content is an
-- envelope sealed by the client core; nothing here is plaintext.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE vaults (
    id               BLOB PRIMARY KEY,
    key_wrap         BLOB NOT NULL,
    manifest         BLOB,
    manifest_version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE items (
    id              BLOB PRIMARY KEY,
    vault_id        BLOB NOT NULL,
    envelope        BLOB NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    server_revision INTEGER NOT NULL DEFAULT 0,
    server_envelope BLOB,
    dirty           INTEGER NOT NULL DEFAULT 0,
    local_version   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX items_outbox ON items (dirty) WHERE dirty = 1;

CREATE TABLE history (
    item_id  BLOB NOT NULL,
    version  INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    saved_at INTEGER NOT NULL,
    PRIMARY KEY (item_id, version)
);

CREATE TABLE pinned_keys (
    account_id BLOB PRIMARY KEY,
    sealed     BLOB NOT NULL
);
