package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// TestGuardLastAdminInterleaved holds one demotion open after its check and
// starts another: the second must wait for the first and then be refused. On
// PostgreSQL the test sees the second transaction wait on a lock; without the
// lock both would pass their checks and commit, leaving no admin.
func TestGuardLastAdminInterleaved(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		a := addUser(t, st, "a", []string{"admin"}, nil)
		b := addUser(t, st, "b", []string{"admin"}, nil)
		demote := func(id uuid.UUID, checked chan<- struct{}, release <-chan struct{}) error {
			return st.InTx(ctx, func(tx *store.Store) error {
				err := tx.GuardLastAdmin(ctx, func() error { return tx.SetRoles(ctx, id, []string{models.RoleUser}) })
				if checked != nil {
					close(checked)
					<-release // hold the transaction open after the check
				}
				return err
			})
		}
		checked, release := make(chan struct{}), make(chan struct{})
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { first <- demote(a.ID, checked, release) }()
		<-checked
		go func() { second <- demote(b.ID, nil, nil) }()
		if d == store.Postgres {
			waitForLockWait(t, st, second)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatalf("first demotion: %v", err)
		}
		if err := <-second; !errors.Is(err, store.ErrLastAdmin) {
			t.Fatalf("second demotion: %v, want ErrLastAdmin", err)
		}
		n, err := st.CountActiveAdmins(ctx)
		testdb.Must(t, err)
		if n != 1 {
			t.Fatalf("%d active admins", n)
		}
	})
}

// waitForLockWait returns once a PostgreSQL backend of this database waits on
// a lock, and fails the test if the transaction watched by done ends first.
func waitForLockWait(t *testing.T, st *store.Store, done chan error) {
	t.Helper()
	db, err := st.SQL()
	testdb.Must(t, err)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting int
		testdb.Must(t, db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the second transaction did not wait for the first (it returned %v)", err)
		case <-tick.C:
		}
	}
}
