-- The server's own encryption at rest (docs/server.md, "Encryption at rest"). The username
-- column now holds the name's blind index (HMAC under the server key, hex), and the name
-- itself is sealed in username_sealed (AES-256-GCM under the server key). The email, phone
-- and IP columns hold sealed text ("enc1:…"), the TOTP columns sealed bytes. Rows written
-- before this version are sealed when the server starts (an account with no
-- username_sealed, an address without the "enc1:" prefix).
ALTER TABLE accounts RENAME COLUMN username TO username_index;
ALTER TABLE accounts ADD COLUMN username_sealed BLOB;
