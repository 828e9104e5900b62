package store_test

// Bulk import in the store, on both databases: which rows ImportUsers inserts
// when emails and usernames collide with existing users, with each other, or
// with a row the database refused; only inserted rows get their roles, and
// the user count follows.

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// importRow is a row for ImportUsers with that email and username.
func importRow(email, username string, roles ...string) store.ImportRow {
	return store.ImportRow{
		User: models.User{ID: uuid.Must(uuid.NewV7()), Email: email, Username: username,
			Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()},
		Roles: roles,
	}
}

func TestImportUsersSkipsTakenKeys(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		addUser(t, st, "ada", []string{models.RoleUser}, nil) // ada@example.com

		rows := []store.ImportRow{
			importRow("fresh@example.com", "fresh", models.RoleUser, models.RoleAdmin),
			importRow("ADA@example.com", "ada2", models.RoleUser),     // 1: ada's email in another case
			importRow("other@example.com", "Ada", models.RoleUser),    // 2: ada's username folded
			importRow("ada2b@example.com", "ada2", models.RoleUser),   // 3: row 1's username; row 1 was refused
			importRow("fresh@EXAMPLE.com", "fresh2", models.RoleUser), // 4: row 0's email; row 0 is inserted
			importRow("dup@example.com", "dup", models.RoleUser),
			importRow("dup@example.com", "dup", models.RoleUser), // 6: a repeat of row 5
		}
		var inserted []bool
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			inserted, err = tx.ImportUsers(ctx, rows)
			return err
		}))
		want := []bool{true, false, false, true, false, true, false}
		if !slices.Equal(inserted, want) {
			t.Fatalf("inserted = %v, want %v", inserted, want)
		}
		n, err := st.CountUsers(ctx)
		testdb.Must(t, err)
		if n != 4 {
			t.Errorf("CountUsers = %d, want 4 (ada and three imported)", n)
		}
		for i, ok := range want {
			acc, err := st.UserByID(ctx, rows[i].User.ID)
			if !ok {
				if err == nil {
					t.Errorf("row %d (%s) was skipped but its id exists", i, rows[i].User.Email)
				}
				continue
			}
			testdb.Must(t, err)
			if acc.Email != rows[i].User.Email || acc.Username != rows[i].User.Username {
				t.Errorf("row %d stored as %s/%s", i, acc.Email, acc.Username)
			}
			if !slices.Equal(acc.Roles, models.SortedSet(rows[i].Roles)) {
				t.Errorf("row %d roles = %v, want %v", i, acc.Roles, rows[i].Roles)
			}
		}
		// Ada is untouched: skipped, not changed.
		ada, err := st.UserByLogin(ctx, "ada")
		testdb.Must(t, err)
		if ada.Email != "ada@example.com" || !slices.Equal(ada.Roles, []string{models.RoleUser}) {
			t.Errorf("ada changed: %s %v", ada.Email, ada.Roles)
		}

		// The same rows again (new ids): every one is skipped.
		again := make([]store.ImportRow, len(rows))
		for i, r := range rows {
			again[i] = importRow(strings.ToUpper(r.User.Email), r.User.Username, r.Roles...)
		}
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			inserted, err = tx.ImportUsers(ctx, again)
			return err
		}))
		if slices.Contains(inserted, true) {
			t.Errorf("a second import inserted %v", inserted)
		}
		if n, _ := st.CountUsers(ctx); n != 4 {
			t.Errorf("CountUsers after the second import = %d, want 4", n)
		}
	})
}
