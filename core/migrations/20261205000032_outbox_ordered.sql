-- A fact's id is time-ordered from now on (UUIDv7), so the unique index on
-- it grows at one end, as `seq` does. An index on every fact's guest was
-- the other random-key insert a login paid while the member store is
-- unreachable and the outbox grows (100,000 facts and more): only a
-- waiting coupon is looked up by guest at login, so only coupons are
-- indexed. Erasing a member's waiting facts reads the outbox through.
DROP INDEX outbox_guest;
CREATE INDEX outbox_coupons ON outbox (guest) WHERE json_extract(body, '$.type') = 'coupon';
