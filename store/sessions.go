package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// CreateSession inserts a session with its first refresh token.
func (s *Store) CreateSession(ctx context.Context, sess *models.Session, rt *models.RefreshToken) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.conn(ctx).Create(sess).Error; err != nil {
			return translate(err)
		}
		return translate(tx.conn(ctx).Create(rt).Error)
	})
}

// SessionByID loads one session, live or not.
func (s *Store) SessionByID(ctx context.Context, id uuid.UUID) (*models.Session, error) {
	var sess models.Session
	if err := s.conn(ctx).Take(&sess, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return &sess, nil
}

// LockSession loads a session and, on PostgreSQL, locks it for the transaction:
// every refresh of one session runs one at a time.
func (s *Store) LockSession(ctx context.Context, id uuid.UUID) (*models.Session, error) {
	var sess models.Session
	if err := s.forUpdate(s.conn(ctx)).Take(&sess, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return &sess, nil
}

// LiveSessions lists a user's sessions that are neither revoked nor expired, newest first.
func (s *Store) LiveSessions(ctx context.Context, userID uuid.UUID, now time.Time) ([]models.Session, error) {
	var out []models.Session
	err := s.conn(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).
		Order("created_at DESC, id DESC").Find(&out).Error
	return out, err
}

// UseSessionOf finds the live session the refresh token with this MAC belongs
// to, records its use (at now, from ip with userAgent) and, on PostgreSQL,
// locks it for the transaction: every refresh of one session runs one at a
// time. One statement, where finding, locking and touching took three.
// ErrNotFound for an unknown token or a revoked or expired session.
func (s *Store) UseSessionOf(ctx context.Context, tokenHash []byte, now time.Time, ip, userAgent string) (*models.Session, error) {
	var sess models.Session
	err := s.conn(ctx).Raw(`UPDATE sessions SET last_used_at = ?, ip = ?, user_agent = ?
		WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?) AND revoked_at IS NULL AND expires_at > ?
		RETURNING *`, now, ip, userAgent, tokenHash, now).Scan(&sess).Error
	if err != nil {
		return nil, err
	}
	if sess.ID == uuid.Nil {
		return nil, ErrNotFound
	}
	return &sess, nil
}

// Revoke says which sessions to end. Exactly one selector is used: SessionID,
// UserIDs, or All.
type Revoke struct {
	SessionID uuid.UUID
	UserIDs   []uuid.UUID
	All       bool
	// Except keeps this session of UserIDs live (the caller's own).
	Except uuid.UUID
	// With UserIDs: only the sessions opened with this factor (a passkey), or
	// authenticated with this method (an RFC 8176 amr value).
	FactorID uuid.UUID
	AMR      string
	Reason   string
	Now      time.Time
	// AccessTTL bounds when the last access token of a revoked session expires;
	// revocation-feed entries drop out after that.
	AccessTTL time.Duration
}

// RevokeSessions ends the live sessions r selects and adds each to the revocation
// feed, returning the ids revoked. Use it inside the transaction of the change
// that causes it (password change, role change, deletion…).
func (s *Store) RevokeSessions(ctx context.Context, r Revoke) ([]uuid.UUID, error) {
	q := s.forUpdate(s.conn(ctx).Model(&models.Session{})).
		Where("revoked_at IS NULL AND expires_at > ?", r.Now)
	switch {
	case r.All:
	case r.SessionID != uuid.Nil:
		q = q.Where("id = ?", r.SessionID)
	case len(r.UserIDs) > 0:
		q = q.Where("user_id IN ?", r.UserIDs)
		if r.Except != uuid.Nil {
			q = q.Where("id <> ?", r.Except)
		}
		if r.FactorID != uuid.Nil {
			q = q.Where("factor_id = ?", r.FactorID)
		}
		if r.AMR != "" { // amr is space-separated
			q = q.Where("(' ' || amr || ' ') LIKE ?", "% "+r.AMR+" %")
		}
	default:
		return nil, nil
	}
	var live []models.Session
	if err := q.Find(&live).Error; err != nil {
		return nil, err
	}
	if len(live) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(live))
	revs := make([]models.Revocation, len(live))
	for i, sess := range live {
		ids[i] = sess.ID
		exp := r.Now.Add(r.AccessTTL)
		if sess.ExpiresAt.Before(exp) {
			exp = sess.ExpiresAt
		}
		revs[i] = models.Revocation{SessionID: sess.ID, ExpiresAt: exp, CreatedAt: r.Now}
	}
	if err := s.conn(ctx).Model(&models.Session{}).Where("id IN ?", ids).
		Updates(map[string]any{"revoked_at": r.Now, "revoke_reason": r.Reason}).Error; err != nil {
		return nil, err
	}
	if err := s.conn(ctx).CreateInBatches(revs, 500).Error; err != nil {
		return nil, err
	}
	c := Change{Sessions: ids}
	if r.All {
		c = Change{All: true}
	}
	return ids, s.changed(ctx, c)
}

// RefreshTokenByHash finds a refresh token by its MAC.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (*models.RefreshToken, error) {
	var rt models.RefreshToken
	if err := s.conn(ctx).Take(&rt, "token_hash = ?", hash).Error; err != nil {
		return nil, translate(err)
	}
	return &rt, nil
}

// RefreshTokenByID loads one refresh token.
func (s *Store) RefreshTokenByID(ctx context.Context, id uuid.UUID) (*models.RefreshToken, error) {
	var rt models.RefreshToken
	if err := s.conn(ctx).Take(&rt, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return &rt, nil
}

// RetireRefreshToken marks old as retired by next, keeping next sealed for the
// grace window, and inserts next. It reports false when old was already retired
// (a concurrent refresh won), in which case nothing is written.
func (s *Store) RetireRefreshToken(ctx context.Context, oldID uuid.UUID, next *models.RefreshToken, sealedNext []byte, now time.Time) (bool, error) {
	// One statement for both: old is retired, and the token retired before it
	// loses its sealed successor (only the most recently retired token of a
	// session is in grace); nothing at all when old was retired already.
	// (NULLIF(x, x) is a NULL of x's type: PostgreSQL cannot type a bare NULL there.)
	res := s.conn(ctx).Exec(`UPDATE refresh_tokens SET
			retired_at = CASE WHEN id = ? THEN ? ELSE retired_at END,
			successor_id = CASE WHEN id = ? THEN ? ELSE successor_id END,
			successor_sealed = CASE WHEN id = ? THEN ? ELSE NULLIF(successor_sealed, successor_sealed) END
		WHERE session_id = ? AND (id = ? OR successor_sealed IS NOT NULL)
			AND EXISTS (SELECT 1 FROM refresh_tokens old WHERE old.id = ? AND old.retired_at IS NULL)`,
		oldID, now, oldID, next.ID, oldID, sealedNext, next.SessionID, oldID, oldID)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	return true, translate(s.conn(ctx).Create(next).Error)
}
