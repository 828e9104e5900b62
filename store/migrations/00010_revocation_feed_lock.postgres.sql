-- +goose Up
-- The revocation feed must never skip an entry, and a sequence value is not
-- commit order. Migration 00007 listed only transactions older than every
-- running one (pg_snapshot_xmin), but that horizon is the whole server's: a
-- transaction in any other database held the feed back. Instead every insert
-- takes its sequence number under a shared advisory lock (this database's
-- only) held to the end of its transaction, and the feed reads under the
-- exclusive lock: it waits for the inserts in flight, and no insert can take
-- a number until it has read. So seq order is commit order as the feed sees it.
-- +goose StatementBegin
CREATE FUNCTION revocations_take_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1717929316); -- store.feedLockKey
    NEW.seq := nextval(pg_get_serial_sequence('revocations', 'seq'));
    RETURN NEW;
END
$$;
-- +goose StatementEnd
ALTER TABLE revocations ALTER COLUMN seq DROP DEFAULT;
CREATE TRIGGER revocations_take_seq BEFORE INSERT ON revocations
    FOR EACH ROW EXECUTE FUNCTION revocations_take_seq();
DROP INDEX revocations_feed_idx;
ALTER TABLE revocations DROP COLUMN txid;

-- +goose Down
ALTER TABLE revocations ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX revocations_feed_idx ON revocations (txid, seq);
DROP TRIGGER revocations_take_seq ON revocations;
DROP FUNCTION revocations_take_seq();
ALTER TABLE revocations ALTER COLUMN seq SET DEFAULT nextval(pg_get_serial_sequence('revocations', 'seq'));
