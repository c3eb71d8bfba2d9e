-- The optional domain log (`trail.domains`): each name a logged-in
-- session resolved through the appliance's resolver, once a session, with
-- when it was first asked. Read only by the compliance officer, pruned
-- with the access log.
CREATE TABLE access_trail_domains (
    session_id  INTEGER NOT NULL,
    domain      TEXT    NOT NULL,
    first_at    INTEGER NOT NULL,
    PRIMARY KEY (session_id, domain)
) WITHOUT ROWID;
CREATE INDEX access_trail_domains_first ON access_trail_domains (first_at);
