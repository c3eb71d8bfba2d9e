-- One-tap return passes: the random id a device holds in an HttpOnly cookie
-- (gw_pass), issued at a real login. Kept as its SHA-256 only; who it logs in
-- as is sealed with a key made from the id itself, so this table alone names
-- nobody (a stolen appliance gives no phone numbers and no usable pass).
CREATE TABLE return_passes (
    hash        TEXT    PRIMARY KEY,
    -- The identity's kind (phone, wechat, card) and its sealed value.
    kind        TEXT    NOT NULL,
    sealed      TEXT    NOT NULL,
    -- The device it was issued to: the pass is good on that MAC only.
    mac         TEXT    NOT NULL,
    -- A lookup key for revoking by identity: HMAC of kind:value under the
    -- portal key (not reversible without it).
    who_tag     TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX return_passes_who ON return_passes (who_tag);
CREATE INDEX return_passes_expiry ON return_passes (expires_at);

-- The signed phone cookie it replaces is gone, and its revocation list with it.
DROP TABLE IF EXISTS sms_forgotten;
