-- Which door a staff action came by (console, api, cli): the one door writes
-- every action's row, whoever sent it.
ALTER TABLE staff_audit ADD COLUMN door TEXT NOT NULL DEFAULT 'console';
