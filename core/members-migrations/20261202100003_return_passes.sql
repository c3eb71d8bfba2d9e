-- One-tap return passes a site issued (the cookie's id as its SHA-256),
-- so a member's device returns with one tap at every site of the brand.
CREATE TABLE return_passes (
    brand_id    TEXT   NOT NULL,
    pass_hash   TEXT   NOT NULL,
    site_id     TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    mac         TEXT   NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (brand_id, pass_hash)
);
CREATE INDEX return_passes_who ON return_passes (brand_id, kind, value);
