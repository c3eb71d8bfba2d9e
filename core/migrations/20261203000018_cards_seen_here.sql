-- The card cache keeps only the cards seen at this site recently (a card is
-- put in when it logs in here, and refreshed from the store while it stays
-- recent), not a copy of every card of the brand: a stolen appliance gives
-- an offline guess at this site's regulars' PINs, not the whole chain's.
-- The earlier copies were the whole brand: they go.
DELETE FROM member_cards;
ALTER TABLE member_cards ADD COLUMN seen_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX member_cards_seen ON member_cards (seen_at);
