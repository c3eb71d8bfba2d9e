-- Data allowances: a session's limit (bytes it may move, up and down, from
-- what its grant allowed less what its identity used before in the
-- allowance's period) and what the kernel counted towards it.
ALTER TABLE sessions ADD COLUMN data_limit INTEGER;
ALTER TABLE sessions ADD COLUMN bytes_down INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_identity_started ON sessions (identity, started_at);
CREATE INDEX sessions_live_limited ON sessions (id) WHERE ended_at IS NULL AND data_limit IS NOT NULL;
-- A voucher's allowance over its life, MB (0: none).
ALTER TABLE vouchers ADD COLUMN data_mb INTEGER NOT NULL DEFAULT 0;
-- A member tier's allowance a day, MB, as the appliance's copy keeps it.
ALTER TABLE member_cards ADD COLUMN data_mb INTEGER NOT NULL DEFAULT 0;
