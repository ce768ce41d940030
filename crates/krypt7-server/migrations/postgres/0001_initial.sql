-- KRYPT7 server schema, version 1 (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql.
-- Every user-supplied byte string here is ciphertext or an OPAQUE record: the server can
-- read none of it. Usernames, emails and phone numbers are kept only in their current value.

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE accounts (
    id             BYTEA PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    phone          TEXT,
    opaque_record  BYTEA NOT NULL,
    kdf_setup      BYTEA NOT NULL,
    keyset         BYTEA NOT NULL,
    key_bundle     BYTEA NOT NULL,
    seq            BIGINT NOT NULL DEFAULT 0,
    totp_secret    BYTEA,
    totp_pending   BYTEA,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    sms_enabled    BIGINT NOT NULL DEFAULT 0,
    sms_code_hash  BYTEA,
    sms_code_until BIGINT,
    quota_bytes    BIGINT NOT NULL,
    usage_bytes    BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);

CREATE TABLE sessions (
    id           BYTEA PRIMARY KEY,
    account_id   BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE,
    device_name  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE pending_logins (
    id            BYTEA PRIMARY KEY,
    account_id    BYTEA REFERENCES accounts (id) ON DELETE CASCADE,
    state         BYTEA NOT NULL,
    device_name   TEXT,
    second_factor TEXT,
    sms_code_hash BYTEA,
    attempts      BIGINT NOT NULL DEFAULT 0,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE vaults (
    account_id       BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id               BYTEA NOT NULL,
    key_wrap         BYTEA,
    key_seq          BIGINT NOT NULL DEFAULT 0,
    manifest         BYTEA,
    manifest_version BIGINT NOT NULL DEFAULT 0,
    manifest_seq     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE items (
    account_id BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         BYTEA NOT NULL,
    vault_id   BYTEA NOT NULL,
    revision   BIGINT NOT NULL,
    envelope   BYTEA NOT NULL,
    deleted    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX items_feed ON items (account_id, seq);

-- Uploaded ciphertext: the bytes live in the blob store, keyed by account and blob id.
CREATE TABLE blobs (
    account_id BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    chunk_size BIGINT NOT NULL,
    complete   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE blob_chunks (
    account_id BYTEA NOT NULL,
    blob_id    BYTEA NOT NULL,
    idx        BIGINT NOT NULL,
    PRIMARY KEY (account_id, blob_id, idx),
    FOREIGN KEY (account_id, blob_id) REFERENCES blobs (account_id, id) ON DELETE CASCADE
);

-- The IP and time of every failed or unauthorized attempt, and nothing else.
CREATE TABLE unauthorized_attempts (
    id     BIGSERIAL PRIMARY KEY,
    ip     TEXT NOT NULL,
    at     BIGINT NOT NULL,
    reason TEXT NOT NULL
);
