package store

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrator applies the versioned schema of the store's dialect.
type Migrator struct{ p *goose.Provider }

func (s *Store) Migrator() (*Migrator, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, err := Migrations(s.dialect)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several instances starting together: one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, sqlDB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{p: p}, nil
}

// Up applies every pending migration.
func (m *Migrator) Up(ctx context.Context) error {
	_, err := m.p.Up(ctx)
	return err
}

// Down rolls back the most recent migration.
func (m *Migrator) Down(ctx context.Context) error {
	_, err := m.p.Down(ctx)
	return err
}

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Version int64
	Name    string
	Applied bool
}

func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// Migrate applies every pending migration: the start-up path. A database
// that was upgraded also gets its identifiers' keys folded anew (refoldKeys):
// only rows from before an upgrade can hold keys folded another way, so an
// up-to-date database is not scanned at every start.
func (s *Store) Migrate(ctx context.Context) error {
	m, err := s.Migrator()
	if err != nil {
		return err
	}
	applied, err := m.p.Up(ctx)
	if err != nil || len(applied) == 0 {
		return err
	}
	return s.refoldKeys(ctx)
}
