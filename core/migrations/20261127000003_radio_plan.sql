-- What each radio heard, the admin's fixed settings and the planner's choice.
CREATE TABLE radio_scans (
    device_id  TEXT    NOT NULL,
    interface  TEXT    NOT NULL,
    bssid      TEXT    NOT NULL,
    channel    INTEGER NOT NULL,
    rssi       INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (device_id, interface, bssid)
);

CREATE TABLE radio_settings (
    device_id          TEXT    NOT NULL,
    interface          TEXT    NOT NULL,
    fixed_channel      INTEGER,
    fixed_tx_power_dbm INTEGER,
    planned_channel    INTEGER,
    power_reduction_db INTEGER NOT NULL DEFAULT 0,
    plan_reason        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, interface)
);
