-- The last bundle from headquarters this site applied: its version and the
-- marketing blocks HQ manages (by name, as JSON); the portal shows them over
-- the site's own. Kept so a restart, or HQ unreachable, keeps the last good.
CREATE TABLE hq_bundle (
    k           TEXT    PRIMARY KEY CHECK (k = 'applied'),
    version     TEXT    NOT NULL,
    blocks      TEXT    NOT NULL,
    applied_at  INTEGER NOT NULL
);
