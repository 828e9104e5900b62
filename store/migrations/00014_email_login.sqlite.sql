-- +goose Up
-- Sign-in by email: a code and a link mailed together, for one address, both
-- as MACs; single use, dead after 5 wrong codes. user_id is null while the
-- address has no account yet (a sign-up by code).
CREATE TABLE email_codes (
    id         uuid PRIMARY KEY,
    email_key  text NOT NULL,
    email      text NOT NULL,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    code_hash  blob NOT NULL,
    token_hash blob NOT NULL UNIQUE,
    failures   integer NOT NULL DEFAULT 0,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    used_at    datetime
);
CREATE UNIQUE INDEX email_codes_email_key ON email_codes (email_key); -- one code per address: a newer one replaces it
CREATE INDEX email_codes_expires_idx ON email_codes (expires_at);

-- +goose Down
DROP TABLE email_codes;
