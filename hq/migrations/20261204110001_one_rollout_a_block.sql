-- One staged publish of a block at a time for a brand: two would put each
-- other's scopes back (and a double tap on Publish would start two).
CREATE UNIQUE INDEX hq_rollouts_one_live ON hq_rollouts (brand_id, block)
    WHERE stage IN ('canary', 'region', 'target');
