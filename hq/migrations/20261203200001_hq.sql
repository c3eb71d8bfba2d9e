-- Headquarters' own tables, beside the member store's (same database, same
-- conventions: TEXT and BIGINT UTC ms, brand_id first in every key).

-- A site's enrolment state: made by an HQ admin, enrolled by its claim, and
-- revoked (a stolen appliance) until a new claim enrols it again.
CREATE TABLE hq_sites (
    brand_id     TEXT   NOT NULL,
    site_id      TEXT   NOT NULL,
    state        TEXT   NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'enrolled', 'revoked')),
    created_at   BIGINT NOT NULL,
    enrolled_at  BIGINT,
    revoked_at   BIGINT,
    PRIMARY KEY (brand_id, site_id)
);

-- One-time claim codes: the secret is kept as the key its proofs are made
-- with; a claim is used once, expires, and dies after five wrong proofs.
-- Keyed by its random id alone: the enrolling site knows nothing else yet
-- (a reference table under Citus; it holds only live and recent claims).
CREATE TABLE hq_claims (
    claim_id     TEXT   NOT NULL,
    brand_id     TEXT   NOT NULL,
    site_id      TEXT   NOT NULL,
    key          TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    wrong_tries  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (claim_id)
);
CREATE INDEX hq_claims_site ON hq_claims (brand_id, site_id);

-- Certificates HQ issued, by fingerprint: what names a site on every call.
CREATE TABLE hq_certs (
    fingerprint  TEXT   NOT NULL,
    brand_id     TEXT   NOT NULL,
    site_id      TEXT   NOT NULL,
    issued_at    BIGINT NOT NULL,
    revoked_at   BIGINT,
    PRIMARY KEY (fingerprint)
);
CREATE INDEX hq_certs_site ON hq_certs (brand_id, site_id);

-- Marketing blocks published for a scope: every publish is a new version;
-- the newest of each (scope, block) is what sites get (a withdrawn block is
-- a version whose value is NULL).
CREATE TABLE hq_blocks (
    brand_id      TEXT   NOT NULL,
    scope_kind    TEXT   NOT NULL CHECK (scope_kind IN ('brand', 'region', 'site')),
    scope_id      TEXT   NOT NULL DEFAULT '',
    block         TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    value         TEXT,
    published_at  BIGINT NOT NULL,
    published_by  TEXT   NOT NULL,
    PRIMARY KEY (brand_id, scope_kind, scope_id, block, version)
);

-- Photos as uploaded, by the hash the sites name them by.
CREATE TABLE hq_photos (
    brand_id    TEXT   NOT NULL,
    photo_id    TEXT   NOT NULL,
    bytes       BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (brand_id, photo_id)
);

-- What each site last did with its bundle, and its last heartbeat.
CREATE TABLE hq_site_status (
    brand_id         TEXT   NOT NULL,
    site_id          TEXT   NOT NULL,
    applied          TEXT   NOT NULL DEFAULT '',
    applied_at       BIGINT,
    refused          TEXT   NOT NULL DEFAULT '',
    refused_why      TEXT   NOT NULL DEFAULT '',
    refused_at       BIGINT,
    heartbeat_at     BIGINT,
    software         TEXT   NOT NULL DEFAULT '',
    guests_online    BIGINT NOT NULL DEFAULT 0,
    aps_online       BIGINT NOT NULL DEFAULT 0,
    aps_total        BIGINT NOT NULL DEFAULT 0,
    backlog          BIGINT NOT NULL DEFAULT 0,
    lag_ms           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, site_id)
);

-- Heartbeats over time (a site's history page; pruned after 90 days).
CREATE TABLE hq_heartbeats (
    brand_id       TEXT   NOT NULL,
    site_id        TEXT   NOT NULL,
    at             BIGINT NOT NULL,
    bundle         TEXT   NOT NULL,
    guests_online  BIGINT NOT NULL,
    aps_online     BIGINT NOT NULL,
    aps_total      BIGINT NOT NULL,
    backlog        BIGINT NOT NULL,
    lag_ms         BIGINT NOT NULL,
    PRIMARY KEY (brand_id, site_id, at)
);

-- Refusals worth an admin's eye: a fact for another site, a revoked site's
-- call, a wrong claim.
CREATE TABLE hq_refusals (
    brand_id  TEXT   NOT NULL,
    site_id   TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    what      TEXT   NOT NULL,
    detail    TEXT   NOT NULL,
    address   TEXT   NOT NULL
);
CREATE INDEX hq_refusals_at ON hq_refusals (brand_id, at);
