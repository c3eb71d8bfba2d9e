-- Who logged in and what the login was worth: every session carries the
-- identity its method gave ("device:02:..", "voucher:ABCDEFGHJK",
-- "account:g4x8k2"), the length granted and the bandwidth limits (kbit/s,
-- 0 = none).
ALTER TABLE sessions ADD COLUMN identity TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN granted_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN down_kbps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN up_kbps INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_live_identity ON sessions (identity) WHERE ended_at IS NULL;

-- The audit trail: every login and every refusal, by method.
CREATE TABLE auth_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    method    TEXT    NOT NULL,
    mac       TEXT    NOT NULL,
    ip        TEXT    NOT NULL,
    identity  TEXT    NOT NULL DEFAULT '',
    outcome   TEXT    NOT NULL CHECK (outcome IN ('login', 'refused')),
    reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX auth_events_at ON auth_events (at);

-- What guests did on the portal that marketing counts (ad impressions, clicks).
CREATE TABLE portal_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    mac     TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX portal_events_at ON portal_events (at);
