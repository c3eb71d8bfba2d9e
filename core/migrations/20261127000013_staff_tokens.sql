-- Per-user API tokens: the JSON API acts as the staff member whose token it
-- is, with their role. Kept as hashes; shown once when made.
CREATE TABLE staff_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    TEXT    NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES staff_users (id),
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
