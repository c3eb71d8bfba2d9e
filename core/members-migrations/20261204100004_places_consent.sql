-- A member's consent to their visits keeping the zones of the restaurant
-- they were seen in (whereabouts: sensitive personal information). Without
-- it a visit's `aps` stays empty and only the sites' aggregates count them.
ALTER TABLE members ADD COLUMN places_consent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN places_consent_at BIGINT;
