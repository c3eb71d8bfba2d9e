-- The web console's staff: accounts with a role, their sessions (the
-- cookie's token kept as a hash), and the audit log of every staff action.
CREATE TABLE staff_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'marketer', 'frontdesk')),
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER
);

CREATE TABLE staff_sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES staff_users (id),
    csrf          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    from_addr     TEXT    NOT NULL
);

CREATE TABLE staff_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    username   TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL DEFAULT '',
    before     TEXT    NOT NULL DEFAULT '',
    after      TEXT    NOT NULL DEFAULT '',
    from_addr  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX staff_audit_at ON staff_audit (at);
