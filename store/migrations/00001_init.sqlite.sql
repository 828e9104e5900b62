-- +goose Up
CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    username      text NOT NULL,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    failed_logins integer NOT NULL DEFAULT 0,
    lock_count    integer NOT NULL DEFAULT 0,
    locked_until  datetime,
    last_login_at datetime,
    created_at    datetime NOT NULL,
    updated_at    datetime NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);

CREATE TABLE role_permissions (
    role_name  text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission text NOT NULL,
    PRIMARY KEY (role_name, permission)
);

CREATE TABLE user_roles (
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_name text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_name)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_name);

CREATE TABLE user_resources (
    user_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    resource text NOT NULL,
    PRIMARY KEY (user_id, resource)
);

CREATE TABLE sessions (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    datetime NOT NULL,
    last_used_at  datetime NOT NULL,
    expires_at    datetime NOT NULL,
    revoked_at    datetime,
    revoke_reason text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    remember      boolean NOT NULL DEFAULT false
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id               text PRIMARY KEY,
    session_id       text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash       blob NOT NULL UNIQUE,
    created_at       datetime NOT NULL,
    retired_at       datetime,
    successor_id     text,
    successor_sealed blob
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE revocations (
    seq        integer PRIMARY KEY AUTOINCREMENT,
    session_id text NOT NULL,
    expires_at datetime NOT NULL,
    created_at datetime NOT NULL
);
CREATE INDEX revocations_expires_idx ON revocations (expires_at);

CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    alg            text NOT NULL,
    state          text NOT NULL CHECK (state IN ('next', 'current', 'retiring', 'retired')),
    public_jwk     text NOT NULL,
    private_sealed blob NOT NULL,
    created_at     datetime NOT NULL,
    activated_at   datetime,
    retire_after   datetime
);
-- At most one key signs and at most one waits to sign.
CREATE UNIQUE INDEX signing_keys_current_key ON signing_keys (state) WHERE state IN ('current', 'next');

CREATE TABLE password_reset_tokens (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash blob NOT NULL UNIQUE,
    created_at datetime NOT NULL,
    expires_at datetime NOT NULL,
    used_at    datetime
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

CREATE TABLE audit_events (
    id         text PRIMARY KEY,
    type       text NOT NULL,
    actor_id   text,
    user_id    text,
    ip         text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    details    text NOT NULL DEFAULT '{}',
    created_at datetime NOT NULL
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_type_idx ON audit_events (type, id);

CREATE TABLE mail_outbox (
    id              text PRIMARY KEY,
    payload_sealed  blob NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at datetime NOT NULL,
    claimed_until   datetime,
    sent_at         datetime,
    last_error      text NOT NULL DEFAULT '',
    created_at      datetime NOT NULL
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE audit_events;
DROP TABLE password_reset_tokens;
DROP TABLE signing_keys;
DROP TABLE revocations;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE user_resources;
DROP TABLE user_roles;
DROP TABLE role_permissions;
DROP TABLE roles;
DROP TABLE users;
