-- The SMS sends of the last day, so the per-phone, per-block, per-device and
-- site budgets hold across restarts (every settings save restarts the
-- daemon). The phone is kept as a hash: the windows need only to tell
-- phones apart.
CREATE TABLE sms_sends (
    at_ms INTEGER NOT NULL,
    phone_key TEXT NOT NULL,
    block TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX sms_sends_at ON sms_sends (at_ms);
