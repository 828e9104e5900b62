package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
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

func TestFoldKeyKeepsNonASCIIOutOfASCII(t *testing.T) {
	for in, want := range map[string]string{
		"Ada": "ada", "Émile": "émile", "ÅSA": "åsa",
		"\u212Aate": "\u212Aate", // the Kelvin sign is not k
		"\u0130nci": "\u0130nci", // nor is İ i
	} {
		if got := store.FoldKey(in); got != want {
			t.Errorf("FoldKey(%q) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		" Ada@BÜCHER.example ":  "ada@xn--bcher-kva.example",
		"\u212Aate@Example.com": "\u212Aate@example.com", // no ASCII form: compared as itself
	} {
		if got := store.EmailKey(in); got != want {
			t.Errorf("EmailKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestOldKeysRefolded: rows whose keys were folded before emails compared in
// their ASCII form get today's keys at the start that upgrades their database
// (to 00011, the first migration after the change), on both databases: the
// Kelvin-sign address gives up the slot of the ASCII one, and a Unicode
// domain is found by its A-label.
func TestOldKeysRefolded(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := testdb.Open(t, dialect)
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		old := map[string][2]string{ // email, username → the keys strings.ToLower gave them
			"\u212Aate@example.com|kelvin": {"kate@example.com", "kelvin"},
			"ada@Bücher.example|ada":       {"ada@bücher.example", "ada"},
			"inci@example.com|\u0130nci":   {"inci@example.com", "inci"},
		}
		ids := map[string]uuid.UUID{}
		for who, keys := range old {
			email, username, _ := strings.Cut(who, "|")
			u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: email, Username: username, PasswordHash: "x",
				Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}
			testdb.Must(t, st.CreateUser(ctx, u, nil, nil))
			testdb.Must(t, st.GORM().Exec("UPDATE users SET email_key = ?, username_key = ? WHERE id = ?", keys[0], keys[1], u.ID).Error)
			ids[username] = u.ID
		}
		if u, err := st.UserRowByLogin(ctx, "inci"); err != nil || u.ID != ids["\u0130nci"] {
			t.Fatalf("before the start, the old key is used: %v, %v", u, err)
		}

		migrateBelow(t, st, 11) // the database as the change found it
		testdb.Must(t, st.Migrate(ctx))
		for login, want := range map[string]uuid.UUID{
			"kate@example.com":          uuid.Nil,
			"\u212Aate@example.com":     ids["kelvin"], // its holder still logs in with it
			"ada@xn--bcher-kva.example": ids["ada"],
			"ada@BÜCHER.example":        ids["ada"],
			"inci":                      uuid.Nil,
			"\u0130NCI":                 ids["\u0130nci"],
		} {
			u, err := st.UserRowByLogin(ctx, login)
			switch {
			case want == uuid.Nil && !errors.Is(err, store.ErrNotFound):
				t.Errorf("%q found %v, %v; want ErrNotFound", login, u, err)
			case want != uuid.Nil && (err != nil || u.ID != want):
				t.Errorf("%q found %v, %v; want %s", login, u, err, want)
			}
		}
		kate := &models.User{ID: uuid.Must(uuid.NewV7()), Email: "kate@example.com", Username: "kate", PasswordHash: "x",
			Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}
		testdb.Must(t, st.CreateUser(ctx, kate, nil, nil))
	})
}
