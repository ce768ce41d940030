-- Schema version 2: what a vault manifest is checked against (docs/sync.md).
-- `server_deleted`: the server's state of the item is a tombstone (the local state may differ).
-- `digest`, `live_count`: the keyed multiset hash and count of the server states of a vault's
-- live items, kept in step with every applied change; NULL means "recompute from the items".
ALTER TABLE items ADD COLUMN server_deleted INTEGER NOT NULL DEFAULT 0;
UPDATE items SET server_deleted = deleted WHERE dirty = 0 AND server_revision > 0;
ALTER TABLE vaults ADD COLUMN digest BLOB;
ALTER TABLE vaults ADD COLUMN live_count INTEGER NOT NULL DEFAULT 0;
