-- The member store's outbox: every identity, visit and event, written in the
-- same transaction as the session change that caused it, delivered in order
-- (seq) by the feed, deleted once the store has committed it.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT    NOT NULL UNIQUE,
    at        INTEGER NOT NULL,
    guest     TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    parked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_guest ON outbox (guest);

-- Each session is one visit in the member store.
ALTER TABLE sessions ADD COLUMN visit_id TEXT NOT NULL DEFAULT '';

-- Member cards as last read from the store: the card login's fallback while
-- the store is unreachable (no older than members.cache_max_age_hours).
CREATE TABLE member_cards (
    card_no          TEXT PRIMARY KEY,
    member_id        TEXT    NOT NULL,
    pin_hash         TEXT,
    state            TEXT    NOT NULL,
    tier             TEXT    NOT NULL,
    session_minutes  INTEGER NOT NULL,
    down_kbps        INTEGER NOT NULL,
    up_kbps          INTEGER NOT NULL
);

-- Small facts the feed and the card cache keep: `cards_refreshed_at`,
-- `feed_delivered_at`, `feed_error`.
CREATE TABLE member_state (
    k  TEXT PRIMARY KEY,
    v  TEXT NOT NULL
);
