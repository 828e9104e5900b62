-- +goose Up
-- Emails and usernames are compared case-insensitively by a key folded in Go
-- (store.FoldKey), not by the database's lower(): SQLite's folds ASCII only,
-- so the two dialects disagreed on whether É@x and é@x are one address.
ALTER TABLE users ADD COLUMN email_key text;
ALTER TABLE users ADD COLUMN username_key text;
UPDATE users SET email_key = lower(email), username_key = lower(username);
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
ALTER TABLE users ALTER COLUMN username_key SET NOT NULL;
DROP INDEX users_email_key;
DROP INDEX users_username_key;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE UNIQUE INDEX users_username_key ON users (username_key);

-- +goose Down
DROP INDEX users_email_key;
DROP INDEX users_username_key;
ALTER TABLE users DROP COLUMN email_key;
ALTER TABLE users DROP COLUMN username_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
