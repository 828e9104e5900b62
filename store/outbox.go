package store

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// queued is a mail neither sent nor given up: the predicate of the partial
// index mail_outbox_due_idx, written the same way so both databases use it.
const queued = "sent_at IS NULL AND given_up_at IS NULL"

// failing is a queued mail whose last attempt failed: mail_outbox_failing_idx.
const failing = queued + " AND attempts > 0"

// deleteFinishedSQL deletes mails sent or given up before a time, up to a limit.
// PostgreSQL's DELETE takes no LIMIT; each branch reads its own partial index.
const deleteFinishedSQL = `DELETE FROM mail_outbox WHERE id IN (
	SELECT id FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < ?
	UNION ALL
	SELECT id FROM mail_outbox WHERE given_up_at IS NOT NULL AND given_up_at < ?
	LIMIT ?)`

// EnqueueMail queues a mail. Inside InTx it commits or rolls back with the rest
// of the transaction, so a reset token and its mail exist together or not at all.
func (s *Store) EnqueueMail(ctx context.Context, m models.OutboxMail) error {
	m.ClaimedUntil, m.SentAt, m.GivenUpAt = nil, nil, nil
	return translate(s.conn(ctx).Create(&m).Error)
}

// ClaimMail leases up to limit due, queued (neither sent nor given up), unleased
// mails to the caller until now+lease, oldest due first. Concurrent claimers never get the same mail.
//
// The claim is one UPDATE … RETURNING, so it is atomic on its own: on
// PostgreSQL its subquery skips rows another claim has locked (SKIP LOCKED) and
// rechecks the rest once their lock is released; on SQLite a writing statement
// takes the database's write lock before it reads, so claims run one at a time
// whatever mode InTx begins its transactions in.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]models.OutboxMail, error) {
	var mails []models.OutboxMail
	if err := s.conn(ctx).Raw(s.claimSQL(), now.Add(lease), now, now, limit).Scan(&mails).Error; err != nil {
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

// claimSQL leases due, queued, unleased mails: claimed_until, now, now, limit.
func (s *Store) claimSQL() string {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return `UPDATE mail_outbox SET claimed_until = ? WHERE id IN (
		SELECT id FROM mail_outbox
		WHERE ` + queued + ` AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
		ORDER BY next_attempt_at, id LIMIT ?` + lock + `
	) RETURNING *`
}

// MarkMailSent records delivery and wipes the sealed payload, which holds a live
// token that nobody needs any more. ErrNotFound: no queued mail has that id.
func (s *Store) MarkMailSent(ctx context.Context, id uuid.UUID, now time.Time) error {
	res := s.conn(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND "+queued, id).
		Updates(map[string]any{
			"sent_at":        now,
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
// lease. ErrNotFound: no queued mail has that id.
func (s *Store) MarkMailFailed(ctx context.Context, id uuid.UUID, attempts int, next time.Time, lastErr string) error {
	res := s.conn(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND "+queued, id).
		Updates(map[string]any{
			"attempts":        attempts,
			"next_attempt_at": next,
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

// MarkMailGivenUp ends a mail unsent for good (its link has expired): it is
// never claimed again, its payload is wiped and reason kept as its last error.
// attempts is the number of delivery attempts made. ErrNotFound: no queued mail
// has that id.
func (s *Store) MarkMailGivenUp(ctx context.Context, id uuid.UUID, attempts int, now time.Time, reason string) error {
	res := s.conn(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND "+queued, id).
		Updates(map[string]any{
			"given_up_at":    now,
			"attempts":       attempts,
			"payload_sealed": []byte{},
			"claimed_until":  nil,
			"last_error":     reason,
		})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteFinishedMail deletes up to limit mails sent or given up before the
// given time, and reports how many it deleted. Queued mails, however old, stay.
func (s *Store) DeleteFinishedMail(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := s.conn(ctx).Exec(deleteFinishedSQL, before, before, limit)
	return res.RowsAffected, translate(res.Error)
}

// PendingMailCount counts the queued mails (neither sent nor given up), due or not.
func (s *Store) PendingMailCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.OutboxMail{}).Where(queued).Count(&n).Error
	return n, translate(err)
}

// FailingMailCount counts the queued mails whose last delivery attempt failed.
// Every attempt that did not fail ended the mail, so these are the queued
// mails with an attempt.
func (s *Store) FailingMailCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.OutboxMail{}).Where(failing).Count(&n).Error
	return n, translate(err)
}
