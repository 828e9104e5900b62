package store

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// Times are written in UTC: SQLite compares them as text, which orders
// correctly only when every value has the same offset.

// EnqueueMail queues a mail. Inside InTx it commits or rolls back with the rest
// of the transaction, so a reset token and its mail exist together or not at all.
func (s *Store) EnqueueMail(ctx context.Context, m models.OutboxMail) error {
	m.NextAttemptAt = m.NextAttemptAt.UTC()
	if !m.CreatedAt.IsZero() {
		m.CreatedAt = m.CreatedAt.UTC()
	}
	m.ClaimedUntil, m.SentAt = nil, nil
	return translate(s.conn(ctx).Create(&m).Error)
}

// ClaimMail leases up to limit due, unsent, unleased mails to the caller until
// now+lease, oldest due first. Concurrent claimers never get the same mail.
//
// The claim is one UPDATE … RETURNING, so it is atomic on its own: on
// PostgreSQL its subquery skips rows another claim has locked (SKIP LOCKED) and
// rechecks the rest once their lock is released; on SQLite a writing statement
// takes the database's write lock before it reads, so claims run one at a time
// whatever mode InTx begins its transactions in.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]models.OutboxMail, error) {
	now = now.UTC()
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	claim := `UPDATE mail_outbox SET claimed_until = ? WHERE id IN (
		SELECT id FROM mail_outbox
		WHERE sent_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
		ORDER BY next_attempt_at, id LIMIT ?` + lock + `
	) RETURNING *`
	var mails []models.OutboxMail
	if err := s.conn(ctx).Raw(claim, now.Add(lease), now, now, limit).Scan(&mails).Error; err != nil {
		return nil, translate(err)
	}
	// RETURNING keeps no order.
	slices.SortFunc(mails, func(a, b models.OutboxMail) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return mails, nil
}

// MarkMailSent records delivery and wipes the sealed payload, which holds a live
// token that nobody needs any more. ErrNotFound: no unsent mail has that id.
func (s *Store) MarkMailSent(ctx context.Context, id uuid.UUID, now time.Time) error {
	res := s.conn(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND sent_at IS NULL", id).
		Updates(map[string]any{
			"sent_at":        now.UTC(),
			"payload_sealed": []byte{}, // empty, not NULL: the column is NOT NULL
			"claimed_until":  nil,
			"last_error":     "",
		})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkMailFailed records a failed attempt, schedules the next one and ends the
// lease. ErrNotFound: no unsent mail has that id.
func (s *Store) MarkMailFailed(ctx context.Context, id uuid.UUID, attempts int, next time.Time, lastErr string) error {
	res := s.conn(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND sent_at IS NULL", id).
		Updates(map[string]any{
			"attempts":        attempts,
			"next_attempt_at": next.UTC(),
			"last_error":      lastErr,
			"claimed_until":   nil,
		})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// PendingMailCount counts the mails not yet sent, due or not.
func (s *Store) PendingMailCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.OutboxMail{}).Where("sent_at IS NULL").Count(&n).Error
	return n, translate(err)
}
