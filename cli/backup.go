package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/glebarez/go-sqlite" // "sqlite", to check a copy without the store's settings
	"github.com/pressly/goose/v3"

	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/store"
)

// exitError ends the program with its own status and message (Run prints it
// after "authsvc: ").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

const (
	pgDumpHint = "backup: the database is PostgreSQL: back it up with pg_dump, e.g.\n" +
		"  pg_dump --format=custom \"$DATABASE_URL\" > authsvc.dump\n" +
		"and keep SECRET_KEY with it (the dump holds sealed signing keys and MACs it opens)"
	pgRestoreHint = "restore: the database is PostgreSQL: restore a pg_dump with pg_restore, e.g.\n" +
		"  pg_restore --clean --if-exists --dbname \"$DATABASE_URL\" authsvc.dump\n" +
		"with every instance stopped, and the SECRET_KEY the dump was made with"
)

// isPostgres resolves DATABASE_URL (environment and .env) before the rest
// of the configuration is checked, so that PostgreSQL gets its hint whatever
// else is set. It reports whether the database is PostgreSQL.
func isPostgres(env Env) (bool, error) {
	path := env.DotEnv
	if path == "" {
		path = ".env"
	}
	getenv, err := config.WithDotEnv(env.Getenv, path)
	if err != nil {
		return false, err
	}
	raw := strings.TrimSpace(getenv("DATABASE_URL"))
	if raw == "" {
		return false, nil // the default is SQLite; loadConfig says so
	}
	d, err := store.Dialect(raw)
	return err == nil && d == store.Postgres, nil
}

// sqliteConfig loads the configuration of a SQLite database: its path.
func sqliteConfig(env Env) (config.Config, string, error) {
	cfg, _, err := loadConfig(env)
	if err != nil {
		return cfg, "", err
	}
	path := store.SQLitePath(cfg.DatabaseURL)
	if path == "" {
		return cfg, "", errors.New("DATABASE_URL: not a SQLite database")
	}
	return cfg, path, nil
}

// keyReminder says which key the database's sealed data needs.
func keyReminder(cfg config.Config, dbPath string) string {
	if cfg.SecretKey != "" {
		return "SECRET_KEY (as set now)"
	}
	return "the key file " + config.SecretKeyFile(dbPath)
}

func backup(ctx context.Context, args []string, env Env) error {
	fl := flags("backup", "backup [-force] PATH", env)
	force := fl.Bool("force", false, "replace PATH if it exists")
	if err := parse(fl, args); err != nil {
		return err
	}
	if fl.NArg() != 1 || fl.Arg(0) == "" {
		return fmt.Errorf("%w: authsvc backup [-force] PATH", errUsage)
	}
	if pg, err := isPostgres(env); err != nil {
		return err
	} else if pg {
		return &exitError{code: 2, msg: pgDumpHint}
	}
	cfg, dbPath, err := sqliteConfig(env)
	if err != nil {
		return err
	}
	target, err := filepath.Abs(fl.Arg(0))
	if err != nil {
		return err
	}
	dbInfo, err := os.Stat(dbPath)
	if err != nil {
		return fmt.Errorf("backup: no database at %s (%v)", dbPath, err)
	}
	if info, err := os.Lstat(target); err == nil {
		switch {
		case os.SameFile(dbInfo, info):
			return fmt.Errorf("backup: %s is the database itself", target)
		case info.IsDir():
			return fmt.Errorf("backup: %s is a directory; name the file to write", target)
		case !*force:
			return fmt.Errorf("backup: %s exists; remove it or pass -force to replace it", target)
		}
		for _, p := range []string{target, target + "-wal", target + "-shm", target + "-journal"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("backup: replace %s: %w", target, err)
			}
		}
	}
	// VACUUM INTO accepts an empty file: create it first, exclusively and 0600
	// (whatever the umask), so no one else's file is overwritten and the copy
	// is never readable by others, not even while it is written.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = errors.Join(f.Chmod(0o600), f.Close())
	if err == nil {
		err = vacuumInto(ctx, cfg.DatabaseURL, target)
	}
	var version int64
	if err == nil {
		version, err = checkBackup(ctx, target)
		if err != nil {
			err = fmt.Errorf("the copy does not check: %w", err)
		}
	}
	if err != nil {
		os.Remove(target)
		return fmt.Errorf("backup: %w", err)
	}
	size := int64(-1)
	if info, err := os.Stat(target); err == nil {
		size = info.Size()
	}
	fmt.Fprintf(env.Stdout, "backup: wrote %s (%d bytes, schema version %d, integrity ok)\n", target, size, version)
	fmt.Fprintf(env.Stdout, "backup: it holds sealed signing keys and MACs: it is of use only with %s; keep that key, apart from the backup\n",
		keyReminder(cfg, dbPath))
	return nil
}

