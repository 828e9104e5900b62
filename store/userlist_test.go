package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

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
