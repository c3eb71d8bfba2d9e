-- SMS codes: one open code a phone, stored as a keyed hash (the portal key),
-- bound to the device that asked for it.
CREATE TABLE sms_codes (
    phone       TEXT PRIMARY KEY,
    code_hash   TEXT    NOT NULL,
    mac         TEXT    NOT NULL,
    sent_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    tries_left  INTEGER NOT NULL
);

-- Phones whose one-tap return cookies staff revoked (cookies issued before
-- `at` no longer work).
CREATE TABLE sms_forgotten (
    phone  TEXT PRIMARY KEY,
    at     INTEGER NOT NULL
);
