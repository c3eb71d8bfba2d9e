-- Chain voucher batches from headquarters' bundles (manifests checked
-- against HQ's ticket key): their cards are rows of `vouchers` named
-- `hq:<batch>:<key>` (the code's argon2 key; the codes stay at HQ), and
-- their devices rows of `voucher_devices` named by a hash of brand and MAC.
CREATE TABLE chain_voucher_batches (
    batch         TEXT PRIMARY KEY,
    brand         TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    salt          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    offline_hours INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    signed_at     INTEGER NOT NULL,
    signature     TEXT    NOT NULL
);
CREATE INDEX chain_voucher_batches_tag ON chain_voucher_batches (tag);

-- When the link to headquarters last worked (a chain card is refused after
-- its batch's offline bound without it).
CREATE TABLE hq_heard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
