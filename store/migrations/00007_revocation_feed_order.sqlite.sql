-- +goose Up
-- Nothing on SQLite: its writers run one at a time, so the sequence is commit
-- order already. The PostgreSQL migration of this number records each
-- revocation's transaction for the feed's ordering.
SELECT 1;

-- +goose Down
SELECT 1;
