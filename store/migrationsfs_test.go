package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestMigrationsNumberedWithoutGaps: each dialect's view of store/migrations
// holds the migrations 1..N, one file each, named alike for both dialects,
// and each is the shared file of its number or the dialect's own, byte for
// byte.
func TestMigrationsNumberedWithoutGaps(t *testing.T) {
	var names [][]string
	for _, d := range []string{store.SQLite, store.Postgres} {
		view, err := store.Migrations(d)
		testdb.Must(t, err)
		list, err := fs.Glob(view, "*.sql")
		testdb.Must(t, err)
		if len(list) < 11 {
			t.Fatalf("%s: %d migrations: %v", d, len(list), list)
		}
		for i, name := range list {
			v, err := goose.NumericComponent(name)
			testdb.Must(t, err)
			if v != int64(i+1) {
				t.Fatalf("%s: migration %d is %s; want the numbers 1..%d without a gap", d, i+1, name, len(list))
			}
			got, err := fs.ReadFile(view, name)
			testdb.Must(t, err)
			base := strings.TrimSuffix(name, ".sql")
			var from []string
			for _, file := range []string{base + ".sql", base + "." + d + ".sql"} {
				if want, err := os.ReadFile(filepath.Join("migrations", file)); err == nil && bytes.Equal(got, want) {
					from = append(from, file)
				}
			}
			if len(from) != 1 {
				t.Errorf("%s: %s is %v; want exactly one of %s.sql and %s.%s.sql", d, name, from, base, base, d)
			}
		}
		testdb.Must(t, fstest.TestFS(view, list...))
		names = append(names, list)
	}
	if !slices.Equal(names[0], names[1]) {
		t.Fatalf("the dialects' migrations differ:\n%v\n%v", names[0], names[1])
	}
}

// TestMigrationStatusNames: goose reports each migration of a migrated
// database by its number and the name NNNNN_name.sql, as before the
// dialects shared a directory.
func TestMigrationStatusNames(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		st := testdb.Open(t, d)
		m, err := st.Migrator()
		testdb.Must(t, err)
		status, err := m.Status(context.Background())
		testdb.Must(t, err)
		for i, s := range status {
			if s.Version != int64(i+1) || !s.Applied || !strings.HasPrefix(s.Name, fmt.Sprintf("%05d_", i+1)) ||
				strings.Count(s.Name, ".") != 1 {
				t.Errorf("status %d: %+v; want version %d applied, named %05d_name.sql", i, s, i+1, i+1)
			}
		}
	})
}
