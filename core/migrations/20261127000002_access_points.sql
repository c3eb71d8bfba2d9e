-- Access points, SSIDs and where guests' devices were seen. Times are UTC ms.
CREATE TABLE access_points (
    device_id      TEXT PRIMARY KEY,
    model          TEXT    NOT NULL,
    mac            TEXT    NOT NULL,
    firmware       TEXT    NOT NULL,
    public_key_pem TEXT    NOT NULL,
    radios_json    TEXT    NOT NULL DEFAULT '[]',
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'adopted')),
    cert_der       BLOB,
    floor          INTEGER NOT NULL DEFAULT 0,
    applied_version INTEGER NOT NULL DEFAULT 0,
    first_seen_at  INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL
);

CREATE TABLE ssids (
    name             TEXT PRIMARY KEY,
    security         TEXT    NOT NULL,
    key              TEXT    NOT NULL DEFAULT '',
    vlan             INTEGER,
    hidden           INTEGER NOT NULL DEFAULT 0,
    client_isolation INTEGER NOT NULL DEFAULT 1,
    captive_portal   INTEGER NOT NULL DEFAULT 1,
    bands            TEXT    NOT NULL
);

-- One row: the configuration version and the roaming keys every AP shares.
CREATE TABLE ac_settings (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    config_version   INTEGER NOT NULL,
    country          TEXT    NOT NULL,
    mobility_domain  TEXT    NOT NULL,
    ft_key           TEXT    NOT NULL
);

CREATE TABLE station_visits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    station    TEXT    NOT NULL,
    device_id  TEXT    NOT NULL,
    interface  TEXT    NOT NULL,
    joined_at  INTEGER NOT NULL,
    left_at    INTEGER
);
CREATE INDEX station_visits_open ON station_visits (station) WHERE left_at IS NULL;
