package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// AddAudit records a security event. Call it on the transaction that makes the
// change it records, so the two commit or fail together.
//
// An event of interest to webhooks (webhookEvents) is queued for the
// subscribed webhooks in the same transaction (EnqueueEvent): it is delivered
// if and only if the change commits. Outside a transaction, AddAudit makes one.
func (s *Store) AddAudit(ctx context.Context, e *models.AuditEvent) error {
	typ, body, ok := webhookEvent(e)
	if !ok {
		return s.conn(ctx).Create(e).Error
	}
	if s.pending == nil { // not in InTx
		return s.InTx(ctx, func(tx *Store) error { return tx.AddAudit(ctx, e) })
	}
	if err := s.conn(ctx).Create(e).Error; err != nil {
		return err
	}
	return s.enqueueEvent(ctx, typ, e.ID, body, e.CreatedAt)
}

// AuditFilter selects a page of audit events for ListAudit, newest first.
// Before is the last id of the previous page (ids are UUIDv7, so time-ordered).
type AuditFilter struct {
	UserID uuid.UUID
	Type   string
	Before uuid.UUID
	Limit  int
}

// ListAudit returns at most f.Limit events, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]models.AuditEvent, error) {
	q := s.conn(ctx).Model(&models.AuditEvent{})
	if f.UserID != uuid.Nil {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Before != uuid.Nil {
		q = q.Where("id < ?", f.Before)
	}
	var out []models.AuditEvent
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, err
}
