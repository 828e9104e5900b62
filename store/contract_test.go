package store_test

// The storage contract: what the rest of authsvc relies on from the store for
// users, sessions and signing keys, checked the same way on every database (as
// ory/kratos checks each persister). Each area gets a fresh database per
// dialect. The assertions aim at what dialects do differently: case folding,
// time comparison in SQL, byte columns, foreign keys and cascades, partial
// unique indexes, rows-affected counts, ordering of ids stored as text or uuid.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

func TestStoreContract(t *testing.T) {
	areas := []struct {
		name string
		fn   func(t *testing.T, st *store.Store)
	}{
		{"users", contractUsers},
		{"user_conflicts", contractUserConflicts},
		{"grants", contractGrants},
		{"user_lookup", contractUserLookup},
		{"list_users", contractListUsers},
		{"sessions", contractSessions},
		{"refresh_tokens", contractRefreshTokens},
		{"revoke_sessions", contractRevokeSessions},
		{"signing_keys", contractSigningKeys},
		{"rotate_signing_keys", contractRotateSigningKeys},
	}
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		for _, a := range areas {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				st := testdb.Open(t, dialect)
				testdb.Must(t, st.EnsureBuiltinRoles(context.Background(), t0()))
				a.fn(t, st)
			})
		}
	})
}

// east is a zone other than UTC: the store must give the same answers for an
// instant whatever zone it is written in (SQLite keeps times as text).
var east = time.FixedZone("east", 5*3600+30*60)

func newUser(username string, mod func(*models.User)) *models.User {
	u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: username + "@example.com", Username: username,
		FirstName: "F-" + username, LastName: "L-" + username,
		PasswordHash: "$argon2id$" + username, Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
	if mod != nil {
		mod(u)
	}
	return u
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func ptr[T any](v T) *T { return &v }

func mustConflict(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%s: err = %v (%T), want *store.ConflictError", what, err, err)
	}
	if ce.Field != field {
		t.Fatalf("%s: conflict on %q, want %q", what, ce.Field, field)
	}
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func contractUsers(t *testing.T, st *store.Store) {
	ctx := context.Background()
	locked := t0().Add(time.Hour)
	u := newUser("alice", func(u *models.User) {
		u.FirstName, u.LastName = "Ålice", "O'Brien \"quoted\""
		u.FailedLogins, u.LockCount, u.LockedUntil = 3, 1, &locked
		u.CreatedAt = t0().Add(123456 * time.Microsecond) // sub-second precision survives
		u.UpdatedAt = u.CreatedAt
	})
	testdb.Must(t, st.CreateUser(ctx, u, []string{models.RoleUser}, nil))
	got, err := st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if got.ID != u.ID || got.Email != u.Email || got.Username != u.Username || got.FirstName != u.FirstName ||
		got.LastName != u.LastName || got.PasswordHash != u.PasswordHash || got.Status != u.Status ||
		got.FailedLogins != 3 || got.LockCount != 1 || !sameTime(got.LockedUntil, &locked) || got.LastLoginAt != nil ||
		!got.CreatedAt.Equal(u.CreatedAt) || !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("read back %+v\nwrote     %+v", got.User, *u)
	}
	if got.EffectiveStatus(t0()) != models.StatusLocked || got.EffectiveStatus(locked) != models.StatusActive {
		t.Fatalf("effective status around locked_until: %s, %s", got.EffectiveStatus(t0()), got.EffectiveStatus(locked))
	}
	mustNotFound(t, "UserByID of an unknown id", func() error { _, err := st.UserByID(ctx, uuid.New()); return err }())

	// UpdateUser writes the given columns and updated_at, nothing else.
	later := t0().Add(time.Minute)
	testdb.Must(t, st.UpdateUser(ctx, u.ID, later, store.UserUpdate{FirstName: new("Alice"), Status: new(models.StatusDisabled)}))
	got, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if got.FirstName != "Alice" || got.Status != models.StatusDisabled || !got.UpdatedAt.Equal(later) ||
		!got.CreatedAt.Equal(u.CreatedAt) || got.LastName != u.LastName || got.Email != u.Email {
		t.Fatalf("after UpdateUser: %+v", got.User)
	}
	// Writing the values a row already has still finds the row (rows matched,
	// not rows changed, on every dialect).
	testdb.Must(t, st.UpdateUser(ctx, u.ID, later, store.UserUpdate{FirstName: new("Alice")}))
	mustNotFound(t, "UpdateUser of an unknown id", st.UpdateUser(ctx, uuid.New(), later, store.UserUpdate{FirstName: new("x")}))
	if err := st.UpdateUser(ctx, u.ID, later, store.UserUpdate{Status: new("banished")}); err == nil {
		t.Fatal("UpdateUser stored a status the schema does not allow")
	}

	// A rehash and a login are not changes of the user: updated_at stays.
	testdb.Must(t, st.UpgradePasswordHash(ctx, u.ID, "$argon2id$rehashed"))
	loginAt := t0().Add(2 * time.Minute)
	testdb.Must(t, st.RecordLogin(ctx, u.ID, loginAt))
	got, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if got.PasswordHash != "$argon2id$rehashed" || !sameTime(got.LastLoginAt, &loginAt) || got.FailedLogins != 0 ||
		got.LockCount != 0 || got.LockedUntil != nil || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after UpgradePasswordHash and RecordLogin: %+v", got.User)
	}

	// LockUser inside a transaction reads the account with its grants.
	testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
		acct, err := tx.LockUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if acct.ID != u.ID || !slices.Equal(acct.Roles, []string{models.RoleUser}) {
			return fmt.Errorf("LockUser = %+v", acct)
		}
		_, err = tx.LockUser(ctx, uuid.New())
		mustNotFound(t, "LockUser of an unknown id", err)
		return nil
	}))

	// Counting.
	bob := addUser(t, st, "bob", []string{models.RoleAdmin}, nil)
	addUser(t, st, "pam", []string{models.RoleAdmin}, func(u *models.User) { u.Status = models.StatusPending })
	addUser(t, st, "dan", []string{models.RoleAdmin}, func(u *models.User) { u.Status = models.StatusDisabled })
	n, err := st.CountUsers(ctx)
	testdb.Must(t, err)
	admins, err := st.CountActiveAdmins(ctx)
	testdb.Must(t, err)
	has, err := st.HasAdmin(ctx)
	testdb.Must(t, err)
	if n != 4 || admins != 1 || !has {
		t.Fatalf("CountUsers %d, CountActiveAdmins %d, HasAdmin %v; want 4, 1, true", n, admins, has)
	}

	// DeleteUser takes the user's grants, sessions and refresh tokens with it
	// (foreign keys must be on in SQLite for this).
	testdb.Must(t, st.SetResources(ctx, bob.ID, []string{"r1"}))
	sess := newSession(bob.ID, t0(), time.Hour)
	rt := newRefreshToken(sess.ID, []byte("bob-token"))
	testdb.Must(t, st.CreateSession(ctx, sess, rt))
	testdb.Must(t, st.DeleteUser(ctx, bob.ID))
	mustNotFound(t, "UserByID after DeleteUser", func() error { _, err := st.UserByID(ctx, bob.ID); return err }())
	mustNotFound(t, "SessionByID after DeleteUser", func() error { _, err := st.SessionByID(ctx, sess.ID); return err }())
	mustNotFound(t, "RefreshTokenByID after DeleteUser", func() error { _, err := st.RefreshTokenByID(ctx, rt.ID); return err }())
	holders, err := st.RoleHolders(ctx, models.RoleAdmin)
	testdb.Must(t, err)
	if slices.Contains(holders, bob.ID) {
		t.Fatal("the deleted user still holds the admin role")
	}
	for _, table := range []string{"user_roles", "user_resources"} {
		var left int64
		testdb.Must(t, st.GORM().Table(table).Where("user_id = ?", bob.ID).Count(&left).Error)
		if left != 0 {
			t.Fatalf("%d %s rows of the deleted user remain", left, table)
		}
	}
	mustNotFound(t, "second DeleteUser", st.DeleteUser(ctx, bob.ID))
	if admins, _ := st.CountActiveAdmins(ctx); admins != 0 {
		t.Fatalf("CountActiveAdmins after deleting the only active admin = %d", admins)
	}
}

