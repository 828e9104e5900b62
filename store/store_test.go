package store_test

import (
	"fmt"
	"strings"
	"time"

	"context"
	"github.com/authsvc/authsvc/models"
	"github.com/google/uuid"
	"testing"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

func TestMigrateUpDownUp(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		m, err := st.Migrator()
		testdb.Must(t, err)
		status, err := m.Status(ctx)
		testdb.Must(t, err)
		if len(status) == 0 || !status[len(status)-1].Applied {
			t.Fatalf("after Migrate, status = %+v; want all applied", status)
		}
		for range status {
			testdb.Must(t, m.Down(ctx))
		}
		status, err = m.Status(ctx)
		testdb.Must(t, err)
		for _, s := range status {
			if s.Applied {
				t.Fatalf("after rolling back everything, %s still applied", s.Name)
			}
		}
		testdb.Must(t, m.Up(ctx))
	})
}

func TestDialect(t *testing.T) {
	cases := map[string]string{
		"sqlite://authsvc.db":                 store.SQLite,
		"sqlite:///var/lib/authsvc/a.db":      store.SQLite,
		"postgres://u:p@localhost:5432/db":    store.Postgres,
		"postgresql://localhost/db?sslmode=x": store.Postgres,
		"mysql://localhost/db":                "",
		"sqlite://":                           "",
		"postgres://":                         "",
		"::::":                                "",
	}
	for in, want := range cases {
		got, err := store.Dialect(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("Dialect(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	cases := map[string]string{
		"sqlite://authsvc.db":              "authsvc.db",
		"sqlite://data/authsvc.db":         "data/authsvc.db",
		"sqlite:///var/lib/authsvc/a.db":   "/var/lib/authsvc/a.db",
		"sqlite://authsvc.db?cache=shared": "authsvc.db",
		"postgres://u:p@localhost:5432/db": "",
		"sqlite://":                        "",
		"::::":                             "",
	}
	for in, want := range cases {
		if got := store.SQLitePath(in); got != want {
			t.Errorf("SQLitePath(%q) = %q; want %q", in, got, want)
		}
	}
}

// A DATABASE_URL that does not parse must not be quoted back: it may hold a password.
func TestDialectErrorHidesPassword(t *testing.T) {
	for _, in := range []string{"postgres://user:s3cr3t@db:port/x", "postgres://user:s3cr3t@db host/x", "mysql://user:s3cr3t@db/x"} {
		_, err := store.Dialect(in)
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Dialect(%q): %v", in, err)
		}
	}
}

// TestConcurrentReadThenWriteTransactions: transactions that read and then write
// must queue, not fail with "database is locked" (SQLite) or lose updates.
func TestConcurrentReadThenWriteTransactions(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := time.Now().UTC()
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, now))
		const n = 30
		errs := make(chan error, n)
		for i := range n {
			go func() {
				errs <- st.InTx(ctx, func(tx *store.Store) error {
					// Read, then write on the same rows: a deferred SQLite transaction
					// would fail to upgrade its lock here.
					if _, err := tx.CountActiveAdmins(ctx); err != nil {
						return err
					}
					if err := tx.LockAdmins(ctx); err != nil {
						return err
					}
					u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: fmt.Sprintf("u%d@example.com", i),
						Username: fmt.Sprintf("u%d", i), PasswordHash: "x", Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}
					return tx.CreateUser(ctx, u, []string{models.RoleUser}, nil)
				})
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent transaction failed: %v", err)
			}
		}
		count, err := st.CountUsers(ctx)
		testdb.Must(t, err)
		if count != n {
			t.Fatalf("%d users, want %d", count, n)
		}
	})
}
