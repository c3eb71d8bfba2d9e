-- A device's sessions by time (footfall's "seen here before": one indexed
-- look a station visit, however long the site's history).
CREATE INDEX sessions_mac_started ON sessions (mac, started_at);
