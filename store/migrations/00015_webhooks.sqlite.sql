-- +goose Up
-- Webhook endpoints, managed by admins. The signing secret is sealed with
-- SECRET_KEY (it must be used, so it cannot be kept as a MAC). events is
-- space-separated; "*" subscribes to all.
CREATE TABLE webhooks (
    id            uuid PRIMARY KEY,
    url           text NOT NULL,
    events        text NOT NULL,
    description   text NOT NULL DEFAULT '',
    secret_sealed blob NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    datetime NOT NULL,
    updated_at    datetime NOT NULL
);

-- The outbox of events: one row per event and subscribed endpoint, written
-- in the transaction of the change; delivered at least once by any instance.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    payload          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  datetime NOT NULL,
    claimed_until    datetime,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    created_at       datetime NOT NULL,
    delivered_at     datetime
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
