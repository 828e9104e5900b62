package store_test

import (
	"context"
	"testing"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestFoldedKeysMigration: users created before the folded keys existed get
// them on both databases, non-ASCII letters folded too (on SQLite by Go after
// the SQL migration, whose lower() folds ASCII only).
func TestFoldedKeysMigration(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := testdb.Open(t, dialect)
		m, err := st.Migrator()
		testdb.Must(t, err)
		for applied(t, m, 4) { // back to before the keys
			testdb.Must(t, m.Down(ctx))
		}
		db, err := st.SQL()
		testdb.Must(t, err)
		q := `INSERT INTO users (id, email, username, password_hash, status, created_at, updated_at)
			VALUES ('0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f', 'Émile@Example.com', 'Emile', 'x', 'active', '2026-01-02 03:04:05', '2026-01-02 03:04:05')`
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		testdb.Must(t, st.Migrate(ctx))
		u, err := st.UserRowByLogin(ctx, "émile@example.com")
		if err != nil || u.EmailKey != "émile@example.com" || u.UsernameKey != "emile" {
			t.Fatalf("after migrating: %+v, %v", u, err)
		}
	})
}

func applied(t *testing.T, m *store.Migrator, version int64) bool {
	list, err := m.Status(context.Background())
	testdb.Must(t, err)
	for _, s := range list {
		if s.Version == version {
			return s.Applied
		}
	}
	t.Fatalf("no migration %d", version)
	return false
}
