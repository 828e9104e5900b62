package store

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
)

// Every time the store hands the database is in UTC, whatever the zone of
// the caller's time.Time. SQLite keeps times as text and compares them as
// text, so a time written or compared in another zone would sort wrongly
// against one in UTC; PostgreSQL's timestamptz does not care, and gets the
// same.
//
// This is done in one place, for every statement: the pool GORM runs
// statements on, and each transaction begun on it, convert every time.Time
// and *time.Time argument to UTC on its way to the driver (utcPool, set up
// by Open). Models created, update maps and columns, WHERE comparisons and
// Raw and Exec statements all pass through it, so no method of the store
// and no caller converts a time for the database. The caller's values are
// left as they are.
//
// Not through it: statements on the *sql.DB that SQL returns (migrations,
// tests), and times inside a JSON text such as audit details, which are as
// the clock gives them (cli.Run's clock is in UTC).
func useUTC(db *gorm.DB) {
	db.ConnPool = &utcPool{db.ConnPool}
	db.Statement.ConnPool = db.ConnPool
}

// utcPool is GORM's connection pool with its statements' times in UTC.
// GORM prepares statements only with PrepareStmt, which the store does not
// use, so PrepareContext passes through.
type utcPool struct{ gorm.ConnPool }

func (p *utcPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.ConnPool.ExecContext(ctx, query, inUTC(args)...)
}

func (p *utcPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.ConnPool.QueryContext(ctx, query, inUTC(args)...)
}

func (p *utcPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.ConnPool.QueryRowContext(ctx, query, inUTC(args)...)
}

// BeginTx begins a transaction whose statements' times are in UTC too
// (gorm.ConnPoolBeginner).
func (p *utcPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	b, ok := p.ConnPool.(gorm.TxBeginner)
	if !ok {
		return nil, gorm.ErrInvalidTransaction
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	db, err := p.GetDBConn()
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	return &utcTx{Tx: tx, db: db}, nil
}

// GetDBConn is the *sql.DB below (gorm.GetDBConnector), for gorm.DB.DB.
func (p *utcPool) GetDBConn() (*sql.DB, error) {
	switch c := p.ConnPool.(type) {
	case *sql.DB:
		return c, nil
	case gorm.GetDBConnector:
		return c.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// utcTx is a transaction begun on a utcPool. Commit and Rollback are the
// *sql.Tx's, which makes GORM treat it as a transaction (gorm.TxCommitter):
// a nested one takes a savepoint.
type utcTx struct {
	*sql.Tx
	db *sql.DB
}

func (t *utcTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, query, inUTC(args)...)
}

func (t *utcTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, query, inUTC(args)...)
}

func (t *utcTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, query, inUTC(args)...)
}

func (t *utcTx) GetDBConn() (*sql.DB, error) { return t.db, nil }

// inUTC is args with each time.Time and non-nil *time.Time in UTC. args is
// not changed: it may be the caller's.
func inUTC(args []any) []any {
	var out []any
	for i, a := range args {
		var t time.Time
		switch v := a.(type) {
		case time.Time:
			t = v
		case *time.Time:
			if v == nil {
				continue
			}
			t = *v
		default:
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = t.UTC()
	}
	if out == nil {
		return args
	}
	return out
}
