-- +goose NO TRANSACTION
-- +goose Up
-- Substring search of users (GET /v1/users?q=, store.ListUsers) reads trigram
-- indexes instead of scanning users: one GIN index for each condition of its OR
-- (username_key, email_key, lower(first_name), lower(last_name)), each
-- expression exactly as the query writes it, so PostgreSQL combines them in a
-- BitmapOr. A query without three letters or digits in a row has no trigram
-- to look up: ListUsers bounds its scan instead.
--
-- pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+): a
-- role with CREATE on the database may create it. On a managed PostgreSQL whose
-- service role may not, have an administrator run CREATE EXTENSION pg_trgm in
-- the database before this migration.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- CONCURRENTLY (hence no transaction): on a large table the build takes a
-- while, and signups and logins go on meanwhile. A build that fails leaves an
-- invalid index behind; the migration then stays unapplied, and the next start
-- drops what it finds and builds again.
DROP INDEX CONCURRENTLY IF EXISTS users_username_key_trgm;
CREATE INDEX CONCURRENTLY users_username_key_trgm ON users USING gin (username_key gin_trgm_ops);
DROP INDEX CONCURRENTLY IF EXISTS users_email_key_trgm;
CREATE INDEX CONCURRENTLY users_email_key_trgm ON users USING gin (email_key gin_trgm_ops);
DROP INDEX CONCURRENTLY IF EXISTS users_first_name_trgm;
CREATE INDEX CONCURRENTLY users_first_name_trgm ON users USING gin (lower(first_name) gin_trgm_ops);
DROP INDEX CONCURRENTLY IF EXISTS users_last_name_trgm;
CREATE INDEX CONCURRENTLY users_last_name_trgm ON users USING gin (lower(last_name) gin_trgm_ops);

-- +goose Down
-- pg_trgm stays: other objects of the database may use it.
DROP INDEX CONCURRENTLY IF EXISTS users_last_name_trgm;
DROP INDEX CONCURRENTLY IF EXISTS users_first_name_trgm;
DROP INDEX CONCURRENTLY IF EXISTS users_email_key_trgm;
DROP INDEX CONCURRENTLY IF EXISTS users_username_key_trgm;
