-- +goose Up
-- The number of users, kept by triggers so that counting them (GET
-- /v1/users/count, store.CountUsers) reads one row instead of scanning users.
-- It is exact: a user's row and its count change commit together. One row is
-- enough: SQLite runs one writer at a time anyway. (PostgreSQL shards it.)
CREATE TABLE user_count (
    shard integer PRIMARY KEY CHECK (shard = 0),
    n     integer NOT NULL
);
INSERT INTO user_count (shard, n) SELECT 0, count(*) FROM users;

-- +goose StatementBegin
CREATE TRIGGER users_count_insert AFTER INSERT ON users
BEGIN
    UPDATE user_count SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_count_delete AFTER DELETE ON users
BEGIN
    UPDATE user_count SET n = n - 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER users_count_delete;
DROP TRIGGER users_count_insert;
DROP TABLE user_count;
