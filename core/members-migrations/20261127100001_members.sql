-- The shared member store: one schema for SQLite (one restaurant) and
-- PostgreSQL (a chain). Only types both engines read alike: TEXT, BIGINT
-- (UTC milliseconds, cents, 0/1 flags). Every table carries brand_id first
-- in its primary key: the distribution column if a chain spreads the store
-- over Citus workers (brands and tiers would be reference tables there).

CREATE TABLE brands (
    brand_id    TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (brand_id)
);

CREATE TABLE regions (
    brand_id   TEXT NOT NULL,
    region_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (brand_id, region_id)
);

-- Each appliance registers its site at start.
CREATE TABLE sites (
    brand_id       TEXT   NOT NULL,
    site_id        TEXT   NOT NULL,
    region_id      TEXT   NOT NULL DEFAULT '',
    name           TEXT   NOT NULL,
    registered_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    PRIMARY KEY (brand_id, site_id)
);

-- Member tiers and what each is worth on the Wi-Fi (0: the site's default).
CREATE TABLE tiers (
    brand_id         TEXT   NOT NULL,
    tier             TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    session_minutes  BIGINT NOT NULL DEFAULT 0,
    down_kbps        BIGINT NOT NULL DEFAULT 0,
    up_kbps          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, tier)
);

-- Members: the phone is kept in full here and nowhere else.
CREATE TABLE members (
    brand_id         TEXT   NOT NULL,
    member_id        TEXT   NOT NULL,
    phone            TEXT,
    openid           TEXT,
    name             TEXT   NOT NULL DEFAULT '',
    tier             TEXT   NOT NULL DEFAULT '',
    consent          BIGINT NOT NULL DEFAULT 0,
    consent_version  TEXT   NOT NULL DEFAULT '',
    consent_at       BIGINT,
    first_seen_at    BIGINT,
    last_seen_at     BIGINT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (brand_id, member_id),
    UNIQUE (brand_id, phone),
    UNIQUE (brand_id, openid)
);

-- Member cards: the PIN as an argon2id hash; active, frozen or lost.
CREATE TABLE cards (
    brand_id    TEXT   NOT NULL,
    card_no     TEXT   NOT NULL,
    member_id   TEXT   NOT NULL,
    pin_hash    TEXT,
    state       TEXT   NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'frozen', 'lost')),
    tier        TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (brand_id, card_no)
);
CREATE INDEX cards_member ON cards (brand_id, member_id);

-- Stored value and points, as the card system keeps them (we read).
CREATE TABLE balances (
    brand_id            TEXT   NOT NULL,
    member_id           TEXT   NOT NULL,
    stored_value_cents  BIGINT NOT NULL DEFAULT 0,
    points              BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (brand_id, member_id)
);

-- Coupons: the card system's, and the Wi-Fi's (rule set: one a member a rule).
CREATE TABLE coupons (
    brand_id     TEXT   NOT NULL,
    coupon_id    TEXT   NOT NULL,
    member_id    TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    value_cents  BIGINT NOT NULL DEFAULT 0,
    rule         TEXT,
    site_id      TEXT   NOT NULL DEFAULT '',
    issued_at    BIGINT NOT NULL,
    valid_until  BIGINT NOT NULL,
    redeemed_at  BIGINT,
    PRIMARY KEY (brand_id, coupon_id),
    UNIQUE (brand_id, member_id, rule)
);

-- Every way a guest was known (phone, wechat, card, voucher, account,
-- device...), linked to a member when one is known.
CREATE TABLE identities (
    brand_id       TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    value          TEXT   NOT NULL,
    member_id      TEXT,
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    last_site_id   TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (brand_id, kind, value)
);
CREATE INDEX identities_member ON identities (brand_id, member_id);

-- Visits: one a session, from login to its end.
CREATE TABLE visits (
    brand_id        TEXT   NOT NULL,
    visit_id        TEXT   NOT NULL,
    site_id         TEXT   NOT NULL,
    identity_kind   TEXT   NOT NULL,
    identity_value  TEXT   NOT NULL,
    mac             TEXT   NOT NULL,
    method          TEXT   NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    end_reason      TEXT   NOT NULL DEFAULT '',
    bytes_up        BIGINT NOT NULL DEFAULT 0,
    aps             TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (brand_id, visit_id)
);
CREATE INDEX visits_identity ON visits (brand_id, identity_kind, identity_value);

-- Events: logins, refusals, portal views, ad impressions and clicks,
-- consents, coupons. event_id is the outbox row's UUID: a batch delivered
-- twice lands once.
CREATE TABLE events (
    brand_id        TEXT   NOT NULL,
    event_id        TEXT   NOT NULL,
    site_id         TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    identity_kind   TEXT   NOT NULL DEFAULT '',
    identity_value  TEXT   NOT NULL DEFAULT '',
    mac             TEXT   NOT NULL DEFAULT '',
    at              BIGINT NOT NULL,
    landed_at       BIGINT NOT NULL,
    detail          TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (brand_id, event_id)
);
CREATE INDEX events_identity ON events (brand_id, identity_kind, identity_value);
CREATE INDEX events_at ON events (brand_id, at);
