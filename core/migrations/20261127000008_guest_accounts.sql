-- Front-desk accounts. The ID number is only a keyed hash (id.key in the
-- data dir) and its last four characters; the password only an argon2id hash.
CREATE TABLE guest_accounts (
    username        TEXT PRIMARY KEY,
    password_hash   TEXT    NOT NULL,
    id_hash         TEXT    NOT NULL,
    id_last4        TEXT    NOT NULL,
    id_type         TEXT    NOT NULL CHECK (id_type IN ('id_card', 'passport')),
    name            TEXT    NOT NULL DEFAULT '',
    online_seconds  INTEGER NOT NULL,
    devices         INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    first_login_at  INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX guest_accounts_id ON guest_accounts (id_hash);
