package store

import (
	"context"

	"github.com/authsvc/authsvc/models"
)

// AddAudit records a security event. Call it on the transaction that makes the
// change it records, so the two commit or fail together.
func (s *Store) AddAudit(ctx context.Context, e *models.AuditEvent) error {
	return s.conn(ctx).Create(e).Error
}
