-- Members erased on request: facts about these identities that happened
-- before the erasure, still on their way from any site's outbox, are
-- dropped when they arrive instead of bringing the member back.
CREATE TABLE erasures (
    brand_id   TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    erased_at  BIGINT NOT NULL,
    PRIMARY KEY (brand_id, kind, value)
);
