-- Staged publishes: a block goes to one canary site first, then the
-- canary's region, then the target scope, each step once every site of the
-- step that is online has applied it and none refused it. What each scope
-- held before is kept, so a halt puts every scope back as it was.
CREATE TABLE hq_rollouts (
    brand_id       TEXT   NOT NULL,
    rollout_id     TEXT   NOT NULL,
    block          TEXT   NOT NULL,
    value          TEXT,
    target_kind    TEXT   NOT NULL CHECK (target_kind IN ('brand', 'region')),
    target_id      TEXT   NOT NULL DEFAULT '',
    canary_site    TEXT   NOT NULL,
    canary_region  TEXT   NOT NULL DEFAULT '',
    -- What the canary's site scope, its region and the target held before.
    prev_canary    TEXT,
    prev_region    TEXT,
    prev_target    TEXT,
    stage          TEXT   NOT NULL CHECK (stage IN ('canary', 'region', 'target', 'done', 'halted')),
    stage_at       BIGINT NOT NULL,
    why            TEXT   NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    created_by     TEXT   NOT NULL,
    PRIMARY KEY (brand_id, rollout_id)
);
CREATE INDEX hq_rollouts_stage ON hq_rollouts (stage);
