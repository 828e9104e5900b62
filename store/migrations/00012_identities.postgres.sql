-- +goose Up
-- External identities (sign in with an OpenID Connect provider or GitHub):
-- one person at one provider, linked to one account.
CREATE TABLE identities (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text NOT NULL,
    subject      text NOT NULL,
    email        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);

-- The providers of a user's identities, kept with the user so a user view needs no query.
ALTER TABLE users ADD COLUMN identity_providers text NOT NULL DEFAULT '';

-- Flows in progress, from authorize to callback: single use, for minutes, so
-- any instance may finish one. Only a MAC of the state is kept.
CREATE TABLE provider_flows (
    id             uuid PRIMARY KEY,
    state_hash     bytea NOT NULL UNIQUE,
    provider       text NOT NULL,
    user_id        uuid REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX provider_flows_expires_idx ON provider_flows (expires_at);

-- The one-time codes callbacks give apps (as MACs), bound to the app's PKCE challenge.
CREATE TABLE provider_codes (
    id             uuid PRIMARY KEY,
    code_hash      bytea NOT NULL UNIQUE,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    identity_id    uuid NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    code_challenge text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX provider_codes_expires_idx ON provider_codes (expires_at);

-- Which provider opened a session (its factor_id is then the identity).
ALTER TABLE sessions ADD COLUMN idp text NOT NULL DEFAULT '';

-- A second login step remembers how the first authenticated the user.
ALTER TABLE mfa_challenges ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
ALTER TABLE mfa_challenges ADD COLUMN factor_id uuid;
ALTER TABLE mfa_challenges ADD COLUMN idp text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE mfa_challenges DROP COLUMN idp;
ALTER TABLE mfa_challenges DROP COLUMN factor_id;
ALTER TABLE mfa_challenges DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN idp;
DROP TABLE provider_codes;
DROP TABLE provider_flows;
ALTER TABLE users DROP COLUMN identity_providers;
DROP TABLE identities;
