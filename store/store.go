// Package store is authsvc's database: it opens SQLite or PostgreSQL, applies the
// versioned migrations, and owns every query. Driver errors are turned into the
// sentinels of errors.go so callers never look at SQL errors.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/glebarez/sqlite"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is the database handle. Inside InTx it is bound to the transaction, so the
// same methods serve both; outside a transaction each method runs on its own.
type Store struct {
	db      *gorm.DB
	dialect string
	hooks   *changeHooks
	pending *[]Change  // inside InTx: the changes to announce once it commits
	txSpan  trace.Span // inside InTx: the transaction's span, its statements' parent
}

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int // 0: a default suited to the dialect
}

// Open connects and checks the connection. It does not migrate.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	dialect, path, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	var dial gorm.Dialector
	maxOpen := opts.MaxOpenConns
	switch dialect {
	case SQLite:
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		// WAL lets readers run beside the writer; immediate transactions take the
		// write lock at BEGIN so two writers queue on busy_timeout instead of failing
		// with "database is locked" when one upgrades from reading to writing.
		// (No _time_format here: this driver stops reading options after it, and
		// would silently ignore _txlock. Its default format is the one we want.)
		dsn := "file:" + path +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
			"&_pragma=synchronous(NORMAL)&_txlock=immediate"
		dial = sqlite.Open(dsn)
		if maxOpen == 0 {
			maxOpen = 8
		}
	case Postgres:
		dial = postgres.Open(databaseURL)
		if maxOpen == 0 {
			maxOpen = 20
		}
	}
	db, err := gorm.Open(dial, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // transactions are explicit (InTx)
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", scrub(err, databaseURL))
	}
	useUTC(db)
	if err := traceStatements(db); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// Keep connections open: an auth service that reconnects per request spends its
	// time in TLS and auth handshakes instead of answering.
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(0)
	sqlDB.SetConnMaxLifetime(time.Hour)
	s := &Store{db: db, dialect: dialect, hooks: &changeHooks{}}
	if err := s.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", scrub(err, databaseURL))
	}
	return s, nil
}

// createPrivate creates the SQLite file with mode 0600, whatever the umask, if it
// does not exist yet. SQLite would create it 0644 less the umask; it gives the
// -wal and -shm files the mode of the database file, so all three stay private.
// An existing file keeps the mode its owner gave it.
func createPrivate(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process created it first
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(f.Chmod(0o600), f.Close())
}

func (s *Store) Dialect() string { return s.dialect }

// SQL returns the underlying pool, for migrations and shutdown.
func (s *Store) SQL() (*sql.DB, error) { return s.db.DB() }

func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// InTx runs fn in one transaction; fn's store is bound to it. On SQLite the
// transaction holds the write lock from its start, on PostgreSQL callers lock the
// rows they decide on (forUpdate).
// The changes it makes are announced after it commits (OnChange), and on
// PostgreSQL by a NOTIFY that the commit delivers. It returns without waiting
// for other instances to hear them unless fn asked to (AwaitPropagation).
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.pending != nil { // nested: announced with the outermost transaction
		return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(&Store{db: tx, dialect: s.dialect, hooks: s.hooks, pending: s.pending, txSpan: s.txSpan})
		})
	}
	var pending []Change
	var merged Change
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		bound := &Store{db: tx, dialect: s.dialect, hooks: s.hooks, pending: &pending,
			txSpan: trace.SpanFromContext(tx.Statement.Context)}
		if err := fn(bound); err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		var err error
		merged, err = bound.notify(ctx, pending)
		return err
	})
	if err == nil {
		s.publish(merged)
	}
	return err
}

// conn is the handle for a statement on behalf of ctx. In a traced
// transaction the statement's span is a child of the transaction's, not of
// the caller's span.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if s.txSpan != nil && s.txSpan.IsRecording() {
		ctx = trace.ContextWithSpan(ctx, s.txSpan)
	}
	return s.db.WithContext(ctx)
}

// forUpdate locks the selected rows on PostgreSQL. SQLite has no row locks and
// needs none: its immediate transactions already serialise writers.
func (s *Store) forUpdate(q *gorm.DB) *gorm.DB {
	if s.dialect == Postgres {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}
