-- Chain voucher batches: printed at HQ, good at every site of a scope,
-- checked at a site offline against the manifest HQ signed (its terms and
-- each card's argon2 key; the codes stay here). A revocation updates the
-- rows and signs the manifest again.
CREATE TABLE hq_voucher_batches (
    brand_id         TEXT   NOT NULL,
    batch_id         TEXT   NOT NULL,
    scope_kind       TEXT   NOT NULL,
    scope_id         TEXT   NOT NULL DEFAULT '',
    tag              TEXT   NOT NULL,
    salt             TEXT   NOT NULL,
    count            BIGINT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    devices          BIGINT NOT NULL,
    down_kbps        BIGINT NOT NULL DEFAULT 0,
    up_kbps          BIGINT NOT NULL DEFAULT 0,
    valid_until      BIGINT NOT NULL,
    offline_hours    BIGINT NOT NULL,
    note             TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    created_by       TEXT   NOT NULL,
    revoked_at       BIGINT,
    manifest         TEXT   NOT NULL,
    signature        TEXT   NOT NULL,
    -- The form's one-time token: a second tap of "make" finds the first batch.
    once             TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (brand_id, batch_id)
);
CREATE UNIQUE INDEX hq_voucher_batches_once ON hq_voucher_batches (brand_id, once) WHERE once <> '';

CREATE TABLE hq_vouchers (
    brand_id      TEXT   NOT NULL,
    batch_id      TEXT   NOT NULL,
    serial        BIGINT NOT NULL,
    code          TEXT   NOT NULL,
    card_key      TEXT   NOT NULL,
    revoked_at    BIGINT,
    -- Reconciled from the sites' login facts: the first use anywhere.
    first_used_at BIGINT,
    first_site    TEXT,
    PRIMARY KEY (brand_id, batch_id, serial),
    UNIQUE (brand_id, code)
);

-- The devices each card served, at which site first (device: a hash of the MAC).
CREATE TABLE hq_voucher_devices (
    brand_id TEXT   NOT NULL,
    code     TEXT   NOT NULL,
    device   TEXT   NOT NULL,
    site_id  TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (brand_id, code, device)
);
