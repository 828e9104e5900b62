package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// FeedPosition is a place in the revocation feed: after the entry with
// sequence number Seq.
type FeedPosition struct {
	Seq int64
}

// FeedEntry is one revoked session and when its last access token expires.
type FeedEntry struct {
	Position  FeedPosition
	SessionID uuid.UUID
	ExpiresAt time.Time
}

// feedLockKey is the advisory lock under which revocations take their
// sequence numbers (shared) and the feed reads them (exclusive); migration
// 00010 names it too.
const feedLockKey = 1717929316

// feedLockWait bounds how long a feed read waits for revocations in flight;
// past it the read lists nothing new, and the next poll tries again.
const feedLockWait = "1s"

// errFeedBusy: revocations were in flight for longer than feedLockWait.
var errFeedBusy = errors.New("store: revocations in flight")

// RevocationsAfter lists at most limit revocations after pos whose access
// tokens have not all expired at now, in feed order. A later call can never
// find an entry before a position it returned: on PostgreSQL it reads once
// the revocations in flight have committed (see migration 00010), and lists
// nothing new when they take longer than feedLockWait.
func (s *Store) RevocationsAfter(ctx context.Context, pos FeedPosition, now time.Time, limit int) ([]FeedEntry, error) {
	var rows []models.Revocation
	read := func(tx *Store) error {
		return tx.conn(ctx).Raw(`SELECT seq, session_id, expires_at FROM revocations
			WHERE expires_at > ? AND seq > ? ORDER BY seq LIMIT ?`, now, pos.Seq, limit).Scan(&rows).Error
	}
	var err error
	if s.dialect == Postgres {
		err = s.InTx(ctx, func(tx *Store) error {
			if err := tx.conn(ctx).Exec("SET LOCAL lock_timeout = '" + feedLockWait + "'").Error; err != nil {
				return err
			}
			if err := tx.conn(ctx).Exec("SELECT pg_advisory_xact_lock(?)", feedLockKey).Error; err != nil {
				if isLockTimeout(err) {
					return errFeedBusy
				}
				return err
			}
			return read(tx)
		})
	} else {
		err = read(s)
	}
	if errors.Is(err, errFeedBusy) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]FeedEntry, len(rows))
	for i, r := range rows {
		out[i] = FeedEntry{Position: FeedPosition{Seq: r.Seq}, SessionID: r.SessionID, ExpiresAt: r.ExpiresAt}
	}
	return out, nil
}

// DeleteExpiredRevocations drops entries whose access tokens have all expired:
// they have left the feed.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	return s.conn(ctx).Exec("DELETE FROM revocations WHERE expires_at <= ?", now).Error
}
