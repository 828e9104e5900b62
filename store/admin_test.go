package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// t0 is the tests' fixed "now".
func t0() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }

func addUser(t *testing.T, st *store.Store, username string, roles []string, mod func(*models.User)) *models.User {
	t.Helper()
	u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: username + "@example.com", Username: username,
		PasswordHash: "x", Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
	if mod != nil {
		mod(u)
	}
	testdb.Must(t, st.CreateUser(context.Background(), u, roles, nil))
	return u
}

func usernames(list []*store.Account) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Username
	}
	return out
}

func TestListUsersStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		testdb.Must(t, st.CreateRole(ctx, &models.Role{Name: "master", CreatedAt: t0(), UpdatedAt: t0()}, []string{"users:write", "users:read"}))
		addUser(t, st, "alice", []string{"admin", "user"}, func(u *models.User) { u.FirstName = "Ålice" })
		addUser(t, st, "bob_b", []string{"master"}, func(u *models.User) { u.LastName = "50% Off" })
		addUser(t, st, "carol", []string{"user"}, func(u *models.User) { u.Status = models.StatusPending })
		until := t0().Add(time.Minute)
		addUser(t, st, "dave", []string{"user"}, func(u *models.User) { u.LockedUntil = &until })
		past := t0().Add(-time.Minute)
		addUser(t, st, "erin", nil, func(u *models.User) { u.LockedUntil = &past; u.Email = "Erin@Example.com" })
		addUser(t, st, "frank", []string{"user"}, func(u *models.User) { u.Status = models.StatusDisabled })

		cases := []struct {
			f    store.UserFilter
			want []string
		}{
			{store.UserFilter{}, []string{"alice", "bob_b", "carol", "dave", "erin", "frank"}},
			{store.UserFilter{Query: "ERIN@"}, []string{"erin"}},
			{store.UserFilter{Query: "Åli"}, []string{"alice"}},
			{store.UserFilter{Query: "_"}, []string{"bob_b"}},
			{store.UserFilter{Query: "0%"}, []string{"bob_b"}},
			{store.UserFilter{Query: `\`}, []string{}},
			{store.UserFilter{Query: "example.com"}, []string{"alice", "bob_b", "carol", "dave", "erin", "frank"}},
			{store.UserFilter{Query: "example.com", Directory: true}, []string{}},
			{store.UserFilter{Directory: true}, []string{"alice", "bob_b", "dave", "erin"}},
			{store.UserFilter{Role: "user"}, []string{"alice", "carol", "dave", "frank"}},
			{store.UserFilter{Role: "master"}, []string{"bob_b"}},
			{store.UserFilter{Status: models.StatusActive}, []string{"alice", "bob_b", "erin"}},
			{store.UserFilter{Status: models.StatusLocked}, []string{"dave"}},
			{store.UserFilter{Status: models.StatusPending}, []string{"carol"}},
			{store.UserFilter{Status: models.StatusDisabled}, []string{"frank"}},
			{store.UserFilter{Status: models.StatusActive, Role: "user"}, []string{"alice"}},
		}
		for _, tc := range cases {
			tc.f.Now, tc.f.Limit = t0(), 100
			got, err := st.ListUsers(ctx, tc.f)
			testdb.Must(t, err)
			if !slices.Equal(usernames(got), tc.want) {
				t.Errorf("%+v: %v, want %v", tc.f, usernames(got), tc.want)
			}
		}

		// Pages by id, with the grants of each user.
		first, err := st.ListUsers(ctx, store.UserFilter{Now: t0(), Limit: 2})
		testdb.Must(t, err)
		rest, err := st.ListUsers(ctx, store.UserFilter{Now: t0(), Limit: 100, After: first[1].ID})
		testdb.Must(t, err)
		if got := append(usernames(first), usernames(rest)...); !slices.Equal(got, cases[0].want) {
			t.Fatalf("pages = %v", got)
		}
		if !slices.Equal(first[0].Roles, []string{"admin", "user"}) || len(first[0].Permissions) != len(models.Permissions) ||
			!slices.Equal(first[1].Permissions, []string{"users:read", "users:write"}) || rest[2].Roles == nil || len(rest[2].Roles) != 0 {
			t.Fatalf("grants: %+v / %+v / %+v", first[0], first[1], rest[2])
		}
	})
}

func TestRolesStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		testdb.Must(t, st.CreateRole(ctx, &models.Role{Name: "master", CreatedAt: t0(), UpdatedAt: t0()}, []string{"users:write", "users:read"}))
		err := st.CreateRole(ctx, &models.Role{Name: "master", CreatedAt: t0(), UpdatedAt: t0()}, nil)
		var conflict *store.ConflictError
		if !errors.As(err, &conflict) || conflict.Field != "name" {
			t.Fatalf("duplicate role: %v", err)
		}
		u := addUser(t, st, "mia", []string{"master", "user"}, nil)
		desc := "Reads."
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			return tx.UpdateRole(ctx, "master", t0(), &desc, []string{"users:read"})
		}))
		roles, err := st.Roles(ctx)
		testdb.Must(t, err)
		if len(roles) != 3 || roles[1].Name != "master" || roles[1].Description != "Reads." || !slices.Equal(roles[1].Permissions, []string{"users:read"}) ||
			roles[2].Permissions == nil || len(roles[2].Permissions) != 0 {
			t.Fatalf("roles = %+v", roles)
		}
		unknown, err := st.UnknownRoles(ctx, []string{"user", "wizard", "master", "elf"})
		testdb.Must(t, err)
		if !slices.Equal(unknown, []string{"wizard", "elf"}) {
			t.Fatalf("unknown = %v", unknown)
		}
		perms, err := st.PermissionsOf(ctx, []string{"master", "admin"})
		testdb.Must(t, err)
		if len(perms) != len(models.Permissions) {
			t.Fatalf("permissions of master+admin = %v", perms)
		}
		holders, err := st.RoleHolders(ctx, "master")
		testdb.Must(t, err)
		if !slices.Equal(holders, []uuid.UUID{u.ID}) {
			t.Fatalf("holders = %v", holders)
		}
		testdb.Must(t, st.DeleteRole(ctx, "master"))
		if err := st.DeleteRole(ctx, "master"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		acct, err := st.UserByID(ctx, u.ID)
		testdb.Must(t, err)
		if !slices.Equal(acct.Roles, []string{"user"}) {
			t.Fatalf("roles after the role's deletion: %v", acct.Roles)
		}
		if _, err := st.LockRole(ctx, "master"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LockRole of a deleted role: %v", err)
		}
	})
}

func TestListAuditStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		a, b := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
		var ids []uuid.UUID
		for i := range 10 {
			user, typ := a, audit.LoginFailed
			if i%2 == 1 {
				user, typ = b, audit.LoginSucceeded
			}
			ev := audit.Event(typ, t0(), uuid.Nil, user, audit.Client{IP: "192.0.2.1"}, audit.Details{"i": i})
			testdb.Must(t, st.AddAudit(ctx, ev))
			ids = append(ids, ev.ID)
		}
		slices.Reverse(ids) // newest first
		all, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100})
		testdb.Must(t, err)
		page1, err := st.ListAudit(ctx, store.AuditFilter{Limit: 4})
		testdb.Must(t, err)
		page2, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, Before: page1[3].ID})
		testdb.Must(t, err)
		got := func(list []models.AuditEvent) []uuid.UUID {
			out := []uuid.UUID{}
			for _, e := range list {
				out = append(out, e.ID)
			}
			return out
		}
		if !slices.Equal(got(all), ids) || !slices.Equal(append(got(page1), got(page2)...), ids) {
			t.Fatalf("order: %v / %v+%v, want %v", got(all), got(page1), got(page2), ids)
		}
		onlyB, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, UserID: b, Type: audit.LoginSucceeded})
		testdb.Must(t, err)
		onlyBFailed, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, UserID: b, Type: audit.LoginFailed})
		testdb.Must(t, err)
		if len(onlyB) != 5 || len(onlyBFailed) != 0 || *onlyB[0].UserID != b {
			t.Fatalf("filtered: %d, %d", len(onlyB), len(onlyBFailed))
		}
	})
}

func TestDeleteAllUsersStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		for i := range 3 {
			u := addUser(t, st, fmt.Sprintf("u%d", i), []string{"admin"}, nil)
			sess := &models.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, CreatedAt: t0(), LastUsedAt: t0(), ExpiresAt: t0().Add(time.Hour)}
			testdb.Must(t, st.CreateSession(ctx, sess, &models.RefreshToken{ID: uuid.Must(uuid.NewV7()), SessionID: sess.ID, TokenHash: []byte{byte(i)}, CreatedAt: t0()}))
		}
		var n int64
		var revoked []uuid.UUID
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			if revoked, err = tx.RevokeSessions(ctx, store.Revoke{All: true, Reason: "users_wiped", Now: t0(), AccessTTL: time.Minute}); err != nil {
				return err
			}
			n, err = tx.DeleteAllUsers(ctx)
			return err
		}))
		count, err := st.CountUsers(ctx)
		testdb.Must(t, err)
		if n != 3 || count != 0 || len(revoked) != 3 {
			t.Fatalf("deleted %d, %d remain, %d revoked", n, count, len(revoked))
		}
		has, err := st.HasAdmin(ctx)
		testdb.Must(t, err)
		if has {
			t.Fatal("an admin role grant survived")
		}
	})
}

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
