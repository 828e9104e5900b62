-- +goose Up
-- Wrong codes typed while confirming a TOTP enrolment: the enrolment ends
-- after a few, so its secret cannot be brute-forced behind a stolen token.
ALTER TABLE users ADD COLUMN totp_enrol_failures integer NOT NULL DEFAULT 0;

-- The passkey (later: the linked identity) a session was opened with, so that
-- removing it ends the sessions it opened. NULL for every other login.
-- (uuid on SQLite too, as in passkeys: a uuid's text never reads as a number,
-- so it is stored and compared as text.)
ALTER TABLE sessions ADD COLUMN factor_id uuid;

-- +goose Down
ALTER TABLE sessions DROP COLUMN factor_id;
ALTER TABLE users DROP COLUMN totp_enrol_failures;
