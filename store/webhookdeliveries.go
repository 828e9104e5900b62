package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// deliveryPending is the predicate of the partial index
// webhook_deliveries_due_idx, written the same way so both databases use it.
const deliveryPending = "status = 'pending'"

// ClaimedDelivery is a delivery leased to a worker, with what it needs of its
// webhook.
type ClaimedDelivery struct {
	models.WebhookDelivery
	URL          string
	SecretSealed []byte
}

// subscribed tells whether a webhook's space-separated events take typ.
func subscribed(events, typ string) bool {
	for _, e := range strings.Fields(events) {
		if e == "*" || e == typ {
			return true
		}
	}
	return false
}

// EnqueueEvent queues an event for every enabled webhook subscribed to typ
// (by name or "*"): one pending delivery each, due now. Call it on the
// transaction of the change, so the event commits with it or not at all.
// Without webhooks it costs one query on the (empty) webhooks table.
// webhook.test is never sent this way: see EnqueueEventFor.
func (s *Store) EnqueueEvent(ctx context.Context, typ string, eventID uuid.UUID, payload []byte, now time.Time) error {
	return s.enqueueEvent(ctx, typ, eventID, func() ([]byte, error) { return payload, nil }, now)
}

func (s *Store) enqueueEvent(ctx context.Context, typ string, eventID uuid.UUID, payload func() ([]byte, error), now time.Time) error {
	if typ == EventWebhookTest {
		return nil
	}
	var hooks []models.Webhook
	if err := s.conn(ctx).Model(&models.Webhook{}).Select("id", "events").
		Where("NOT disabled").Find(&hooks).Error; err != nil {
		return translate(err)
	}
	var rows []models.WebhookDelivery
	var body []byte
	for _, h := range hooks {
		if !subscribed(h.Events, typ) {
			continue
		}
		if body == nil {
			var err error
			if body, err = payload(); err != nil {
				return err
			}
		}
		rows = append(rows, newDelivery(h.ID, typ, eventID, body, now))
	}
	if len(rows) == 0 {
		return nil
	}
	return translate(s.conn(ctx).Create(&rows).Error)
}

// EnqueueEventFor queues an event for one webhook, whatever it subscribes to
// and even if it is disabled (it is then sent once the webhook is enabled
// again, within the 24 h of retries): for webhook.test. The body is
// EventPayload(eventID, typ, now, data). ErrNotFound: no such webhook.
func (s *Store) EnqueueEventFor(ctx context.Context, webhookID uuid.UUID, typ string, eventID uuid.UUID, data map[string]any, now time.Time) error {
	payload, err := EventPayload(eventID, typ, now, data)
	if err != nil {
		return err
	}
	var n int64
	if err := s.conn(ctx).Model(&models.Webhook{}).Where("id = ?", webhookID).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	d := newDelivery(webhookID, typ, eventID, payload, now)
	return translate(s.conn(ctx).Create(&d).Error)
}

func newDelivery(webhookID uuid.UUID, typ string, eventID uuid.UUID, payload []byte, now time.Time) models.WebhookDelivery {
	return models.WebhookDelivery{
		ID: uuid.Must(uuid.NewV7()), WebhookID: webhookID, EventID: eventID, EventType: typ,
		Payload: string(payload), Status: models.DeliveryPending, NextAttemptAt: now, CreatedAt: now,
	}
}

// ClaimDeliveries leases up to limit due, pending, unleased deliveries of
// enabled webhooks to the caller until now+lease, oldest due first, with their
// webhook's URL and sealed secret. Concurrent claimers, in any instance, never
// get the same delivery while its lease runs.
//
// As ClaimMail: the claim is one UPDATE … RETURNING, atomic on its own; on
// PostgreSQL its subquery skips rows another claim has locked (SKIP LOCKED),
// on SQLite writing statements run one at a time.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ClaimedDelivery, error) {
	var ds []models.WebhookDelivery
	if err := s.conn(ctx).Raw(s.claimDeliveriesSQL(), now.Add(lease), now, now, limit).Scan(&ds).Error; err != nil {
		return nil, translate(err)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, 0, len(ds))
	for _, d := range ds {
		if !slices.Contains(ids, d.WebhookID) {
			ids = append(ids, d.WebhookID)
		}
	}
	var hooks []models.Webhook
	if err := s.conn(ctx).Select("id", "url", "secret_sealed").Where("id IN ?", ids).Find(&hooks).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]ClaimedDelivery, 0, len(ds))
	for _, d := range ds {
		i := slices.IndexFunc(hooks, func(h models.Webhook) bool { return h.ID == d.WebhookID })
		if i < 0 { // deleted meanwhile: the cascade takes the delivery too
			continue
		}
		out = append(out, ClaimedDelivery{WebhookDelivery: d, URL: hooks[i].URL, SecretSealed: hooks[i].SecretSealed})
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b ClaimedDelivery) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out, nil
}

