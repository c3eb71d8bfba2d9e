-- A staff role for the compliance officer (the access log, and nothing
-- else). SQLite cannot change a CHECK in place: the accounts table and the
-- two that name it (sessions, API tokens) are rebuilt with the same rows
-- and ids, children dropped before their parent, so no foreign key is
-- ever left dangling; a rename carries the references along.
CREATE TABLE staff_users_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'marketer', 'frontdesk', 'officer')),
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER
);
INSERT INTO staff_users_new (id, username, password_hash, role, created_at, disabled_at)
    SELECT id, username, password_hash, role, created_at, disabled_at FROM staff_users;

CREATE TABLE staff_sessions_new (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES staff_users_new (id),
    csrf          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    from_addr     TEXT    NOT NULL
);
INSERT INTO staff_sessions_new SELECT token_hash, user_id, csrf, created_at, last_seen_at, from_addr FROM staff_sessions;

CREATE TABLE staff_tokens_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    TEXT    NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES staff_users_new (id),
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
INSERT INTO staff_tokens_new SELECT id, token_hash, user_id, name, created_at, last_used_at, revoked_at FROM staff_tokens;

DROP TABLE staff_sessions;
DROP TABLE staff_tokens;
DROP TABLE staff_users;
ALTER TABLE staff_users_new RENAME TO staff_users;
ALTER TABLE staff_sessions_new RENAME TO staff_sessions;
ALTER TABLE staff_tokens_new RENAME TO staff_tokens;
