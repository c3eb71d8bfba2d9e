-- Adoption that cannot be hijacked: the first key a pending id said hello
-- with is kept; another key for the same id is recorded as a conflict for
-- the admin to see. Whether the AP pinned the controller's CA is shown too.
ALTER TABLE access_points ADD COLUMN conflict_key_pem TEXT;
ALTER TABLE access_points ADD COLUMN conflict_at INTEGER;
ALTER TABLE access_points ADD COLUMN controller_pinned INTEGER NOT NULL DEFAULT 0;
