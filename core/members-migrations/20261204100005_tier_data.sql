-- What a member tier may move a day on the Wi-Fi, MB (0: no allowance).
ALTER TABLE tiers ADD COLUMN data_mb BIGINT NOT NULL DEFAULT 0;
