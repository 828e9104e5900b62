package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestSQLiteBusyIsUnavailable: a write that finds another connection holding
// the lock after busy_timeout is recognised by SQLite's result code, not by the
// text of its message.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db") + "?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)"

	holder, err := sql.Open("sqlite", dsn)
	testdb.Must(t, err)
	t.Cleanup(func() { holder.Close() })
	conn, err := holder.Conn(ctx)
	testdb.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.ExecContext(ctx, "CREATE TABLE t (x INTEGER)")
	testdb.Must(t, err)
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE") // holds the write lock until rolled back
	testdb.Must(t, err)
	t.Cleanup(func() { conn.ExecContext(ctx, "ROLLBACK") })

	// The second writer goes through GORM and the driver as the store does.
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	testdb.Must(t, err)
	sqlDB, err := db.DB()
	testdb.Must(t, err)
	t.Cleanup(func() { sqlDB.Close() })
	busy := db.WithContext(ctx).Exec("INSERT INTO t VALUES (1)").Error
	if busy == nil {
		t.Fatal("write beside a held write lock succeeded")
	}
	if !store.IsUnavailable(busy) {
		t.Fatalf("busy error not recognised: %v", busy)
	}
	if !store.IsUnavailable(fmt.Errorf("create user: %w", busy)) {
		t.Fatalf("wrapped busy error not recognised: %v", busy)
	}

	// Other SQLite errors are faults, and so is an error that merely says "locked".
	other := db.WithContext(ctx).Exec("INSERT INTO missing VALUES (1)").Error
	if other == nil || store.IsUnavailable(other) {
		t.Fatalf("error %v taken for unavailability", other)
	}
	if text := errors.New("database is locked (5) (SQLITE_BUSY)"); store.IsUnavailable(text) {
		t.Fatal("a plain error was recognised by its text")
	}
}