func contractUserConflicts(t *testing.T, st *store.Store) {
	ctx := context.Background()
	alice := addUser(t, st, "alice", []string{models.RoleUser}, func(u *models.User) { u.Email = "Alice@Example.com" })
	bob := addUser(t, st, "bob", nil, nil)

	for _, tc := range []struct {
		name            string
		email, username string
		field           string
	}{
		{"same email", "Alice@Example.com", "alice2", "email"},
		{"email in other case", "aLICE@example.COM", "alice3", "email"},
		{"same username", "other1@example.com", "alice", "username"},
		{"username in other case", "other2@example.com", "ALICE", "username"},
	} {
		u := newUser("x", func(u *models.User) { u.Email, u.Username = tc.email, tc.username })
		mustConflict(t, "CreateUser, "+tc.name, st.CreateUser(ctx, u, []string{models.RoleUser}, []string{"r"}), tc.field)
		// Nothing of the refused user was written.
		mustNotFound(t, "UserByID of a refused user", func() error { _, err := st.UserByID(ctx, u.ID); return err }())
	}
	// Both taken: a conflict on one of them.
	var ce *store.ConflictError
	if err := st.CreateUser(ctx, newUser("ALICE", func(u *models.User) { u.Email = "alice@example.com" }), nil, nil); !errors.As(err, &ce) ||
		(ce.Field != "email" && ce.Field != "username") {
		t.Fatalf("CreateUser with both taken: %v", err)
	}

	// An unknown role refuses the whole user: no row is left behind, and the
	// email and username stay free.
	ghost := newUser("ghost", nil)
	mustNotFound(t, "CreateUser with an unknown role", st.CreateUser(ctx, ghost, []string{models.RoleUser, "wizard"}, nil))
	mustNotFound(t, "UserByID of the refused user", func() error { _, err := st.UserByID(ctx, ghost.ID); return err }())
	testdb.Must(t, st.CreateUser(ctx, newUser("ghost", nil), []string{models.RoleUser}, nil))

	// Updates meet the same indexes.
	mustConflict(t, "UpdateUser email", st.UpdateUser(ctx, bob.ID, t0(), store.UserUpdate{Email: new("ALICE@example.com")}), "email")
	mustConflict(t, "UpdateUser username", st.UpdateUser(ctx, bob.ID, t0(), store.UserUpdate{Username: new("Alice")}), "username")
	// A user may change the case of its own email and username.
	testdb.Must(t, st.UpdateUser(ctx, alice.ID, t0(), store.UserUpdate{Email: new("ALICE@EXAMPLE.COM"), Username: new("Alice")}))
	got, err := st.UserByID(ctx, alice.ID)
	testdb.Must(t, err)
	if got.Email != "ALICE@EXAMPLE.COM" || got.Username != "Alice" {
		t.Fatalf("case change not stored: %s %s", got.Email, got.Username)
	}
	// A refused update inside a transaction leaves the transaction usable for
	// rollback and changes nothing.
	err = st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.UpdateUser(ctx, bob.ID, t0(), store.UserUpdate{FirstName: new("Changed")}); err != nil {
			return err
		}
		return tx.UpdateUser(ctx, bob.ID, t0(), store.UserUpdate{Username: new("ghost")})
	})
	mustConflict(t, "UpdateUser in a transaction", err, "username")
	if got, _ := st.UserByID(ctx, bob.ID); got.FirstName != bob.FirstName {
		t.Fatalf("rolled-back change visible: %q", got.FirstName)
	}
}

// TestStoreContractNonASCIICase: an address that differs only in the case of a
// non-ASCII letter is the same address on every database, for uniqueness, for
// login and for search. (SQLite's built-in lower() folds ASCII only;
// PostgreSQL's follows the database's locale, here C.UTF-8.)
func TestStoreContractNonASCIICase(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := testdb.Open(t, dialect)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		addUser(t, st, "emile", nil, func(u *models.User) { u.Email = "Émile@example.com" })
		if u, err := st.UserRowByLogin(ctx, "émile@example.com"); err != nil || u.Username != "emile" {
			t.Errorf("UserRowByLogin in other case of a non-ASCII letter: %v, %v", u, err)
		}
		err := st.CreateUser(ctx, newUser("emile2", func(u *models.User) { u.Email = "émile@example.com" }), nil, nil)
		var ce *store.ConflictError
		if !errors.As(err, &ce) || ce.Field != "email" {
			t.Errorf("CreateUser of the same address with é for É: %v, want a conflict on email", err)
		}
		list, err := st.ListUsers(ctx, store.UserFilter{Query: "ÉMILE", Now: t0(), Limit: 10})
		testdb.Must(t, err)
		if len(list) == 0 {
			t.Errorf("ListUsers q=ÉMILE does not find Émile@example.com")
		}
	})
}

