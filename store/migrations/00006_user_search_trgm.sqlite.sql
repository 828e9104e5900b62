-- +goose Up
-- Nothing on SQLite: the PostgreSQL migration of this number adds trigram
-- indexes for the substring search of users. SQLite has none; there
-- store.ListUsers bounds the scan of a search instead (a window of ids per
-- page). The file keeps both dialects' migration numbers in step.
SELECT 1;

-- +goose Down
SELECT 1;
