package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/authsvc/authsvc/models"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// Migrator applies the versioned schema of the store's dialect.
type Migrator struct{ p *goose.Provider }

func (s *Store) Migrator() (*Migrator, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, err := fs.Sub(migrations, "migrations/"+s.dialect)
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

// Migrate applies every pending migration: the start-up path.
func (s *Store) Migrate(ctx context.Context) error {
	m, err := s.Migrator()
	if err != nil {
		return err
	}
	if err := m.Up(ctx); err != nil {
		return err
	}
	return s.refoldKeys(ctx)
}

// refoldKeys gives rows with a non-ASCII email or username the keys EmailKey
// and FoldKey give now: the SQL migration folded with lower() (SQLite's leaves
// non-ASCII letters alone), and keys written before emails compared in ASCII
// folded the Kelvin sign into k ("\u212Aate@" held the slot of "kate@") and
// kept Unicode domains. A row whose true key another row already holds keeps
// its old key (the two stay distinct, as they were).
func (s *Store) refoldKeys(ctx context.Context) error {
	nonASCII := "email GLOB '*[^ -~]*' OR username GLOB '*[^ -~]*'"
	if s.dialect == Postgres {
		nonASCII = "email ~ '[^ -~]' OR username ~ '[^ -~]'"
	}
	var rows []models.User
	err := s.conn(ctx).Select("id", "email", "username", "email_key", "username_key").
		Where(nonASCII).Find(&rows).Error
	if err != nil {
		return err
	}
	for _, u := range rows {
		if u.EmailKey == EmailKey(u.Email) && u.UsernameKey == FoldKey(u.Username) {
			continue
		}
		err := s.conn(ctx).Model(&models.User{}).Where("id = ?", u.ID).
			UpdateColumns(map[string]any{"email_key": EmailKey(u.Email), "username_key": FoldKey(u.Username)}).Error
		if err := translate(err); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}