func contractGrants(t *testing.T, st *store.Store) {
	ctx := context.Background()
	testdb.Must(t, st.CreateRole(ctx, &models.Role{Name: "auditor", CreatedAt: t0(), UpdatedAt: t0()},
		[]string{models.PermAuditRead, models.PermUsersRead, models.PermAuditRead}))
	u := newUser("gina", nil)
	// Repeats and any order in; sorted sets out.
	testdb.Must(t, st.CreateUser(ctx, u, []string{"user", "auditor", "user"}, []string{"z-res", "a-res", "z-res"}))
	acct, err := st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if !slices.Equal(acct.Roles, []string{"auditor", "user"}) || !slices.Equal(acct.Resources, []string{"a-res", "z-res"}) ||
		!slices.Equal(acct.Permissions, []string{models.PermAuditRead, models.PermUsersRead}) ||
		!acct.HasRole("auditor") || acct.HasRole(models.RoleAdmin) || !acct.Can(models.PermUsersRead) || acct.Can(models.PermUsersWrite) {
		t.Fatalf("grants = %v / %v / %v", acct.Roles, acct.Permissions, acct.Resources)
	}

	// SetRoles and SetResources replace, they do not add.
	testdb.Must(t, st.SetRoles(ctx, u.ID, []string{models.RoleAdmin}))
	testdb.Must(t, st.SetResources(ctx, u.ID, []string{"m-res"}))
	acct, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if !slices.Equal(acct.Roles, []string{models.RoleAdmin}) || !slices.Equal(acct.Resources, []string{"m-res"}) ||
		len(acct.Permissions) != len(models.Permissions) {
		t.Fatalf("after replacing: %v / %v / %v", acct.Roles, acct.Permissions, acct.Resources)
	}
	// An unknown role refuses the whole set and keeps the old one.
	mustNotFound(t, "SetRoles with an unknown role", st.SetRoles(ctx, u.ID, []string{models.RoleUser, "wizard"}))
	acct, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if !slices.Equal(acct.Roles, []string{models.RoleAdmin}) {
		t.Fatalf("roles after a refused SetRoles: %v", acct.Roles)
	}
	// Empty sets: empty, not nil, slices.
	testdb.Must(t, st.SetRoles(ctx, u.ID, nil))
	testdb.Must(t, st.SetResources(ctx, u.ID, []string{}))
	acct, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if acct.Roles == nil || acct.Permissions == nil || acct.Resources == nil ||
		len(acct.Roles)+len(acct.Permissions)+len(acct.Resources) != 0 {
		t.Fatalf("after clearing: %#v / %#v / %#v", acct.Roles, acct.Permissions, acct.Resources)
	}
	// Inside a transaction that fails, a replacement rolls back.
	boom := errors.New("boom")
	err = st.InTx(ctx, func(tx *store.Store) error {
		testdb.Must(t, tx.SetRoles(ctx, u.ID, []string{models.RoleAdmin}))
		testdb.Must(t, tx.SetResources(ctx, u.ID, []string{"x"}))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	acct, err = st.UserByID(ctx, u.ID)
	testdb.Must(t, err)
	if len(acct.Roles)+len(acct.Resources) != 0 {
		t.Fatalf("rolled-back grants visible: %v / %v", acct.Roles, acct.Resources)
	}
	// Roles of a user that does not exist: the foreign key refuses them.
	if err := st.SetRoles(ctx, uuid.New(), []string{models.RoleUser}); err == nil {
		t.Fatal("SetRoles for an unknown user succeeded")
	}
}

func contractUserLookup(t *testing.T, st *store.Store) {
	ctx := context.Background()
	alice := addUser(t, st, "Alice_B", []string{models.RoleAdmin}, func(u *models.User) { u.Email = "Alice.B@Example.com" })
	// Another user's email is alice's username with a domain: the lookup must
	// pick the column by the "@", not match both.
	addUser(t, st, "carl", nil, func(u *models.User) { u.Email = "alice_b@example.org" })
	for _, login := range []string{"Alice_B", "alice_b", "ALICE_B", "Alice.B@Example.com", "alice.b@example.com", "ALICE.B@EXAMPLE.COM"} {
		u, err := st.UserRowByLogin(ctx, login)
		if err != nil || u.ID != alice.ID {
			t.Errorf("UserRowByLogin(%q) = %v, %v; want alice", login, u, err)
		}
	}
	if u, err := st.UserRowByLogin(ctx, "alice_b@example.org"); err != nil || u.Username != "carl" {
		t.Errorf("UserRowByLogin by carl's email = %v, %v", u, err)
	}
	// No pattern matching and no partial matches.
	for _, login := range []string{"alice%", "alice_%", "a_ice_b", "Alice", "Alice.B", "%@example.com", "alice.b@example.co", " alice_b", "alice_b ", "", "Alice_B@"} {
		if u, err := st.UserRowByLogin(ctx, login); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserRowByLogin(%q) = %v, %v; want ErrNotFound", login, u, err)
		}
	}
	acct, err := st.UserByLogin(ctx, "alice.b@EXAMPLE.com")
	testdb.Must(t, err)
	if acct.ID != alice.ID || !slices.Equal(acct.Roles, []string{models.RoleAdmin}) || len(acct.Permissions) != len(models.Permissions) {
		t.Fatalf("UserByLogin = %+v", acct)
	}
	_, err = st.UserByLogin(ctx, "nobody")
	mustNotFound(t, "UserByLogin of nobody", err)
}

func contractListUsers(t *testing.T, st *store.Store) {
	ctx := context.Background()
	testdb.Must(t, st.CreateRole(ctx, &models.Role{Name: "ops", CreatedAt: t0(), UpdatedAt: t0()}, []string{models.PermUsersRead}))
	// Random (v4) ids: the page order is the id order, whatever the order of
	// creation and whether the dialect stores ids as text or as uuid.
	var all []*models.User
	lockedUntil := t0().Add(30 * time.Minute)
	for i := range 9 {
		u := newUser(fmt.Sprintf("user%d", i), func(u *models.User) {
			u.ID = uuid.New()
			switch i % 3 {
			case 1:
				u.Status = models.StatusPending
			case 2:
				u.LockedUntil = &lockedUntil
			}
		})
		roles := []string{models.RoleUser}
		if i%2 == 0 {
			roles = append(roles, "ops")
		}
		testdb.Must(t, st.CreateUser(ctx, u, roles, nil))
		all = append(all, u)
	}
	byID := slices.Clone(all)
	slices.SortFunc(byID, func(a, b *models.User) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	want := func(keep func(u *models.User, i int) bool) []string {
		out := []string{}
		for _, u := range byID {
			i := slices.Index(all, u)
			if keep(u, i) {
				out = append(out, u.Username)
			}
		}
		return out
	}
	after := t0().Add(time.Hour) // the locks have run out
	for _, tc := range []struct {
		name string
		f    store.UserFilter
		now  time.Time
		want []string
	}{
		{"all", store.UserFilter{}, t0(), want(func(*models.User, int) bool { return true })},
		{"role", store.UserFilter{Role: "ops"}, t0(), want(func(_ *models.User, i int) bool { return i%2 == 0 })},
		{"pending", store.UserFilter{Status: models.StatusPending}, t0(), want(func(_ *models.User, i int) bool { return i%3 == 1 })},
		{"locked", store.UserFilter{Status: models.StatusLocked}, t0(), want(func(_ *models.User, i int) bool { return i%3 == 2 })},
		{"active", store.UserFilter{Status: models.StatusActive}, t0(), want(func(_ *models.User, i int) bool { return i%3 == 0 })},
		{"locked, later", store.UserFilter{Status: models.StatusLocked}, after, []string{}},
		{"active, later", store.UserFilter{Status: models.StatusActive}, after, want(func(_ *models.User, i int) bool { return i%3 != 1 })},
		{"query", store.UserFilter{Query: "L-USER"}, t0(), want(func(*models.User, int) bool { return true })},
		{"query and role", store.UserFilter{Query: "USER1", Role: "ops"}, t0(), []string{}},
		{"directory", store.UserFilter{Directory: true, Query: "example.com"}, t0(), []string{}},
	} {
		f := tc.f
		f.Now = tc.now
		// Every page size walks the same list, by After = the last id of a page.
		for _, limit := range []int{1, 2, 4, 100} {
			var got []string
			f.After, f.Limit = uuid.Nil, limit
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("%s: paging does not end", tc.name)
				}
				page, err := st.ListUsers(ctx, f)
				testdb.Must(t, err)
				if len(page) > limit {
					t.Fatalf("%s: page of %d, limit %d", tc.name, len(page), limit)
				}
				for _, a := range page {
					got = append(got, a.Username)
				}
				if len(page) < limit {
					break
				}
				f.After = page[len(page)-1].ID
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s, limit %d: %v, want %v", tc.name, limit, got, tc.want)
			}
		}
	}
}

