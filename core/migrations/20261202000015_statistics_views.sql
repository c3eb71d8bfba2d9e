-- What statistics may read, and only read: each view belongs to the
-- concern that owns its table (sessions; the audit trail's logins and
-- refusals and its portal events) and keeps its columns whatever that
-- table becomes. `stats` queries these views, never the tables.
CREATE VIEW stats_sessions AS
    SELECT mac, method, started_at, ended_at FROM sessions;
CREATE VIEW stats_refusals AS
    SELECT method, reason, at FROM auth_events WHERE outcome = 'refused';
CREATE VIEW stats_portal_events AS
    SELECT kind, detail, at FROM portal_events;
