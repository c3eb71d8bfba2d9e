-- Voucher cards: the clock starts at first use (first_used_at), which must
-- come before valid_until; at most `devices` devices per card.
CREATE TABLE vouchers (
    code              TEXT PRIMARY KEY,
    batch             TEXT    NOT NULL,
    duration_seconds  INTEGER NOT NULL,
    devices           INTEGER NOT NULL,
    down_kbps         INTEGER NOT NULL DEFAULT 0,
    up_kbps           INTEGER NOT NULL DEFAULT 0,
    note              TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    valid_until       INTEGER NOT NULL,
    first_used_at     INTEGER,
    revoked_at        INTEGER
);
CREATE INDEX vouchers_batch ON vouchers (batch);

CREATE TABLE voucher_devices (
    code      TEXT    NOT NULL REFERENCES vouchers (code),
    mac       TEXT    NOT NULL,
    first_at  INTEGER NOT NULL,
    PRIMARY KEY (code, mac)
);
