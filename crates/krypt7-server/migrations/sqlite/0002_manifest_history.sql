-- Every manifest a vault had, so a device reads the whole chain since its last sync
-- (each version names the one before, docs/sync.md). The vaults row keeps the newest.
CREATE TABLE manifests (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    vault_id   BLOB NOT NULL,
    version    INTEGER NOT NULL,
    manifest   BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (account_id, vault_id, version)
);
CREATE INDEX manifests_feed ON manifests (account_id, seq);
INSERT INTO manifests (account_id, vault_id, version, manifest, seq)
    SELECT account_id, id, manifest_version, manifest, manifest_seq FROM vaults
    WHERE manifest IS NOT NULL;
