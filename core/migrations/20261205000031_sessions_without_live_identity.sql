-- A login's insert pays for every index on sessions, and the ones keyed by
-- a random value (a MAC, an identity) cost the most: at 100,000 live
-- guests, inserting with this index ran at 10.4-10.7k rows/s and without
-- it at 15.4-16.7k. Its one reader, the count of a front-desk account's
-- live devices, is served by sessions_identity_started (identity first).
DROP INDEX IF EXISTS sessions_live_identity;
