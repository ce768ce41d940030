-- Step-up proofs: a full OPAQUE sign-in round made by a signed-in device for one dangerous
-- action (docs/server.md, "Step-up"). `state` holds OPAQUE's server state until the round
-- finishes, and `proven_at` is set when it did (with the second factor, when one is on). An
-- action uses its proof up.
CREATE TABLE step_ups (
    id         BYTEA PRIMARY KEY,
    account_id BYTEA NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id BYTEA NOT NULL,
    action     TEXT NOT NULL,
    state      BYTEA,
    proven_at  BIGINT,
    ip         TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX step_ups_account ON step_ups (account_id);

-- An unauthorized attempt names the account it was against, when that is known (a wrong
-- password for an existing user, a wrong code, a step-up), so the account's owner is shown
-- it (GET /v1/account/attempts).
ALTER TABLE unauthorized_attempts ADD COLUMN account_id BYTEA;
CREATE INDEX unauthorized_attempts_account ON unauthorized_attempts (account_id, at);

-- A sign-in started and never finished (the client found the password wrong, or gave up)
-- is recorded as an attempt once it expires: the address it came from.
ALTER TABLE pending_logins ADD COLUMN ip TEXT;

-- A session that ended (signed out, revoked, expired) stays as a tombstone for the record's
-- retention, so a token of it used again is recorded against its account.
ALTER TABLE sessions ADD COLUMN ended_at BIGINT;
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
