package store

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// FeedPosition is a place in the revocation feed: after the entry written by
// transaction Txid (PostgreSQL; 0 on SQLite) with sequence number Seq.
type FeedPosition struct {
	Txid uint64
	Seq  int64
}

// FeedEntry is one revoked session and when its last access token expires.
type FeedEntry struct {
	Position  FeedPosition
	SessionID uuid.UUID
	ExpiresAt time.Time
}

// RevocationsAfter lists at most limit revocations after pos whose access
// tokens have not all expired at now, in feed order. On PostgreSQL only
// transactions older than every running one are listed (see migration 00007):
// a later call can never find an entry before a position it returned.
func (s *Store) RevocationsAfter(ctx context.Context, pos FeedPosition, now time.Time, limit int) ([]FeedEntry, error) {
	type row struct {
		Seq       int64
		SessionID uuid.UUID
		ExpiresAt time.Time
		Txid      string
	}
	var rows []row
	var err error
	if s.dialect == Postgres {
		err = s.conn(ctx).Raw(`SELECT seq, session_id, expires_at, txid::text AS txid FROM revocations
			WHERE expires_at > ? AND txid < pg_snapshot_xmin(pg_current_snapshot())
			AND (txid, seq) > (CAST(? AS xid8), ?)
			ORDER BY txid, seq LIMIT ?`, utc(now), strconv.FormatUint(pos.Txid, 10), pos.Seq, limit).Scan(&rows).Error
	} else {
		err = s.conn(ctx).Raw(`SELECT seq, session_id, expires_at, '0' AS txid FROM revocations
			WHERE expires_at > ? AND seq > ? ORDER BY seq LIMIT ?`, utc(now), pos.Seq, limit).Scan(&rows).Error
	}
	if err != nil {
		return nil, err
	}
	out := make([]FeedEntry, len(rows))
	for i, r := range rows {
		txid, err := strconv.ParseUint(r.Txid, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = FeedEntry{Position: FeedPosition{Txid: txid, Seq: r.Seq}, SessionID: r.SessionID, ExpiresAt: r.ExpiresAt}
	}
	return out, nil
}

// DeleteExpiredRevocations drops entries whose access tokens have all expired:
// they have left the feed.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	return s.conn(ctx).Exec("DELETE FROM revocations WHERE expires_at <= ?", utc(now)).Error
}
