-- Schema version 3: unfinished file transfers, sealed by the client core (the file's path
-- and key are inside), under random row ids.
CREATE TABLE transfers (
    id     BLOB PRIMARY KEY,
    sealed BLOB NOT NULL
);
