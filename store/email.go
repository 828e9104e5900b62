package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// SupersedeEmailTokens deletes the user's earlier tokens of the purpose (a new
// link replaces the older ones) and, for housekeeping, every token of anyone
// that expired before now.
func (s *Store) SupersedeEmailTokens(ctx context.Context, userID uuid.UUID, purpose string, now time.Time) error {
	return s.conn(ctx).Where("(user_id = ? AND purpose = ?) OR expires_at <= ?", userID, purpose, now).
		Delete(&models.EmailToken{}).Error
}

// CreateEmailToken stores a mailed link's token, which holds only its MAC.
// Call SupersedeEmailTokens first on the same transaction.
func (s *Store) CreateEmailToken(ctx context.Context, t *models.EmailToken) error {
	return translate(s.conn(ctx).Create(t).Error)
}

// EmailTokenByHash finds a token by its MAC, used or not.
func (s *Store) EmailTokenByHash(ctx context.Context, hash []byte) (*models.EmailToken, error) {
	var t models.EmailToken
	if err := s.conn(ctx).Take(&t, "token_hash = ?", hash).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// UseEmailToken marks the token used if it is still unused and unexpired at
// now, and reports whether it did: of two concurrent uses, one sees true.
func (s *Store) UseEmailToken(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&models.EmailToken{}).
		Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).
		Update("used_at", now)
	return res.RowsAffected == 1, res.Error
}

// DeleteEmailTokens removes the user's mailed email links of the purpose ("":
// all): the address they confirm is no longer the one in question.
func (s *Store) DeleteEmailTokens(ctx context.Context, userID uuid.UUID, purpose string) error {
	q := s.conn(ctx).Where("user_id = ?", userID)
	if purpose != "" {
		q = q.Where("purpose = ?", purpose)
	}
	return q.Delete(&models.EmailToken{}).Error
}

// CancelEmailChange drops the user's address change in progress, if any: the
// pending address and its confirmation links.
func (s *Store) CancelEmailChange(ctx context.Context, userID uuid.UUID) error {
	res := s.conn(ctx).Model(&models.User{}).Where("id = ? AND pending_email IS NOT NULL", userID).
		UpdateColumn("pending_email", nil)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected > 0 {
		if err := s.userChanged(ctx, userID); err != nil {
			return err
		}
	}
	return s.DeleteEmailTokens(ctx, userID, models.EmailChange)
}
