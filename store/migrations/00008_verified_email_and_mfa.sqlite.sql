-- +goose Up
-- Verified email: when the address was confirmed, and the address waiting for
-- confirmation. Accounts created before verification existed count as verified.
ALTER TABLE users ADD COLUMN email_verified_at datetime;
ALTER TABLE users ADD COLUMN pending_email text;
UPDATE users SET email_verified_at = created_at;

-- TOTP: the secret sealed with SECRET_KEY, on once confirmed; the last time
-- step accepted (a code is good once, on every instance); how many recovery
-- codes are left unused (kept with the user, so a user view needs no count).
ALTER TABLE users ADD COLUMN totp_secret_sealed blob;
ALTER TABLE users ADD COLUMN totp_enabled_at datetime;
ALTER TABLE users ADD COLUMN totp_last_step integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN recovery_codes_left integer NOT NULL DEFAULT 0;

-- How each session was authenticated (RFC 8176 values, space-separated);
-- every session so far began with a password.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';

-- Links mailed to confirm an address: the account's own (verify) or the one
-- it asked to change to (change). Only a MAC of the token is kept.
CREATE TABLE email_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash blob NOT NULL UNIQUE,
    purpose    text NOT NULL,
    email      text NOT NULL,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    used_at    datetime
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id);
CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);

-- Recovery codes, as MACs; each works once.
CREATE TABLE recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash blob NOT NULL,
    used_at   datetime,
    PRIMARY KEY (user_id, code_hash)
);

-- The second step of a login: a single-use token (as a MAC) that a correct
-- password earned, bound to the login's remember choice.
CREATE TABLE mfa_challenges (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash blob NOT NULL UNIQUE,
    remember   boolean NOT NULL DEFAULT false,
    failures   integer NOT NULL DEFAULT 0,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    used_at    datetime
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);

-- +goose Down
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE email_tokens;
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE users DROP COLUMN recovery_codes_left;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_enabled_at;
ALTER TABLE users DROP COLUMN totp_secret_sealed;
ALTER TABLE users DROP COLUMN pending_email;
ALTER TABLE users DROP COLUMN email_verified_at;
