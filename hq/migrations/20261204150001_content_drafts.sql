-- The HQ editor's drafts: a scope's block as the marketer is changing it,
-- before it is published (at once or staged); one a scope and block.
CREATE TABLE hq_drafts (
    brand_id   TEXT   NOT NULL,
    scope_kind TEXT   NOT NULL,
    scope_id   TEXT   NOT NULL DEFAULT '',
    block      TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL,
    PRIMARY KEY (brand_id, scope_kind, scope_id, block)
);
