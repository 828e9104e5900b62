package store

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

// migrationFiles is store/migrations: see migrations/README.md.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the migrations of a dialect as goose reads them: every file
// of store/migrations that applies to it, each named NNNNN_name.sql, whether
// it is NNNNN_name.sql (both dialects) or NNNNN_name.<dialect>.sql (this one
// only). Goose knows a migration by its number alone, so a migration keeps
// its number, and every database its version, whichever file holds it.
func Migrations(dialect string) (fs.FS, error) {
	dir, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return dialectMigrations(dir, dialect)
}

// migrationDialects are the suffixes a migration file may carry.
var migrationDialects = []string{SQLite, Postgres}

// dialectMigrations is the view Migrations describes of the migrations in
// dir: the files that apply to dialect, read into memory under the names
// goose sees. It refuses a directory where a migration is both shared and
// dialect-specific, lacks the file of a dialect, carries a suffix that is no
// dialect, or shares its number with another.
func dialectMigrations(dir fs.FS, dialect string) (fs.FS, error) {
	if !slices.Contains(migrationDialects, dialect) {
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return nil, err
	}
	files := map[string]map[string]string{} // NNNNN_name.sql → dialect ("" for both) → file
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || !strings.HasSuffix(file, ".sql") {
			continue
		}
		name, d := strings.TrimSuffix(file, ".sql"), ""
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name, d = name[:i], name[i+1:]
			if !slices.Contains(migrationDialects, d) || strings.Contains(name, ".") {
				return nil, fmt.Errorf("migrations: %s: name it NNNNN_name.sql, or NNNNN_name.DIALECT.sql with DIALECT one of %s",
					file, strings.Join(migrationDialects, ", "))
			}
		}
		name += ".sql"
		if files[name] == nil {
			files[name] = map[string]string{}
		}
		files[name][d] = file
	}
	// A map of the files is a file system (testing/fstest's MapFS is just
	// that, and well tested): the migrations are a few kilobytes.
	view := fstest.MapFS{}
	versions := map[int64]string{}
	for name, byDialect := range files {
		version, err := goose.NumericComponent(name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", name, err)
		}
		if other, ok := versions[version]; ok {
			return nil, fmt.Errorf("migrations: %s and %s have the same number", min(name, other), max(name, other))
		}
		versions[version] = name
		file, shared := byDialect[""]
		switch {
		case shared && len(byDialect) > 1:
			return nil, fmt.Errorf("migrations: %s: a file for both dialects and one for a dialect", name)
		case !shared:
			for _, d := range migrationDialects {
				if _, ok := byDialect[d]; !ok {
					return nil, fmt.Errorf("migrations: %s: no file for %s (a migration that does nothing there is SELECT 1)", name, d)
				}
			}
			file = byDialect[dialect]
		}
		data, err := fs.ReadFile(dir, file)
		if err != nil {
			return nil, err
		}
		view[name] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	return view, nil
}
