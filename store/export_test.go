package store

import "gorm.io/gorm"

// GORM exposes the handle to tests that inspect the schema.
func (s *Store) GORM() *gorm.DB { return s.db }

// The outbox's statements, for the test of their query plans.
const (
	OutboxQueued      = queued
	OutboxFailing     = failing
	DeleteFinishedSQL = deleteFinishedSQL
)

func (s *Store) ClaimSQL() string { return s.claimSQL() }
