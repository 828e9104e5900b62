package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

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
