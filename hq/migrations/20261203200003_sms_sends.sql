-- SMS codes HQ sent for its sites with the chain's gateway: the chain's
-- and each site's hourly budgets are counted here (pruned after a day).
CREATE TABLE hq_sms_sends (
    brand_id  TEXT   NOT NULL,
    site_id   TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX hq_sms_sends_at ON hq_sms_sends (brand_id, at);