func newSession(userID uuid.UUID, created time.Time, ttl time.Duration) *models.Session {
	return &models.Session{ID: uuid.Must(uuid.NewV7()), UserID: userID, CreatedAt: created, LastUsedAt: created,
		ExpiresAt: created.Add(ttl), IP: "192.0.2.1", UserAgent: "test/1.0"}
}

func newRefreshToken(sessionID uuid.UUID, hash []byte) *models.RefreshToken {
	return &models.RefreshToken{ID: uuid.Must(uuid.NewV7()), SessionID: sessionID, TokenHash: hash, CreatedAt: t0()}
}

func sessionIDs(list []models.Session) []uuid.UUID {
	out := []uuid.UUID{}
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

func contractSessions(t *testing.T, st *store.Store) {
	ctx := context.Background()
	u := addUser(t, st, "sam", nil, nil)
	other := addUser(t, st, "otto", nil, nil)

	s1 := newSession(u.ID, t0(), time.Hour)
	s1.IP, s1.UserAgent, s1.Remember = "2001:db8::1", "Mozilla/5.0 (ü; 'quoted')", true
	s1.CreatedAt = t0().Add(250 * time.Millisecond)
	// A MAC is arbitrary bytes: NUL, high bytes, invalid UTF-8.
	hash := []byte{0, 1, 0xfe, 0xff, 0x80, 'a', 0}
	rt := newRefreshToken(s1.ID, hash)
	testdb.Must(t, st.CreateSession(ctx, s1, rt))
	got, err := st.SessionByID(ctx, s1.ID)
	testdb.Must(t, err)
	if got.ID != s1.ID || got.UserID != u.ID || !got.CreatedAt.Equal(s1.CreatedAt) || !got.LastUsedAt.Equal(s1.LastUsedAt) ||
		!got.ExpiresAt.Equal(s1.ExpiresAt) || got.RevokedAt != nil || got.RevokeReason != "" || got.IP != s1.IP ||
		got.UserAgent != s1.UserAgent || !got.Remember {
		t.Fatalf("read back %+v\nwrote     %+v", *got, *s1)
	}
	byHash, err := st.RefreshTokenByHash(ctx, slices.Clone(hash))
	testdb.Must(t, err)
	if byHash.ID != rt.ID || byHash.SessionID != s1.ID || string(byHash.TokenHash) != string(hash) || byHash.RetiredAt != nil ||
		byHash.SuccessorID != nil || byHash.SuccessorSealed != nil {
		t.Fatalf("RefreshTokenByHash = %+v", byHash)
	}
	// Bytes compare as bytes: a prefix, or the same bytes plus one, is another token.
	for _, h := range [][]byte{hash[:6], append(slices.Clone(hash), 0), []byte("\x00\x01")} {
		_, err := st.RefreshTokenByHash(ctx, h)
		mustNotFound(t, fmt.Sprintf("RefreshTokenByHash(%x)", h), err)
	}
	mustNotFound(t, "SessionByID unknown", func() error { _, err := st.SessionByID(ctx, uuid.New()); return err }())

	// A refresh token hash is unique, and CreateSession writes both rows or neither.
	s2 := newSession(u.ID, t0(), time.Hour)
	if err := st.CreateSession(ctx, s2, newRefreshToken(s2.ID, hash)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSession with a taken refresh token hash: %v, want ErrConflict", err)
	}
	mustNotFound(t, "the session of a refused CreateSession", func() error { _, err := st.SessionByID(ctx, s2.ID); return err }())
	// A session needs a user (foreign keys on, in SQLite too).
	orphan := newSession(uuid.New(), t0(), time.Hour)
	if err := st.CreateSession(ctx, orphan, newRefreshToken(orphan.ID, []byte("orphan"))); err == nil {
		t.Fatal("CreateSession for an unknown user succeeded")
	}

	// LockSession inside a transaction.
	testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
		s, err := tx.LockSession(ctx, s1.ID)
		if err != nil {
			return err
		}
		if s.ID != s1.ID || !s.ExpiresAt.Equal(s1.ExpiresAt) {
			return fmt.Errorf("LockSession = %+v", s)
		}
		_, err = tx.LockSession(ctx, uuid.New())
		mustNotFound(t, "LockSession unknown", err)
		return nil
	}))

	// UseSessionOf finds the live session of a refresh token and records the
	// use, and nothing else; not for an unknown token or an expired session.
	used := t0().Add(10 * time.Minute)
	testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
		s, err := tx.UseSessionOf(ctx, hash, used, "198.51.100.7", "curl/8")
		if err != nil {
			return err
		}
		if s.ID != s1.ID || !s.LastUsedAt.Equal(used) {
			return fmt.Errorf("UseSessionOf = %+v", s)
		}
		_, err = tx.UseSessionOf(ctx, []byte("unknown"), used, "", "")
		mustNotFound(t, "UseSessionOf unknown token", err)
		_, err = tx.UseSessionOf(ctx, hash, s1.ExpiresAt, "", "")
		mustNotFound(t, "UseSessionOf expired session", err)
		return nil
	}))
	got, err = st.SessionByID(ctx, s1.ID)
	testdb.Must(t, err)
	if !got.LastUsedAt.Equal(used) || got.IP != "198.51.100.7" || got.UserAgent != "curl/8" ||
		!got.CreatedAt.Equal(s1.CreatedAt) || !got.ExpiresAt.Equal(s1.ExpiresAt) || !got.Remember {
		t.Fatalf("after UseSessionOf: %+v", *got)
	}

	// LiveSessions: the user's, unrevoked, unexpired, newest first (ties by id).
	mk := func(created time.Time, ttl time.Duration, user uuid.UUID) *models.Session {
		s := newSession(user, created, ttl)
		testdb.Must(t, st.CreateSession(ctx, s, newRefreshToken(s.ID, []byte("rt-"+s.ID.String()))))
		return s
	}
	newer := mk(t0().Add(time.Minute), time.Hour, u.ID)
	tieA := mk(t0().Add(2*time.Minute), time.Hour, u.ID)
	tieB := mk(t0().Add(2*time.Minute), time.Hour, u.ID) // same created_at, larger id
	short := mk(t0(), 20*time.Minute, u.ID)              // expires at t0+20m
	shortTie := mk(t0(), 40*time.Minute, u.ID)           // created with short, larger id
	revoked := mk(t0(), time.Hour, u.ID)
	testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
		_, err := tx.RevokeSessions(ctx, store.Revoke{SessionID: revoked.ID, Reason: "logout", Now: t0(), AccessTTL: time.Minute})
		return err
	}))
	mk(t0(), time.Hour, other.ID)
	// Ids are UUIDv7, so of sessions created in the same instant the later one sorts first.
	if tieA.ID.String() > tieB.ID.String() || short.ID.String() > shortTie.ID.String() {
		t.Fatal("uuid v7 ids out of creation order")
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want []*models.Session
	}{
		{"at t0", t0().Add(time.Second), []*models.Session{tieB, tieA, newer, s1, shortTie, short}},
		{"at t0+20m (short expires exactly then)", t0().Add(20 * time.Minute), []*models.Session{tieB, tieA, newer, s1, shortTie}},
		{"at t0+45m", t0().Add(45 * time.Minute), []*models.Session{tieB, tieA, newer, s1}},
		{"at t0+2h", t0().Add(2 * time.Hour), []*models.Session{}},
	} {
		live, err := st.LiveSessions(ctx, u.ID, tc.now)
		testdb.Must(t, err)
		want := []uuid.UUID{}
		for _, s := range tc.want {
			want = append(want, s.ID)
		}
		if !slices.Equal(sessionIDs(live), want) {
			t.Errorf("LiveSessions %s = %v, want %v", tc.name, sessionIDs(live), want)
		}
	}
	live, err := st.LiveSessions(ctx, other.ID, t0())
	testdb.Must(t, err)
	if len(live) != 1 || live[0].UserID != other.ID {
		t.Errorf("LiveSessions of the other user = %+v", live)
	}
}

