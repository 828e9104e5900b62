package store

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDialectMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	dir := fstest.MapFS{
		"00001_init.sqlite.sql":   file("sqlite 1"),
		"00001_init.postgres.sql": file("postgres 1"),
		"00002_shared.sql":        file("both 2"),
		"README.md":               file("not a migration"),
	}
	for d, want := range map[string]map[string]string{
		SQLite:   {"00001_init.sql": "sqlite 1", "00002_shared.sql": "both 2"},
		Postgres: {"00001_init.sql": "postgres 1", "00002_shared.sql": "both 2"},
	} {
		view, err := dialectMigrations(dir, d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		names, err := fs.Glob(view, "*")
		if err != nil || len(names) != len(want) {
			t.Fatalf("%s: %v, %v; want %v", d, names, err, want)
		}
		for name, content := range want {
			if got, err := fs.ReadFile(view, name); err != nil || string(got) != content {
				t.Errorf("%s: %s = %q, %v; want %q", d, name, got, err, content)
			}
		}
		if err := fstest.TestFS(view, "00001_init.sql", "00002_shared.sql"); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}

	for name, dir := range map[string]fstest.MapFS{
		"shared and per dialect": {"00001_a.sql": file(""), "00001_a.sqlite.sql": file(""), "00001_a.postgres.sql": file("")},
		"one dialect only":       {"00001_a.sqlite.sql": file("")},
		"not a dialect":          {"00001_a.mysql.sql": file("")},
		"a typo of a dialect":    {"00001_a.sqlite.sql": file(""), "00001_a.postgre.sql": file("")},
		"a dot in the name":      {"00001_a.b.sqlite.sql": file(""), "00001_a.b.postgres.sql": file("")},
		"one number twice":       {"00001_a.sql": file(""), "00001_b.sql": file("")},
		"no number":              {"init.sql": file("")},
	} {
		if _, err := dialectMigrations(dir, SQLite); err == nil || !strings.HasPrefix(err.Error(), "migrations: ") {
			t.Errorf("%s: %v; want it refused", name, err)
		}
	}
	if _, err := dialectMigrations(fstest.MapFS{}, "mysql"); err == nil {
		t.Error("a view for an unknown dialect")
	}
}
