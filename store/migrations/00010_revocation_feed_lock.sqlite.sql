-- +goose Up
-- Nothing on SQLite: its writers run one at a time, so the sequence is commit
-- order already. The PostgreSQL migration of this number makes it so there.
SELECT 1;

-- +goose Down
SELECT 1;
