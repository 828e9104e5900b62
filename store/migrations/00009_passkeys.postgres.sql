-- +goose Up
-- Passkeys (WebAuthn credentials). credential is the verifier's record of it
-- as JSON (public key, signature counter, flags); credential_id is the id the
-- authenticator presents, unique across users.
CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    credential    text NOT NULL,
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- How many passkeys each user has, kept with the user so a user view needs no count.
ALTER TABLE users ADD COLUMN passkey_count integer NOT NULL DEFAULT 0;

-- Ceremonies in progress: the challenge and what the verifier needs to finish
-- it, single use, for a few minutes, so any instance may finish it.
CREATE TABLE webauthn_challenges (
    id         uuid PRIMARY KEY,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    session    text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at);

-- +goose Down
DROP TABLE webauthn_challenges;
ALTER TABLE users DROP COLUMN passkey_count;
DROP TABLE passkeys;
