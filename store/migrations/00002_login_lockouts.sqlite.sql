-- +goose Up
-- Failed-login counters of identifiers that name no account, so that they lock
-- exactly like an account does (users.failed_logins and friends): the answer
-- to a guess must not tell whether the account exists. Keyed by a MAC of the
-- normalised identifier, never the identifier itself.
CREATE TABLE login_lockouts (
    key_hash      blob PRIMARY KEY,
    failed_logins integer NOT NULL DEFAULT 0,
    lock_count    integer NOT NULL DEFAULT 0,
    locked_until  datetime,
    updated_at    datetime NOT NULL
);
CREATE INDEX login_lockouts_updated_idx ON login_lockouts (updated_at);

-- +goose Down
DROP TABLE login_lockouts;
