-- What each site says of its access log (上网日志): the last check of its
-- hash chain and its daily digests. The rows themselves never leave the
-- site; a digest that comes back different for a day already received is
-- kept beside the first (a history rewritten at the site shows here).
CREATE TABLE hq_access_checks (
    brand_id    TEXT    NOT NULL,
    site_id     TEXT    NOT NULL,
    checked_at  BIGINT  NOT NULL,
    rows        BIGINT  NOT NULL,
    pending     BIGINT  NOT NULL,
    broken_seq  BIGINT,
    why         TEXT,
    received_at BIGINT  NOT NULL,
    PRIMARY KEY (brand_id, site_id)
);
CREATE TABLE hq_access_digests (
    brand_id      TEXT    NOT NULL,
    site_id       TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    last_seq      BIGINT  NOT NULL,
    hash          TEXT    NOT NULL,
    rows          BIGINT  NOT NULL,
    received_at   BIGINT  NOT NULL,
    -- Set when a later heartbeat named another head for this day.
    changed_hash  TEXT,
    changed_at    BIGINT,
    PRIMARY KEY (brand_id, site_id, day)
);
