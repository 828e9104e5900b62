-- +goose Up
-- The revocation feed must never skip an entry, and a sequence value is not
-- commit order: a transaction that took seq 10 may commit after one that took
-- seq 11. Each row records the transaction that wrote it; the feed hands out
-- only rows of transactions older than every one still running
-- (pg_snapshot_xmin), in (txid, seq) order, so nothing can later appear
-- behind a cursor it gave.
ALTER TABLE revocations ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX revocations_feed_idx ON revocations (txid, seq);

-- +goose Down
DROP INDEX revocations_feed_idx;
ALTER TABLE revocations DROP COLUMN txid;
