package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// CreateWebhook inserts a webhook endpoint (its secret already sealed).
func (s *Store) CreateWebhook(ctx context.Context, w *models.Webhook) error {
	return translate(s.conn(ctx).Create(w).Error)
}

// Webhooks lists every webhook endpoint by creation, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]models.Webhook, error) {
	var list []models.Webhook
	err := s.conn(ctx).Order("created_at, id").Find(&list).Error
	return list, err
}

// WebhookByID loads a webhook endpoint; ErrNotFound when there is none.
func (s *Store) WebhookByID(ctx context.Context, id uuid.UUID) (*models.Webhook, error) {
	var w models.Webhook
	if err := s.conn(ctx).Take(&w, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return &w, nil
}

// LockWebhook loads a webhook endpoint for a change (locked on PostgreSQL).
func (s *Store) LockWebhook(ctx context.Context, id uuid.UUID) (*models.Webhook, error) {
	var w models.Webhook
	if err := s.forUpdate(s.conn(ctx)).Take(&w, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return &w, nil
}

// UpdateWebhook writes the endpoint's url, events, description and disabled flag.
func (s *Store) UpdateWebhook(ctx context.Context, w *models.Webhook) error {
	res := s.conn(ctx).Model(&models.Webhook{}).Where("id = ?", w.ID).Updates(map[string]any{
		"url": w.URL, "events": w.Events, "description": w.Description,
		"disabled": w.Disabled, "updated_at": w.UpdatedAt,
	})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteWebhook deletes the endpoint and, with it, its deliveries (pending
// ones included: they are never sent). ErrNotFound when there is none.
func (s *Store) DeleteWebhook(ctx context.Context, id uuid.UUID) error {
	return s.InTx(ctx, func(tx *Store) error {
		// Explicitly, not only by the foreign key's cascade: SQLite enforces
		// it only with foreign_keys on.
		if err := tx.conn(ctx).Where("webhook_id = ?", id).Delete(&models.WebhookDelivery{}).Error; err != nil {
			return err
		}
		res := tx.conn(ctx).Delete(&models.Webhook{}, "id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}
