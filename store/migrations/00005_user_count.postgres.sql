-- +goose Up
-- The number of users, kept by triggers so that counting them (GET
-- /v1/users/count, store.CountUsers) reads 16 rows instead of scanning users.
-- It is exact: a user's row and its count change commit together.
--
-- Sharded: a single row would be a hot spot, every signup holding its lock from
-- its INSERT until its commit, so concurrent signups would queue on it. Each
-- statement adds to the shard of its connection (backend pid mod 16): sessions
-- on different connections mostly touch different rows, and one transaction
-- only ever locks the one row of its connection, so the counter cannot
-- deadlock. A shard may go negative (deleted elsewhere than created); the sum
-- is the count.
CREATE TABLE user_count (
    shard integer PRIMARY KEY CHECK (shard >= 0 AND shard < 16),
    n     bigint NOT NULL
);

-- Statement-level triggers with transition tables: one counter update per
-- statement, so a COPY of a million users or DELETE FROM users (store.DeleteAllUsers)
-- updates one row once, not once per user.
-- +goose StatementBegin
CREATE FUNCTION user_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO k FROM user_count_new;
    ELSE
        SELECT -count(*) INTO k FROM user_count_old;
    END IF;
    IF k <> 0 THEN
        UPDATE user_count SET n = n + k WHERE shard = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION user_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_count SET n = 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- No write to users between the count below and the triggers taking over
-- (instances of the previous version may be running): this lock waits for
-- the writes in flight and holds off new ones until the migration commits.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;
CREATE TRIGGER users_count_insert AFTER INSERT ON users REFERENCING NEW TABLE AS user_count_new
    FOR EACH STATEMENT EXECUTE FUNCTION user_count_add();
CREATE TRIGGER users_count_delete AFTER DELETE ON users REFERENCING OLD TABLE AS user_count_old
    FOR EACH STATEMENT EXECUTE FUNCTION user_count_add();
CREATE TRIGGER users_count_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION user_count_truncated();
INSERT INTO user_count (shard, n) SELECT s, 0 FROM generate_series(0, 15) AS s;
UPDATE user_count SET n = (SELECT count(*) FROM users) WHERE shard = 0;

-- +goose Down
DROP TRIGGER users_count_truncate ON users;
DROP TRIGGER users_count_delete ON users;
DROP TRIGGER users_count_insert ON users;
DROP FUNCTION user_count_truncated();
DROP FUNCTION user_count_add();
DROP TABLE user_count;
