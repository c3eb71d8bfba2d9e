-- Guest sessions. Times are UTC milliseconds since the Unix epoch.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mac          TEXT    NOT NULL,
    ip           TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    end_reason   TEXT,
    packets_up   INTEGER NOT NULL DEFAULT 0,
    bytes_up     INTEGER NOT NULL DEFAULT 0,
    last_seen_at INTEGER NOT NULL
);

-- One live session per device and per address.
CREATE UNIQUE INDEX sessions_live_mac ON sessions (mac) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX sessions_live_ip ON sessions (ip) WHERE ended_at IS NULL;
CREATE INDEX sessions_started ON sessions (started_at);
