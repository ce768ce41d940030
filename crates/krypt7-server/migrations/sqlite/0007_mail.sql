-- Mail delivered to an account: one row per recipient, the sealed message opaque
-- (docs/mail.md). seq puts it in the change feed of the recipient, and size counts against
-- the quota of the recipient until a device takes it in. Then the row stays as a marker
-- (taken, nothing sealed left) at a new seq, as a deleted item does: the feed never has
-- a gap where its newest change was.
CREATE TABLE mail (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         BLOB NOT NULL,
    sender_id  BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    size       INTEGER NOT NULL,
    arrived_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    taken      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX mail_feed ON mail (account_id, seq);

-- Messages a sender delivered, by the id the sender gave the message: a retry of the
-- same message (its answer lost) is not delivered twice.
CREATE TABLE mail_sent (
    sender_id    BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id    BLOB NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (sender_id, client_id)
);
