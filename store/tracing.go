package store

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/tracing"
)

// traceStatements makes every statement run through GORM with a traced
// context (a request's, or a worker's span) a child span of it: its name is
// the operation and table, its db.query.text the statement as sent, with its
// placeholders and never its bound values (they hold MACs, hashes and
// addresses). Outside a recording span it costs a context lookup.
func traceStatements(db *gorm.DB) error {
	system := systemName(db.Dialector.Name())
	cb := db.Callback()
	for _, p := range []struct {
		op            string // "": the statement's first word
		before, after registerer
	}{
		{"INSERT", cb.Create().Before("*"), cb.Create().After("*")},
		{"SELECT", cb.Query().Before("*"), cb.Query().After("*")},
		{"UPDATE", cb.Update().Before("*"), cb.Update().After("*")},
		{"DELETE", cb.Delete().Before("*"), cb.Delete().After("*")},
		{"", cb.Row().Before("*"), cb.Row().After("*")},
		{"", cb.Raw().Before("*"), cb.Raw().After("*")},
	} {
		op := p.op
		if err := p.before.Register("authsvc:trace_before", startStatement); err != nil {
			return err
		}
		if err := p.after.Register("authsvc:trace_after", func(tx *gorm.DB) { endStatement(tx, system, op) }); err != nil {
			return err
		}
	}
	return nil
}

// registerer is a GORM callback about to be registered.
type registerer interface {
	Register(name string, fn func(*gorm.DB)) error
}

const spanKey = "authsvc:span"

func startStatement(tx *gorm.DB) {
	ctx := tx.Statement.Context
	if ctx == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	ctx, span := tracing.StartWith(ctx, nil, "db", trace.SpanKindClient)
	tx.Statement.Context = ctx
	tx.InstanceSet(spanKey, span)
}

func endStatement(tx *gorm.DB, system, op string) {
	v, ok := tx.InstanceGet(spanKey)
	if !ok {
		return
	}
	span, ok := v.(trace.Span)
	if !ok {
		return
	}
	defer span.End()
	text := tx.Statement.SQL.String()
	if op == "" {
		op = strings.ToUpper(firstWord(text))
	}
	name := op
	if t := tx.Statement.Table; t != "" {
		name += " " + t
	}
	if name == "" {
		name = "db"
	}
	span.SetName(name)
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", system),
		attribute.String("db.query.text", text),
		attribute.Int64("db.response.returned_rows", tx.Statement.RowsAffected),
	}
	if op != "" {
		attrs = append(attrs, attribute.String("db.operation.name", op))
	}
	if t := tx.Statement.Table; t != "" {
		attrs = append(attrs, attribute.String("db.collection.name", t))
	}
	span.SetAttributes(attrs...)
	if err := tx.Error; err != nil && err != gorm.ErrRecordNotFound {
		// The kind only: a driver's message may quote a value.
		span.SetStatus(codes.Error, "statement failed")
	}
}

// transaction runs fn in a transaction of its own, as gorm's Transaction
// does (rolled back on an error or a panic), inside a span "transaction" of
// the caller's trace with a child span each for BEGIN and for COMMIT or
// ROLLBACK: a commit's wait (a lock, an fsync) shows. Outside a recording
// span the spans cost nothing.
func (s *Store) transaction(ctx context.Context, fn func(tx *gorm.DB) error) (err error) {
	system := attribute.String("db.system.name", systemName(s.dialect))
	ctx, span := tracing.StartWith(ctx, nil, "transaction", trace.SpanKindInternal, system)
	defer span.End()
	step := func(name string, do func() error) error {
		_, sp := tracing.StartWith(ctx, nil, name, trace.SpanKindClient, system, attribute.String("db.operation.name", name))
		defer sp.End()
		err := do()
		if err != nil {
			sp.SetStatus(codes.Error, "statement failed") // the kind only, as for statements
		}
		return err
	}
	var tx *gorm.DB
	if err := step("BEGIN", func() error { tx = s.db.WithContext(ctx).Begin(); return tx.Error }); err != nil {
		span.SetStatus(codes.Error, "not begun")
		return err
	}
	done := false
	defer func() {
		if !done || err != nil {
			step("ROLLBACK", func() error { return tx.Rollback().Error })
			span.SetStatus(codes.Error, "rolled back")
		}
	}()
	err = fn(tx)
	done = true
	if err != nil {
		return err
	}
	return step("COMMIT", func() error { return tx.Commit().Error })
}

// systemName is a dialect's db.system.name.
func systemName(dialect string) string {
	if dialect == Postgres {
		return "postgresql"
	}
	return "sqlite"
}

func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t\n("); i >= 0 {
		return s[:i]
	}
	return s
}
