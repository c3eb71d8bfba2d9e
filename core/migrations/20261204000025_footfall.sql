-- Footfall: the admin puts each AP in a zone of the restaurant (大堂, 包间,
-- 露台, 吧台); every station visit keeps the zone its AP was in then, so
-- moving an AP later does not rewrite where guests were.
ALTER TABLE access_points ADD COLUMN zone TEXT NOT NULL DEFAULT '';
ALTER TABLE station_visits ADD COLUMN zone TEXT NOT NULL DEFAULT '';
CREATE INDEX station_visits_joined ON station_visits (joined_at);
CREATE INDEX station_visits_station ON station_visits (station, joined_at);

-- What footfall reads of the AC's station visits (the AC owns the table).
CREATE VIEW footfall_station_visits AS
    SELECT station, device_id, zone, joined_at, left_at FROM station_visits;

-- A day's footfall, aggregates only (no device in them), in the site's
-- zone: by `what` and `key` for a zone of the restaurant:
--   present/HH   devices seen in the zone during that hour
--   dwell_ms/HH  milliseconds spent there during that hour
--   visits/''    visits that started that day
--   dwell/bucket visits by length (0-15, 15-30, 30-60, 60-120, 120+ min)
--   new/'' and returning/''  visits by devices never or already seen before that day
--   move/ZONE    visits that went on to ZONE next
CREATE TABLE footfall_days (
    day    TEXT    NOT NULL,
    zone   TEXT    NOT NULL,
    what   TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (day, zone, what, key)
);
