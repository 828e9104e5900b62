package store

import "gorm.io/gorm"

// GORM exposes the handle to tests that inspect the schema.
func (s *Store) GORM() *gorm.DB { return s.db }