func contractRefreshTokens(t *testing.T, st *store.Store) {
	ctx := context.Background()
	u := addUser(t, st, "rita", nil, nil)
	sess := newSession(u.ID, t0(), time.Hour)
	first := newRefreshToken(sess.ID, []byte("first"))
	testdb.Must(t, st.CreateSession(ctx, sess, first))

	retire := func(old *models.RefreshToken, next *models.RefreshToken, sealed []byte, at time.Time) bool {
		t.Helper()
		var ok bool
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			ok, err = tx.RetireRefreshToken(ctx, old.ID, next, sealed, at)
			return err
		}))
		return ok
	}
	second := newRefreshToken(sess.ID, []byte("second"))
	sealed2 := []byte{0, 0xff, 's', 2}
	if !retire(first, second, sealed2, t0().Add(time.Minute)) {
		t.Fatal("retiring a live token reported it already retired")
	}
	got, err := st.RefreshTokenByID(ctx, first.ID)
	testdb.Must(t, err)
	if got.RetiredAt == nil || !got.RetiredAt.Equal(t0().Add(time.Minute)) || got.SuccessorID == nil || *got.SuccessorID != second.ID ||
		string(got.SuccessorSealed) != string(sealed2) {
		t.Fatalf("retired token = %+v", got)
	}
	if got, err := st.RefreshTokenByHash(ctx, []byte("second")); err != nil || got.ID != second.ID || got.RetiredAt != nil {
		t.Fatalf("successor = %+v, %v", got, err)
	}
	// Retiring it again (a concurrent refresh lost) writes nothing.
	loser := newRefreshToken(sess.ID, []byte("loser"))
	if retire(first, loser, []byte("x"), t0().Add(2*time.Minute)) {
		t.Fatal("a retired token was retired twice")
	}
	_, err = st.RefreshTokenByID(ctx, loser.ID)
	mustNotFound(t, "the losing successor", err)
	if got, _ := st.RefreshTokenByID(ctx, first.ID); *got.SuccessorID != second.ID || !got.RetiredAt.Equal(t0().Add(time.Minute)) {
		t.Fatalf("the second retire changed the first: %+v", got)
	}
	// Only the most recently retired token keeps its sealed successor.
	third := newRefreshToken(sess.ID, []byte("third"))
	if !retire(second, third, []byte("sealed3"), t0().Add(3*time.Minute)) {
		t.Fatal("retiring the second token failed")
	}
	f, _ := st.RefreshTokenByID(ctx, first.ID)
	s, _ := st.RefreshTokenByID(ctx, second.ID)
	if f.SuccessorSealed != nil || f.SuccessorID == nil || string(s.SuccessorSealed) != "sealed3" {
		t.Fatalf("sealed successors: first %q, second %q", f.SuccessorSealed, s.SuccessorSealed)
	}
}

