package store

import (
	"context"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// ListUsersSQL is the statement a page of ListUsersPage runs for f (with a
// bounded search's window ending at windowEnd), for the tests of its plan.
func (s *Store) ListUsersSQL(f UserFilter, windowEnd uuid.UUID) (string, []any) {
	stmt := s.usersQuery(context.Background(), f, windowEnd).Session(&gorm.Session{DryRun: true}).Find(&[]models.User{}).Statement
	return stmt.SQL.String(), stmt.Vars
}

// WindowSQL is the statement that finds where a bounded search's window ends.
func (s *Store) WindowSQL(f UserFilter) (string, []any) {
	stmt := s.windowQuery(context.Background(), f).Session(&gorm.Session{DryRun: true}).Find(&[]uuid.UUID{}).Statement
	return stmt.SQL.String(), stmt.Vars
}
