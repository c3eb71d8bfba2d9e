-- The cards whose PIN HQ found right for a site: the only cards whose PIN
-- hashes that site's offline copy may hold (refreshed while recent).
CREATE TABLE hq_cards_seen (
    brand_id  TEXT   NOT NULL,
    site_id   TEXT   NOT NULL,
    card_no   TEXT   NOT NULL,
    seen_at   BIGINT NOT NULL,
    PRIMARY KEY (brand_id, site_id, card_no)
);