type revocationRow struct {
	Seq       int64
	SessionID uuid.UUID
	ExpiresAt time.Time
	CreatedAt time.Time
}

func revocations(t *testing.T, st *store.Store) []revocationRow {
	t.Helper()
	var rows []models.Revocation
	testdb.Must(t, st.GORM().Order("seq").Find(&rows).Error)
	out := []revocationRow{}
	for _, r := range rows {
		out = append(out, revocationRow(r))
	}
	return out
}

func contractRevokeSessions(t *testing.T, st *store.Store) {
	ctx := context.Background()
	a := addUser(t, st, "ann", nil, nil)
	b := addUser(t, st, "ben", nil, nil)
	c := addUser(t, st, "cy", nil, nil)
	mk := func(user uuid.UUID, ttl time.Duration) *models.Session {
		s := newSession(user, t0(), ttl)
		testdb.Must(t, st.CreateSession(ctx, s, newRefreshToken(s.ID, []byte("rt-"+s.ID.String()))))
		return s
	}
	a1, a2 := mk(a.ID, time.Hour), mk(a.ID, 3*time.Minute) // a2 ends before its access tokens would
	aOld := mk(a.ID, time.Minute)                          // expired by the time of the revocations
	b1 := mk(b.ID, time.Hour)
	c1 := mk(c.ID, time.Hour)
	revoke := func(r store.Revoke) []uuid.UUID {
		t.Helper()
		var ids []uuid.UUID
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			ids, err = tx.RevokeSessions(ctx, r)
			return err
		}))
		slices.SortFunc(ids, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
		return ids
	}
	now := t0().Add(2 * time.Minute)
	const ttl = 15 * time.Minute

	if ids := revoke(store.Revoke{Reason: "nothing", Now: now, AccessTTL: ttl}); len(ids) != 0 || len(revocations(t, st)) != 0 {
		t.Fatalf("a Revoke without a selector revoked %v", ids)
	}
	// By session: one row, expiring with the last access token it may have signed.
	if ids := revoke(store.Revoke{SessionID: b1.ID, Reason: "logout", Now: now, AccessTTL: ttl}); !slices.Equal(ids, []uuid.UUID{b1.ID}) {
		t.Fatalf("revoke b1 = %v", ids)
	}
	// By user: aOld has expired (t0+1m) and is not revoked; a2's entry
	// expires with the session, sooner than now+ttl.
	if ids := revoke(store.Revoke{UserIDs: []uuid.UUID{a.ID, b.ID}, Reason: "password_changed", Now: now, AccessTTL: ttl}); !slices.Equal(ids, []uuid.UUID{a1.ID, a2.ID}) {
		t.Fatalf("revoke users a, b = %v, want a1, a2 (b1 is revoked already, aOld expired)", ids)
	}
	// All: only what is still live.
	if ids := revoke(store.Revoke{All: true, Reason: "users_wiped", Now: now.Add(time.Second), AccessTTL: ttl}); !slices.Equal(ids, []uuid.UUID{c1.ID}) {
		t.Fatalf("revoke all = %v, want c1", ids)
	}
	if ids := revoke(store.Revoke{All: true, Reason: "again", Now: now.Add(time.Second), AccessTTL: ttl}); len(ids) != 0 {
		t.Fatalf("revoking again = %v", ids)
	}

	for _, tc := range []struct {
		s      *models.Session
		reason string
		at     time.Time
	}{{a1, "password_changed", now}, {a2, "password_changed", now}, {b1, "logout", now}, {c1, "users_wiped", now.Add(time.Second)}} {
		got, err := st.SessionByID(ctx, tc.s.ID)
		testdb.Must(t, err)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(tc.at) || got.RevokeReason != tc.reason {
			t.Errorf("session %s: revoked_at %v reason %q, want %v %q", tc.s.ID, got.RevokedAt, got.RevokeReason, tc.at, tc.reason)
		}
	}
	if got, _ := st.SessionByID(ctx, aOld.ID); got.RevokedAt != nil {
		t.Errorf("the expired session was revoked: %+v", got)
	}
	// The feed: one row per revoked session, in order, each expiring when the
	// session's last access token does.
	rows := revocations(t, st)
	want := map[uuid.UUID][2]time.Time{ // expires_at, created_at
		b1.ID: {now.Add(ttl), now},
		a1.ID: {now.Add(ttl), now},
		a2.ID: {a2.ExpiresAt, now},
		c1.ID: {now.Add(time.Second).Add(ttl), now.Add(time.Second)},
	}
	if len(rows) != len(want) || rows[0].SessionID != b1.ID || rows[3].SessionID != c1.ID {
		t.Fatalf("revocations = %+v", rows)
	}
	for i, r := range rows {
		w, ok := want[r.SessionID]
		if !ok || !r.ExpiresAt.Equal(w[0]) || !r.CreatedAt.Equal(w[1]) || (i > 0 && r.Seq <= rows[i-1].Seq) {
			t.Errorf("revocation %d = %+v, want expires %v created %v", i, r, w[0], w[1])
		}
	}
	// None of them is live any more.
	for _, user := range []uuid.UUID{a.ID, b.ID, c.ID} {
		if live, _ := st.LiveSessions(ctx, user, now); len(live) != 0 {
			t.Errorf("live sessions after revoking: %v", sessionIDs(live))
		}
	}
}

func signingKey(kid, state string, created time.Time) models.SigningKey {
	return models.SigningKey{KID: kid, Alg: "ES256", State: state, PublicJWK: `{"kid":"` + kid + `"}`,
		PrivateSealed: []byte{0, 0xff, 0x80, kid[0], 0}, CreatedAt: created}
}

func kidsOf(keys []models.SigningKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.KID+":"+k.State)
	}
	return out
}

