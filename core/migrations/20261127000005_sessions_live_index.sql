-- Live sessions are found without reading the history: the sweep's
-- "expired yet?" and every list of who is online.
CREATE INDEX sessions_live ON sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
