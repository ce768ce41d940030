-- How many times the account's Secret Key was changed: served in the change feed, so every
-- device learns that its keys open nothing new, keeps what it has not sent, and unlocks
-- next with the new Secret Key.
ALTER TABLE accounts ADD COLUMN key_epoch BIGINT NOT NULL DEFAULT 0;

-- Items re-sealed under the new keys of a Secret Key change, staged until it finishes
-- (every item of the account, then applied at once) or a new change starts.
CREATE TABLE rekey_items (
    account_id    BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            BYTEA NOT NULL,
    vault_id      BYTEA NOT NULL,
    base_revision BIGINT NOT NULL,
    envelope      BYTEA NOT NULL,
    deleted       BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
