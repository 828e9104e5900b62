-- +goose Up
-- Service clients (OAuth 2.0 client credentials), managed by admins. Their
-- permissions are space-separated, as a token's scope is.
CREATE TABLE clients (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    permissions  text NOT NULL DEFAULT '',
    disabled     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

-- A client's secrets, as MACs: one, or two while a rotation overlaps (the old
-- one has expires_at). The tokens issued with a secret carry its sid; a new
-- sid ends them all (the old one goes to the revocation feed).
CREATE TABLE client_secrets (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    sid         uuid NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz
);
CREATE INDEX client_secrets_client_idx ON client_secrets (client_id);
CREATE INDEX client_secrets_expires_idx ON client_secrets (expires_at) WHERE expires_at IS NOT NULL;

-- Personal access tokens: a user's scoped, opaque tokens for scripts, as MACs.
CREATE TABLE personal_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    permissions  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX personal_tokens_user_idx ON personal_tokens (user_id);

-- +goose Down
DROP TABLE personal_tokens;
DROP TABLE client_secrets;
DROP TABLE clients;
