-- Each site's footfall by zone (aggregates only: no device in them), as
-- its heartbeat last said for each of its recent days.
CREATE TABLE hq_footfall (
    brand_id  TEXT   NOT NULL,
    site_id   TEXT   NOT NULL,
    day       TEXT   NOT NULL,
    zone      TEXT   NOT NULL,
    what      TEXT   NOT NULL,
    key       TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (brand_id, site_id, day, zone, what, key)
);
CREATE INDEX hq_footfall_day ON hq_footfall (brand_id, day);