func contractSigningKeys(t *testing.T, st *store.Store) {
	ctx := context.Background()
	if keys, err := st.SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys of an empty store = %v, %v", keys, err)
	}
	// CreateSigningKeys inserts the states that are missing, and only those.
	cur := signingKey("k-cur", models.KeyCurrent, t0())
	cur.ActivatedAt = ptr(t0())
	created, err := st.CreateSigningKeys(ctx, cur, signingKey("k-next", models.KeyNext, t0()))
	testdb.Must(t, err)
	if !slices.Equal(kidsOf(created), []string{"k-cur:current", "k-next:next"}) {
		t.Fatalf("created %v", kidsOf(created))
	}
	created, err = st.CreateSigningKeys(ctx, signingKey("k-cur2", models.KeyCurrent, t0()), signingKey("k-next2", models.KeyNext, t0()))
	if err != nil || len(created) != 0 {
		t.Fatalf("CreateSigningKeys with both present = %v, %v; want none", kidsOf(created), err)
	}

	// At most one current and one next key (a partial unique index on both dialects);
	// any number of retiring and retired ones; kids are unique.
	for _, k := range []models.SigningKey{signingKey("k-cur3", models.KeyCurrent, t0()), signingKey("k-next3", models.KeyNext, t0())} {
		if err := st.InsertSigningKey(ctx, k); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second %s key: %v, want ErrConflict", k.State, err)
		}
	}
	ra := t0().Add(time.Hour)
	for i, k := range []models.SigningKey{
		signingKey("k-ret-b", models.KeyRetiring, t0().Add(-time.Hour)),
		signingKey("k-ret-a", models.KeyRetiring, t0().Add(-time.Hour)), // same created_at: kid order
		signingKey("k-old1", models.KeyRetired, t0().Add(-3*time.Hour)),
		signingKey("k-old2", models.KeyRetired, t0().Add(-2*time.Hour)),
	} {
		if k.State == models.KeyRetiring {
			k.RetireAfter = ptr(ra.Add(time.Duration(i) * time.Minute))
		}
		testdb.Must(t, st.InsertSigningKey(ctx, k))
	}
	if err := st.InsertSigningKey(ctx, signingKey("k-old1", models.KeyRetired, t0())); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a taken kid: %v, want ErrConflict", err)
	}
	if err := st.InsertSigningKey(ctx, signingKey("k-bad", "lost", t0())); err == nil {
		t.Fatal("a key in an unknown state was stored")
	}

	// Newest first, ties by kid; filtered by state.
	all, err := st.SigningKeys(ctx)
	testdb.Must(t, err)
	if got := kidsOf(all); !slices.Equal(got, []string{"k-cur:current", "k-next:next", "k-ret-a:retiring", "k-ret-b:retiring", "k-old2:retired", "k-old1:retired"}) {
		t.Fatalf("SigningKeys() = %v", got)
	}
	some, err := st.SigningKeys(ctx, models.KeyRetiring, models.KeyCurrent)
	testdb.Must(t, err)
	if got := kidsOf(some); !slices.Equal(got, []string{"k-cur:current", "k-ret-a:retiring", "k-ret-b:retiring"}) {
		t.Fatalf("SigningKeys(retiring, current) = %v", got)
	}
	// Columns round trip, bytes as bytes.
	k := all[0]
	if k.Alg != "ES256" || k.PublicJWK != `{"kid":"k-cur"}` || string(k.PrivateSealed) != string(cur.PrivateSealed) ||
		!k.CreatedAt.Equal(t0()) || !sameTime(k.ActivatedAt, cur.ActivatedAt) || k.RetireAfter != nil {
		t.Fatalf("current key read back as %+v", k)
	}
	if r := all[3]; r.KID != "k-ret-b" || !sameTime(r.RetireAfter, ptr(ra)) || r.ActivatedAt != nil {
		t.Fatalf("retiring key read back as %+v", r)
	}

	// RetireSigningKeys retires the retiring keys whose time has come, at the
	// instant given whatever its zone; exactly at RetireAfter counts as come.
	n, err := st.RetireSigningKeys(ctx, ra.Add(-time.Second).In(east))
	testdb.Must(t, err)
	if n != 0 {
		t.Fatalf("retired %d keys before their time", n)
	}
	n, err = st.RetireSigningKeys(ctx, ra.In(east))
	testdb.Must(t, err)
	some, _ = st.SigningKeys(ctx, models.KeyRetiring)
	if n != 1 || !slices.Equal(kidsOf(some), []string{"k-ret-a:retiring"}) {
		t.Fatalf("RetireSigningKeys at ra: %d retired, retiring left %v", n, kidsOf(some))
	}
}

