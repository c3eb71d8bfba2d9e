-- The public Wi-Fi access log (上网日志) the local police ask for: one row a
-- guest session, appended in the transaction that ends it (the trigger), so
-- no session ends without its row. Never part of marketing or statistics.
ALTER TABLE sessions ADD COLUMN public_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN port_lo INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN port_hi INTEGER NOT NULL DEFAULT 0;

CREATE TABLE access_trail (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL,
    identity    TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    mac         TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    ap          TEXT    NOT NULL,
    radio       TEXT    NOT NULL,
    ssid        TEXT    NOT NULL,
    public_addr TEXT    NOT NULL,
    port_lo     INTEGER NOT NULL,
    port_hi     INTEGER NOT NULL,
    login_at    INTEGER NOT NULL,
    logout_at   INTEGER NOT NULL,
    end_reason  TEXT    NOT NULL,
    -- Set once by the sealer, in order: the previous row's hash and this
    -- row's (SHA-256 over the previous hash and every field above).
    prev_hash   TEXT,
    hash        TEXT
);
CREATE INDEX access_trail_logout ON access_trail (logout_at);
CREATE INDEX access_trail_login ON access_trail (login_at);
CREATE INDEX access_trail_mac ON access_trail (mac);
CREATE INDEX access_trail_identity ON access_trail (identity);
CREATE INDEX access_trail_unsealed ON access_trail (seq) WHERE hash IS NULL;

CREATE TRIGGER access_trail_append AFTER UPDATE OF ended_at ON sessions
WHEN old.ended_at IS NULL AND new.ended_at IS NOT NULL
BEGIN
    INSERT INTO access_trail (session_id, identity, method, mac, ip, ap, radio, ssid, public_addr, port_lo,
                              port_hi, login_at, logout_at, end_reason)
    SELECT new.id, new.identity, new.method, new.mac, new.ip,
           COALESCE(v.device_id, ''), COALESCE(v.interface, ''),
           COALESCE((SELECT group_concat(name, '|') FROM ssids WHERE captive_portal = 1), ''),
           new.public_addr, new.port_lo, new.port_hi, new.started_at, new.ended_at, COALESCE(new.end_reason, '')
    FROM (SELECT 1) LEFT JOIN (
        SELECT device_id, interface FROM station_visits
        WHERE station = new.mac AND joined_at <= new.ended_at
        ORDER BY (joined_at <= new.started_at) DESC, joined_at DESC LIMIT 1
    ) v;
END;

-- The log's rows are never changed: only the sealer's two hash columns are set.
CREATE TRIGGER access_trail_append_only BEFORE UPDATE OF seq, session_id, identity, method, mac, ip, ap, radio,
    ssid, public_addr, port_lo, port_hi, login_at, logout_at, end_reason ON access_trail
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

-- A day's digest: the last row sealed by the end of that day and its hash
-- (what `controller trail verify` checks the rows against after retention
-- has pruned the ones before).
CREATE TABLE access_trail_digests (
    day       TEXT    PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    rows      INTEGER NOT NULL,
    made_at   INTEGER NOT NULL
);

-- Who searched the access log, for what, and what came back.
CREATE TABLE access_trail_searches (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    query    TEXT    NOT NULL,
    results  INTEGER NOT NULL
);
