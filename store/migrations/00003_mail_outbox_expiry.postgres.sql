-- +goose Up
-- A mail whose link has expired is not worth sending: expires_at (NULL: never)
-- is when the worker stops trying, and given_up_at when it gave the mail up
-- unsent. Sent and given-up rows are deleted after a retention period.
ALTER TABLE mail_outbox ADD COLUMN expires_at timestamptz;
ALTER TABLE mail_outbox ADD COLUMN given_up_at timestamptz;
-- The queue, what claims and the backlog count read: neither sent nor given up.
DROP INDEX mail_outbox_due_idx;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND given_up_at IS NULL;
-- Queued mails whose last attempt failed, for the failing count.
CREATE INDEX mail_outbox_failing_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND given_up_at IS NULL AND attempts > 0;
-- Finished mails, for the clean-up.
CREATE INDEX mail_outbox_sent_idx ON mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_given_up_idx ON mail_outbox (given_up_at) WHERE given_up_at IS NOT NULL;

-- +goose Down
-- Without given_up_at a given-up mail would look queued again.
DELETE FROM mail_outbox WHERE given_up_at IS NOT NULL;
DROP INDEX mail_outbox_given_up_idx;
DROP INDEX mail_outbox_sent_idx;
DROP INDEX mail_outbox_failing_idx;
DROP INDEX mail_outbox_due_idx;
ALTER TABLE mail_outbox DROP COLUMN given_up_at;
ALTER TABLE mail_outbox DROP COLUMN expires_at;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
