-- Schema version 5: an item re-sealed here under new keys (a change of the Secret Key). Its
-- next state from the server (the same content, sealed there by the device that made the
-- change) replaces it without an entry in its history.
ALTER TABLE items ADD COLUMN rekeyed INTEGER NOT NULL DEFAULT 0;
