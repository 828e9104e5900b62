package store

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

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
// dir. It refuses a directory where a migration is both shared and
// dialect-specific, lacks the file of a dialect, carries a suffix that is no
// dialect, or shares its number with another.
func dialectMigrations(dir fs.FS, dialect string) (*migrationsFS, error) {
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
	v := &migrationsFS{dir: dir, files: map[string]string{}}
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
		if shared, ok := byDialect[""]; ok {
			if len(byDialect) > 1 {
				return nil, fmt.Errorf("migrations: %s: a file for both dialects and one for a dialect", name)
			}
			v.files[name] = shared
			continue
		}
		for _, d := range migrationDialects {
			if _, ok := byDialect[d]; !ok {
				return nil, fmt.Errorf("migrations: %s: no file for %s (a migration that does nothing there is SELECT 1)", name, d)
			}
		}
		v.files[name] = byDialect[dialect]
	}
	return v, nil
}

// migrationsFS is one dialect's view of the migrations directory (Migrations).
type migrationsFS struct {
	dir   fs.FS
	files map[string]string // the name goose sees → the file in dir
}

func (v *migrationsFS) Open(name string) (fs.File, error) {
	if name == "." {
		entries, err := v.ReadDir(".")
		if err != nil {
			return nil, err
		}
		return &migrationsDir{entries: entries}, nil
	}
	file, ok := v.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := v.dir.Open(file)
	if err != nil {
		return nil, err
	}
	return renamedFile{f, name}, nil
}

// ReadDir lists the migrations by the names goose sees, in name order.
func (v *migrationsFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	out := make([]fs.DirEntry, 0, len(v.files))
	for name, file := range v.files {
		info, err := fs.Stat(v.dir, file)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(renamedInfo{info, name}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// renamedFile is a migration file under the name goose sees.
type renamedFile struct {
	fs.File
	name string
}

func (f renamedFile) Stat() (fs.FileInfo, error) {
	info, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return renamedInfo{info, f.name}, nil
}

type renamedInfo struct {
	fs.FileInfo
	name string
}

func (i renamedInfo) Name() string { return i.name }

// migrationsDir is the view's directory, opened.
type migrationsDir struct {
	entries []fs.DirEntry
	read    int
}

func (d *migrationsDir) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (d *migrationsDir) Close() error               { return nil }

func (d *migrationsDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}

func (d *migrationsDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.read:]
	if n <= 0 {
		d.read = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.read += len(rest)
	return rest, nil
}

type dirInfo struct{}

func (dirInfo) Name() string       { return "." }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }
