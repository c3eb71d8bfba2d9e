-- Chain statistics: daily figures per scope, kept up as facts land, so a
-- statistics page sums a few hundred rows a scope a year and never reads
-- `events`.

-- Every events row that lands, queued in the filing transaction by the
-- trigger below; the roller (hq/src/rollup.rs) takes the oldest rows,
-- adds them to `hq_stats` and deletes them in one transaction, so each
-- fact counts once whichever replica rolls it.
CREATE TABLE hq_rollup_queue (
    seq       BIGSERIAL PRIMARY KEY,
    brand_id  TEXT   NOT NULL,
    site_id   TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    mac       TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    detail    TEXT   NOT NULL
);

CREATE FUNCTION hq_rollup_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hq_rollup_queue (brand_id, site_id, kind, mac, at, detail)
    SELECT brand_id, site_id, kind, mac, at, detail FROM landed;
    RETURN NULL;
END
$$;

-- Statement level: a multi-row filing queues its new rows in one insert
-- (rows ON CONFLICT DO NOTHING skipped are not in `landed`).
CREATE TRIGGER events_rollup AFTER INSERT ON events
    REFERENCING NEW TABLE AS landed
    FOR EACH STATEMENT EXECUTE FUNCTION hq_rollup_enqueue();

-- What was filed before statistics existed is rolled up too.
INSERT INTO hq_rollup_queue (brand_id, site_id, kind, mac, at, detail)
SELECT brand_id, site_id, kind, mac, at, detail FROM events ORDER BY landed_at;

-- A scope's day: `scope` is 'brand', 'region:ID' or 'site:ID' (a site's
-- figures count in the region it was in when they landed); `day` counts
-- days from 1970-01-01 in the chain's zone; `what` and `key` name a
-- figure (`logins`/'', `method`/sms, `hour`/09, `guests`/new, ...).
CREATE TABLE hq_stats (
    brand_id  TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    what      TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    key       TEXT    NOT NULL DEFAULT '',
    n         BIGINT  NOT NULL,
    PRIMARY KEY (brand_id, scope, what, day, key)
);
-- One promotion across every site that showed it.
CREATE INDEX hq_stats_key ON hq_stats (brand_id, what, key, day) INCLUDE (scope, n);

-- A device's first login of a day in a scope (pseudonymous: a hash of the
-- brand and the MAC): a guest counts once a day a scope. Kept 14 days, as
-- long as a late fact may still land for that day.
CREATE TABLE hq_stats_daily_guests (
    brand_id  TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    guest     TEXT    NOT NULL,
    PRIMARY KEY (brand_id, scope, day, guest)
);

-- The first day a device was seen in a scope: new, new here but known
-- elsewhere in the chain, or returning.
CREATE TABLE hq_stats_seen (
    brand_id   TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    guest      TEXT    NOT NULL,
    first_day  INTEGER NOT NULL,
    PRIMARY KEY (brand_id, guest, scope)
);
