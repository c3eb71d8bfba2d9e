-- Which blocks a scope lets its sites replace with their own (the editor's
-- "sites may use their own"), and which ones each site does (its heartbeat).
CREATE TABLE hq_block_policy (
    brand_id           TEXT    NOT NULL,
    scope_kind         TEXT    NOT NULL,
    scope_id           TEXT    NOT NULL DEFAULT '',
    block              TEXT    NOT NULL,
    sites_may_override BOOLEAN NOT NULL,
    set_at             BIGINT  NOT NULL,
    set_by             TEXT    NOT NULL,
    PRIMARY KEY (brand_id, scope_kind, scope_id, block)
);
ALTER TABLE hq_site_status ADD COLUMN own_blocks TEXT NOT NULL DEFAULT '';
