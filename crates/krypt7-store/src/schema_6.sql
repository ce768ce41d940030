-- Schema version 6: the live items of a vault with their versions, read without touching
-- their envelopes (the mail search index compares itself with them before a search).
CREATE INDEX items_versions ON items (vault_id, deleted, id, local_version);
