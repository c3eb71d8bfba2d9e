-- The last check of the access log's chain (one row), what the heartbeat
-- tells headquarters beside the daily digests.
CREATE TABLE access_trail_checks (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    at          INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    broken_seq  INTEGER,
    why         TEXT
);
