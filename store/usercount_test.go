package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// checkUserCount fails unless CountUsers (the counter) and count(*) both say want.
func checkUserCount(t *testing.T, st *store.Store, step string, want int64) {
	t.Helper()
	n, err := st.CountUsers(context.Background())
	testdb.Must(t, err)
	db, err := st.SQL()
	testdb.Must(t, err)
	var rows int64
	testdb.Must(t, db.QueryRow("SELECT count(*) FROM users").Scan(&rows))
	if n != want || rows != want {
		t.Fatalf("%s: CountUsers = %d, count(*) = %d; want %d", step, n, rows, want)
	}
}

// TestUserCountIsExact: the counter CountUsers reads stays equal to the number
// of rows through every way users come and go, and on PostgreSQL through
// concurrent signups and deletions on many connections (many shards).
func TestUserCountIsExact(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		checkUserCount(t, st, "empty", 0)
		var users []*models.User
		for i := range 5 {
			users = append(users, addUser(t, st, fmt.Sprintf("count%d", i), []string{models.RoleUser}, nil))
		}
		checkUserCount(t, st, "5 created", 5)
		testdb.Must(t, st.DeleteUser(ctx, users[0].ID))
		checkUserCount(t, st, "1 deleted", 4)
		if err := st.DeleteUser(ctx, users[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting a deleted user: %v", err)
		}
		checkUserCount(t, st, "nothing deleted", 4)
		dup := &models.User{ID: uuid.Must(uuid.NewV7()), Email: "other@example.com", Username: "count1",
			PasswordHash: "x", Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
		if err := st.CreateUser(ctx, dup, nil, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a taken username: %v", err)
		}
		checkUserCount(t, st, "a refused insert", 4)
		rollback := errors.New("roll back")
		err := st.InTx(ctx, func(tx *store.Store) error {
			u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: "gone@example.com", Username: "gone",
				PasswordHash: "x", Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
			testdb.Must(t, tx.CreateUser(ctx, u, nil, nil))
			testdb.Must(t, tx.DeleteUser(ctx, users[1].ID))
			testdb.Must(t, tx.DeleteUser(ctx, users[2].ID))
			if n, err := tx.CountUsers(ctx); err != nil || n != 3 {
				t.Errorf("inside the transaction: %d, %v; want 3", n, err)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		checkUserCount(t, st, "a rolled-back transaction", 4)
		db, err := st.SQL()
		testdb.Must(t, err)
		_, err = db.Exec(`INSERT INTO users (id, email, username, password_hash, status, created_at, updated_at, email_key, username_key)
			VALUES ('` + uuid.Must(uuid.NewV7()).String() + `', 'raw@example.com', 'raw', 'x', 'active', '2026-01-02 15:04:05', '2026-01-02 15:04:05', 'raw@example.com', 'raw')`)
		testdb.Must(t, err)
		checkUserCount(t, st, "an insert in SQL", 5)
		deleted, err := st.DeleteAllUsers(ctx)
		testdb.Must(t, err)
		if deleted != 5 {
			t.Fatalf("DeleteAllUsers deleted %d", deleted)
		}
		checkUserCount(t, st, "all deleted", 0)
		if d != store.Postgres {
			return
		}

		// Concurrent signups and deletions, on as many connections as the pool gives.
		const workers, each = 8, 25
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: fmt.Sprintf("c%d-%d@example.com", w, i), Username: fmt.Sprintf("c%d-%d", w, i),
						PasswordHash: "x", Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
					if err := st.CreateUser(ctx, u, []string{models.RoleUser}, nil); err != nil {
						t.Error(err)
						return
					}
					if i%5 == 0 {
						if err := st.DeleteUser(ctx, u.ID); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		checkUserCount(t, st, "concurrent signups and deletions", workers*each*4/5)
		var shards int
		testdb.Must(t, db.QueryRow("SELECT count(*) FROM user_count WHERE n <> 0").Scan(&shards))
		t.Logf("%d shards of the counter in use", shards)
		_, err = db.Exec("TRUNCATE users CASCADE")
		testdb.Must(t, err)
		checkUserCount(t, st, "truncated", 0)
	})
}

// TestUserCountMigration: the migration that adds the counter starts it at the
// number of users already there.
func TestUserCountMigration(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		for i := range 3 {
			addUser(t, st, fmt.Sprintf("before%d", i), []string{models.RoleUser}, nil)
		}
		m := migrateBelow(t, st, 5)
		for i := range 2 { // as the schema of version 4 holds them
			name := fmt.Sprintf("between%d", i)
			u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: name + "@example.com", Username: name,
				EmailKey: name + "@example.com", UsernameKey: name, PasswordHash: "x", Status: models.StatusActive,
				CreatedAt: t0(), UpdatedAt: t0()}
			testdb.Must(t, st.GORM().Omit(newerUserColumns...).Create(u).Error)
		}
		testdb.Must(t, m.Up(ctx))
		checkUserCount(t, st, "after the migration", 5)
		addUser(t, st, "after", nil, nil)
		checkUserCount(t, st, "one more", 6)
	})
}

// newerUserColumns are the users columns that migrations after 00005 added.
var newerUserColumns = []string{"email_verified_at", "pending_email", "totp_secret_sealed", "totp_enabled_at",
	"totp_last_step", "recovery_codes_left", "passkey_count", "totp_enrol_failures", "identity_providers"}

// migrateBelow migrates st down until the newest migration applied is older
// than version, and returns the migrator to go up again.
func migrateBelow(t *testing.T, st *store.Store, version int64) *store.Migrator {
	t.Helper()
	ctx := context.Background()
	m, err := st.Migrator()
	testdb.Must(t, err)
	for {
		status, err := m.Status(ctx)
		testdb.Must(t, err)
		applied := int64(0)
		for _, s := range status {
			if s.Applied {
				applied = max(applied, s.Version)
			}
		}
		if applied < version {
			return m
		}
		testdb.Must(t, m.Down(ctx))
	}
}
