//go:build linux || darwin || freebsd

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestSQLiteFilesArePrivate: the database and its -wal and -shm files hold
// password hashes and sealed keys, so only their owner may read them. Not
// parallel: it sets the process umask.
func TestSQLiteFilesArePrivate(t *testing.T) {
	// The usual umask, under which SQLite alone would create 0644 files.
	defer syscall.Umask(syscall.Umask(0o022))
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	st, err := store.Open(ctx, "sqlite://"+path, store.Options{})
	testdb.Must(t, err)
	defer st.Close()
	testdb.Must(t, st.Migrate(ctx))
	testdb.Must(t, st.EnsureBuiltinRoles(ctx, time.Now().UTC()))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		testdb.Must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
