-- Schema version 4: an item whose local state is the server's stores the envelope once.
-- `server_envelope` is an empty blob when it equals `envelope` (NULL: never on the server),
-- which halves what reading the whole vault at unlock touches.
UPDATE items SET server_envelope = x'' WHERE server_envelope = envelope;