// vacuumInto writes a consistent copy of the live database to target (an
// empty file): VACUUM INTO reads one snapshot, and under WAL the service goes
// on writing meanwhile. The path is bound as a parameter, never spliced into
// the SQL; it is absolute, so SQLite cannot read it as a file: URI.
func vacuumInto(ctx context.Context, databaseURL, target string) error {
	// Held shared like a service's: no restore replaces the database meanwhile.
	st, err := holdStore(databaseURL, func() (*store.Store, error) {
		return store.Open(ctx, databaseURL, store.Options{MaxOpenConns: 1})
	})
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := st.SQL()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", target); err != nil {
		return fmt.Errorf("VACUUM INTO: %w", err)
	}
	return nil
}

// openReadOnly opens a SQLite file that nothing writes (a backup) read-only,
// as it is: immutable, so no -wal or -shm is made or read beside it.
func openReadOnly(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Path: abs}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// checkBackup checks that path is a sound authsvc SQLite database that this
// binary can run (its schema is not newer than this binary's migrations), and
// returns its schema version.
func checkBackup(ctx context.Context, path string) (int64, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return 0, fmt.Errorf("%s is not a readable SQLite database: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, err
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("%s is not a readable SQLite database: %w", path, err)
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("%s fails the integrity check: %s", path, strings.Join(problems, "; "))
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('goose_db_version', 'users')").Scan(&tables); err != nil {
		return 0, err
	}
	if tables != 2 {
		return 0, fmt.Errorf("%s is not an authsvc database (no goose_db_version or users table)", path)
	}
	var version int64
	if err := db.QueryRowContext(ctx,
		"SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&version); err != nil {
		return 0, fmt.Errorf("%s: schema version: %w", path, err)
	}
	latest, err := latestMigration()
	if err != nil {
		return 0, err
	}
	if version > latest {
		return 0, fmt.Errorf("%s has schema version %d, newer than this authsvc's %d: use the authsvc (or a newer one) that made it",
			path, version, latest)
	}
	return version, nil
}

// latestMigration is the version of this binary's last SQLite migration.
func latestMigration() (int64, error) {
	dir, err := store.Migrations(store.SQLite)
	if err != nil {
		return 0, err
	}
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return 0, err
		}
		latest = max(latest, v)
	}
	return latest, nil
}

func restore(ctx context.Context, args []string, env Env) error {
	fl := flags("restore", "restore PATH   (with the service stopped)", env)
	if err := parse(fl, args); err != nil {
		return err
	}
	if fl.NArg() != 1 || fl.Arg(0) == "" {
		return fmt.Errorf("%w: authsvc restore PATH", errUsage)
	}
	if pg, err := isPostgres(env); err != nil {
		return err
	} else if pg {
		return &exitError{code: 2, msg: pgRestoreHint}
	}
	cfg, dbPath, err := sqliteConfig(env)
	if err != nil {
		return err
	}
	source := fl.Arg(0)
	srcInfo, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if !srcInfo.Mode().IsRegular() {
		return fmt.Errorf("restore: %s is not a file", source)
	}
	if info, err := os.Stat(dbPath); err == nil && os.SameFile(info, srcInfo) {
		return fmt.Errorf("restore: %s is the database itself", source)
	}
	// No service may have the database open: each holds the lock shared for
	// its life (serve); this takes it exclusively, and keeps it until the
	// database is replaced, so no service starts meanwhile.
	release, err := lockDatabase(dbPath, true)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer release()
	version, err := checkBackup(ctx, source)
	if err != nil {
		return fmt.Errorf("restore: refused: %w", err)
	}
	if err := replaceFile(source, dbPath); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(env.Stdout, "restore: %s is now the database %s (schema version %d; the next start applies newer migrations)\n",
		source, dbPath, version)
	reminder := fmt.Sprintf("restore: it needs the key it was made with: %s", keyReminder(cfg, dbPath))
	if keyFile := config.SecretKeyFile(dbPath); cfg.SecretKey == "" {
		if _, err := os.Stat(keyFile); err != nil {
			reminder += fmt.Sprintf(" — there is none: put the backed-up %s there (or set SECRET_KEY) before the start,"+
				" or a new key is made and the restored signing keys cannot be opened", filepath.Base(keyFile))
		}
	}
	fmt.Fprintln(env.Stdout, reminder)
	return nil
}

// replaceFile makes dst a copy of src, atomically: the copy is written to a
// temporary file beside dst (0600), synced, and renamed over dst. The old
// database's -wal, -shm and -journal go first: SQLite would otherwise replay
// them into the new file.
func replaceFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	for _, p := range []string{dst + "-wal", dst + "-shm", dst + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}
