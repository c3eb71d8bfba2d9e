-- Blocks headquarters lets this site replace with its own (as the last
-- bundle said), and the ones the site chose to keep its own: the portal
-- shows the site's block for those, HQ's for the rest.
ALTER TABLE hq_bundle ADD COLUMN overridable TEXT NOT NULL DEFAULT '[]';
CREATE TABLE hq_own_blocks (
    block  TEXT    PRIMARY KEY,
    since  INTEGER NOT NULL,
    by     TEXT    NOT NULL
);