func contractRotateSigningKeys(t *testing.T, st *store.Store) {
	ctx := context.Background()
	always := func(models.SigningKey) bool { return true }
	_, _, err := st.RotateSigningKeys(ctx, t0(), signingKey("k-x", models.KeyNext, t0()), t0(), always, nil)
	mustNotFound(t, "RotateSigningKeys without keys", err)

	k1 := signingKey("k1", models.KeyCurrent, t0())
	k1.ActivatedAt = ptr(t0())
	testdb.Must(t, st.InsertSigningKey(ctx, k1))
	testdb.Must(t, st.InsertSigningKey(ctx, signingKey("k2", models.KeyNext, t0())))

	record := func(current, previous models.SigningKey) *models.AuditEvent {
		return audit.Event(audit.KeyRotated, t0(), uuid.Nil, uuid.Nil, audit.Client{},
			audit.Details{"kid": current.KID, "previous_kid": previous.KID, "current_state": current.State})
	}
	// Not due: nothing changes, nothing is recorded.
	var asked models.SigningKey
	notDue := func(k models.SigningKey) bool { asked = k; return false }
	current, rotated, err := st.RotateSigningKeys(ctx, t0(), signingKey("k3", models.KeyNext, t0()), t0(), notDue, record)
	testdb.Must(t, err)
	if rotated || current.KID != "k1" || asked.KID != "k1" || asked.State != models.KeyCurrent {
		t.Fatalf("not due: current %s, rotated %v, due asked with %s", current.KID, rotated, asked.KID)
	}
	if all, _ := st.SigningKeys(ctx); !slices.Equal(kidsOf(all), []string{"k1:current", "k2:next"}) {
		t.Fatalf("keys after a rotation that was not due: %v", kidsOf(all))
	}

	// Due: next → current (activated now), current → retiring until retireAfter,
	// a new next key, and the audit event, in one transaction. The new key's
	// state and times are the store's to set, whatever the caller passed.
	now := t0().Add(time.Hour)
	retireAfter := now.Add(15 * time.Minute)
	k3 := signingKey("k3", models.KeyRetired, now)
	k3.ActivatedAt, k3.RetireAfter = ptr(now), ptr(now)
	current, rotated, err = st.RotateSigningKeys(ctx, now.In(east), k3, retireAfter.In(east), always, record)
	testdb.Must(t, err)
	if !rotated || current.KID != "k2" || current.State != models.KeyCurrent || !sameTime(current.ActivatedAt, &now) {
		t.Fatalf("rotation returned %+v, rotated %v", current, rotated)
	}
	all, err := st.SigningKeys(ctx)
	testdb.Must(t, err)
	if got := kidsOf(all); !slices.Equal(got, []string{"k3:next", "k1:retiring", "k2:current"}) {
		t.Fatalf("keys after rotating: %v", got)
	}
	byKID := map[string]models.SigningKey{}
	for _, k := range all {
		byKID[k.KID] = k
	}
	if !sameTime(byKID["k1"].RetireAfter, &retireAfter) || !sameTime(byKID["k1"].ActivatedAt, ptr(t0())) ||
		!sameTime(byKID["k2"].ActivatedAt, &now) || byKID["k3"].ActivatedAt != nil || byKID["k3"].RetireAfter != nil {
		t.Fatalf("times after rotating: %+v", byKID)
	}
	events, err := st.ListAudit(ctx, store.AuditFilter{Type: audit.KeyRotated, Limit: 10})
	testdb.Must(t, err)
	if len(events) != 1 || !strings.Contains(events[0].Details, `"kid":"k2"`) || !strings.Contains(events[0].Details, `"previous_kid":"k1"`) ||
		!strings.Contains(events[0].Details, `"current_state":"current"`) {
		t.Fatalf("audit after rotating: %+v", events)
	}

	// A rotation whose audit event cannot be written changes nothing.
	dup := func(current, previous models.SigningKey) *models.AuditEvent {
		e := record(current, previous)
		e.ID = events[0].ID // taken
		return e
	}
	if _, _, err := st.RotateSigningKeys(ctx, now.Add(time.Hour), signingKey("k4", models.KeyNext, now), now.Add(2*time.Hour), always, dup); err == nil {
		t.Fatal("a rotation whose audit event failed succeeded")
	}
	if all, _ := st.SigningKeys(ctx); !slices.Equal(kidsOf(all), []string{"k3:next", "k1:retiring", "k2:current"}) {
		t.Fatalf("keys after a failed rotation: %v", kidsOf(all))
	}

	// The next rotation, after k1's time, also retires k1.
	later := retireAfter.Add(time.Minute)
	current, rotated, err = st.RotateSigningKeys(ctx, later, signingKey("k4", models.KeyNext, later), later.Add(15*time.Minute), always, nil)
	testdb.Must(t, err)
	if !rotated || current.KID != "k3" {
		t.Fatalf("second rotation: %s, %v", current.KID, rotated)
	}
	if all, _ := st.SigningKeys(ctx); !slices.Equal(kidsOf(all), []string{"k4:next", "k3:current", "k1:retired", "k2:retiring"}) {
		t.Fatalf("keys after the second rotation: %v", kidsOf(all))
	}
}

// TestStoreContractTimesInOtherZones: instants given or stored in a zone other
// than UTC mean the same instants. SQLite keeps times as text, so a store that
// compares times in SQL must write them, and compare them, in one zone.
func TestStoreContractTimesInOtherZones(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		st := testdb.Open(t, dialect)
		contractTimesInOtherZones(t, st)
	})
}

// knownGap skips a contract test on SQLite where the store is known not to
// meet it yet; PostgreSQL still runs it. Remove the call once the store does.
func knownGap(t *testing.T, dialect, why string) {
	t.Helper()
	if dialect == store.SQLite {
		t.Skipf("KNOWN GAP on SQLite, fails today: %s", why)
	}
}

func contractTimesInOtherZones(t *testing.T, st *store.Store) {
	ctx := context.Background()
	lockedUntil := t0().Add(30 * time.Minute)
	eastLocked := addUser(t, st, "eastlocked", nil, func(u *models.User) { u.LockedUntil = ptr(lockedUntil.In(east)) })
	utcLocked := addUser(t, st, "utclocked", nil, func(u *models.User) { u.LockedUntil = ptr(lockedUntil) })
	for _, tc := range []struct {
		name string
		now  time.Time
		want []string
	}{
		{"before, in UTC", t0(), []string{eastLocked.Username, utcLocked.Username}},
		{"before, in another zone", t0().In(east), []string{eastLocked.Username, utcLocked.Username}},
		{"after, in UTC", t0().Add(time.Hour), []string{}},
		{"after, in another zone", t0().Add(time.Hour).In(east), []string{}},
	} {
		list, err := st.ListUsers(ctx, store.UserFilter{Status: models.StatusLocked, Now: tc.now, Limit: 10})
		testdb.Must(t, err)
		if got := usernames(list); !slices.Equal(got, tc.want) {
			t.Errorf("ListUsers locked, %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	u := addUser(t, st, "zoe", nil, nil)
	// Created one after the other; the second written in another zone.
	utcS := newSession(u.ID, t0(), time.Hour)                    // expires t0+1h
	eastS := newSession(u.ID, t0().Add(time.Minute).In(east), 0) // created t0+1m
	eastS.ExpiresAt = t0().Add(30 * time.Minute).In(east)        // expires t0+30m
	testdb.Must(t, st.CreateSession(ctx, utcS, newRefreshToken(utcS.ID, []byte("utc"))))
	testdb.Must(t, st.CreateSession(ctx, eastS, newRefreshToken(eastS.ID, []byte("east"))))
	for _, tc := range []struct {
		name string
		now  time.Time
		want []uuid.UUID
	}{
		{"t0+10m in UTC", t0().Add(10 * time.Minute), []uuid.UUID{eastS.ID, utcS.ID}},
		{"t0+10m in another zone", t0().Add(10 * time.Minute).In(east), []uuid.UUID{eastS.ID, utcS.ID}},
		{"t0+45m in UTC", t0().Add(45 * time.Minute), []uuid.UUID{utcS.ID}},
		{"t0+45m in another zone", t0().Add(45 * time.Minute).In(east), []uuid.UUID{utcS.ID}},
	} {
		live, err := st.LiveSessions(ctx, u.ID, tc.now)
		testdb.Must(t, err)
		if !slices.Equal(sessionIDs(live), tc.want) {
			t.Errorf("LiveSessions %s = %v, want %v", tc.name, sessionIDs(live), tc.want)
		}
	}
	var revoked []uuid.UUID
	testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
		var err error
		revoked, err = tx.RevokeSessions(ctx, store.Revoke{UserIDs: []uuid.UUID{u.ID}, Reason: "test",
			Now: t0().Add(10 * time.Minute).In(east), AccessTTL: time.Minute})
		return err
	}))
	if len(revoked) != 2 {
		t.Errorf("RevokeSessions at t0+10m in another zone revoked %v, want both sessions", revoked)
	}
}
