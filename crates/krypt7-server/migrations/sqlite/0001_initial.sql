-- KRYPT7 server schema, version 1 (SQLite). Keep in step with ../postgres/0001_initial.sql.
-- Every user-supplied byte string here is ciphertext or an OPAQUE record: the server can
-- read none of it. Usernames, emails and phone numbers are kept only in their current value.

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE accounts (
    id             BLOB PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    phone          TEXT,
    opaque_record  BLOB NOT NULL,
    kdf_setup      BLOB NOT NULL,
    keyset         BLOB NOT NULL,
    key_bundle     BLOB NOT NULL,
    seq            INTEGER NOT NULL DEFAULT 0,
    totp_secret    BLOB,
    totp_pending   BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    sms_enabled    INTEGER NOT NULL DEFAULT 0,
    sms_code_hash  BLOB,
    sms_code_until INTEGER,
    quota_bytes    INTEGER NOT NULL,
    usage_bytes    INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    deleted_at     INTEGER
);

CREATE TABLE sessions (
    id           BLOB PRIMARY KEY,
    account_id   BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL UNIQUE,
    device_name  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE pending_logins (
    id            BLOB PRIMARY KEY,
    account_id    BLOB REFERENCES accounts (id) ON DELETE CASCADE,
    state         BLOB NOT NULL,
    device_name   TEXT,
    second_factor TEXT,
    sms_code_hash BLOB,
    attempts      INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL
);

CREATE TABLE vaults (
    account_id       BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id               BLOB NOT NULL,
    key_wrap         BLOB,
    key_seq          INTEGER NOT NULL DEFAULT 0,
    manifest         BLOB,
    manifest_version INTEGER NOT NULL DEFAULT 0,
    manifest_seq     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE items (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         BLOB NOT NULL,
    vault_id   BLOB NOT NULL,
    revision   INTEGER NOT NULL,
    envelope   BLOB NOT NULL,
    deleted    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX items_feed ON items (account_id, seq);

-- Uploaded ciphertext: the bytes live in the blob store, keyed by account and blob id.
CREATE TABLE blobs (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         BLOB NOT NULL,
    size       INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE blob_chunks (
    account_id BLOB NOT NULL,
    blob_id    BLOB NOT NULL,
    idx        INTEGER NOT NULL,
    PRIMARY KEY (account_id, blob_id, idx),
    FOREIGN KEY (account_id, blob_id) REFERENCES blobs (account_id, id) ON DELETE CASCADE
);

-- The IP and time of every failed or unauthorized attempt, and nothing else.
CREATE TABLE unauthorized_attempts (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ip     TEXT NOT NULL,
    at     INTEGER NOT NULL,
    reason TEXT NOT NULL
);
