-- How many times the account's password was changed: served in the change feed, so every
-- device drops its offline unlock by the old password when it next syncs.
ALTER TABLE accounts ADD COLUMN credentials BIGINT NOT NULL DEFAULT 0;
