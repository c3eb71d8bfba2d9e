-- The HQ console's people: accounts with a role and a scope, a password
-- (argon2) and a TOTP second factor every account must enrol; their
-- sessions (the row is the session, so every replica sees a sign-out);
-- and the audit of every action taken at HQ.

-- A username is the chain's, not a brand's (typed alone at the login), so
-- this is a reference table under Citus, as hq_claims is.
CREATE TABLE hq_staff (
    username          TEXT   NOT NULL,
    brand_id          TEXT   NOT NULL,
    role              TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'marketer', 'analyst', 'compliance', 'site_manager')),
    scope_kind        TEXT   NOT NULL CHECK (scope_kind IN ('brand', 'region', 'site')),
    scope_id          TEXT   NOT NULL DEFAULT '',
    password_hash     TEXT   NOT NULL,
    -- Base32, set when enrolment starts; good only once totp_enrolled_at is.
    totp_secret       TEXT,
    totp_enrolled_at  BIGINT,
    -- The last 30-second step a code was taken in: a code works once.
    totp_last_step    BIGINT NOT NULL DEFAULT 0,
    -- Wrong passwords and codes since the last sign-in, counted in the row
    -- (every replica shares it; each try is reserved before it is checked).
    tries             BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    created_by        TEXT   NOT NULL,
    disabled_at       BIGINT,
    PRIMARY KEY (username)
);

-- Recovery codes, shown once at enrolment, kept as SHA-256 (each is 80
-- random bits: no dictionary to try), each good once.
CREATE TABLE hq_staff_recovery (
    username   TEXT   NOT NULL,
    code_hash  TEXT   NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (username, code_hash)
);

-- Sessions by the SHA-256 of the cookie's token. `password`: the password
-- was right, the second factor is still to come; `full`: signed in.
CREATE TABLE hq_staff_sessions (
    token_hash  TEXT   NOT NULL,
    username    TEXT   NOT NULL,
    stage       TEXT   NOT NULL CHECK (stage IN ('password', 'full')),
    csrf        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    address     TEXT   NOT NULL,
    PRIMARY KEY (token_hash)
);
CREATE INDEX hq_staff_sessions_user ON hq_staff_sessions (username);

-- Every HQ staff action: who (and as what, over which scope), what, on
-- what, before and after, from where.
CREATE TABLE hq_audit (
    brand_id  TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    role      TEXT   NOT NULL,
    scope     TEXT   NOT NULL,
    door      TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    target    TEXT   NOT NULL,
    before    TEXT   NOT NULL,
    after     TEXT   NOT NULL,
    address   TEXT   NOT NULL
);
CREATE INDEX hq_audit_at ON hq_audit (brand_id, at);