// claimDeliveriesSQL leases due deliveries: claimed_until, now, now, limit.
func (s *Store) claimDeliveriesSQL() string {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE OF webhook_deliveries SKIP LOCKED"
	}
	return `UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN (
		SELECT webhook_deliveries.id FROM webhook_deliveries JOIN webhooks ON webhooks.id = webhook_deliveries.webhook_id
		WHERE webhook_deliveries.` + deliveryPending + ` AND webhook_deliveries.next_attempt_at <= ?
		AND (webhook_deliveries.claimed_until IS NULL OR webhook_deliveries.claimed_until <= ?)
		AND NOT webhooks.disabled
		ORDER BY webhook_deliveries.next_attempt_at, webhook_deliveries.id LIMIT ?` + lock + `
	) RETURNING *`
}

// DeliverySucceeded records a delivery answered with a 2xx status.
// ErrNotFound: no pending delivery has that id.
func (s *Store) DeliverySucceeded(ctx context.Context, id uuid.UUID, statusCode int, now time.Time) error {
	return s.updateDelivery(ctx, id, map[string]any{
		"status":           models.DeliveryDelivered,
		"attempts":         gorm.Expr("attempts + 1"),
		"last_status_code": statusCode,
		"last_error":       "",
		"delivered_at":     now,
		"claimed_until":    nil,
	})
}

// DeliveryFailed records a failed attempt (statusCode 0: no answer) and ends
// the lease: the delivery is tried again at next, or, when next is zero, ends
// failed. ErrNotFound: no pending delivery has that id.
func (s *Store) DeliveryFailed(ctx context.Context, id uuid.UUID, statusCode int, errText string, next time.Time, now time.Time) error {
	var code any
	if statusCode != 0 {
		code = statusCode
	}
	u := map[string]any{
		"attempts":         gorm.Expr("attempts + 1"),
		"last_status_code": code,
		"last_error":       errText,
		"claimed_until":    nil,
	}
	if next.IsZero() {
		u["status"] = models.DeliveryFailed
	} else {
		u["next_attempt_at"] = next
	}
	return s.updateDelivery(ctx, id, u)
}

// ReleaseDelivery ends the lease on a delivery without counting an attempt
// (a worker stopping, or out of lease): any worker may claim it at once.
func (s *Store) ReleaseDelivery(ctx context.Context, id uuid.UUID) error {
	return s.updateDelivery(ctx, id, map[string]any{"claimed_until": nil})
}

func (s *Store) updateDelivery(ctx context.Context, id uuid.UUID, u map[string]any) error {
	res := s.conn(ctx).Model(&models.WebhookDelivery{}).Where("id = ? AND "+deliveryPending, id).Updates(u)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// WebhookDeliveries returns a webhook's latest deliveries, newest first, at
// most limit.
func (s *Store) WebhookDeliveries(ctx context.Context, webhookID uuid.UUID, limit int) ([]models.WebhookDelivery, error) {
	var out []models.WebhookDelivery
	err := s.conn(ctx).Where("webhook_id = ?", webhookID).Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// WebhookDelivery returns one delivery. ErrNotFound: none has that id.
func (s *Store) WebhookDelivery(ctx context.Context, id uuid.UUID) (*models.WebhookDelivery, error) {
	var d models.WebhookDelivery
	if err := s.conn(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, translate(err)
	}
	return &d, nil
}

// deleteFinishedDeliveriesSQL deletes finished deliveries before a time, up
// to a limit. It walks the primary key: ids are UUIDv7, so the ones below an
// id made of the time come first (pending ones that old are rare: a disabled
// webhook's). DELETE takes no LIMIT on PostgreSQL, hence the subquery.
const deleteFinishedDeliveriesSQL = `DELETE FROM webhook_deliveries WHERE id IN (
	SELECT id FROM webhook_deliveries
	WHERE id < ? AND created_at < ? AND status <> 'pending'
	LIMIT ?)`

// DeleteFinishedDeliveries deletes up to limit deliveries delivered or failed
// and created before the given time, and reports how many it deleted.
// Pending deliveries, however old, stay.
func (s *Store) DeleteFinishedDeliveries(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := s.conn(ctx).Exec(deleteFinishedDeliveriesSQL, v7Floor(before), before, limit)
	return res.RowsAffected, translate(res.Error)
}

// v7Floor is the lowest UUIDv7 of the millisecond t falls in.
func v7Floor(t time.Time) uuid.UUID {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = 0x70 // version 7
	u[8] = 0x80 // RFC 4122 variant
	return u
}

// PendingDeliveryCount counts the deliveries not yet made (the metrics'
// backlog); the partial index of due deliveries covers it.
func (s *Store) PendingDeliveryCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.WebhookDelivery{}).Where("status = ?", models.DeliveryPending).Count(&n).Error
	return n, translate(err)
}

// FailingDeliveryCount counts the pending deliveries whose last attempt
// failed: every attempt that did not fail ended its delivery.
func (s *Store) FailingDeliveryCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.WebhookDelivery{}).Where("status = ? AND attempts > 0", models.DeliveryPending).Count(&n).Error
	return n, translate(err)
}
