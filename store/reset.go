package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// SupersedeResetTokens deletes every earlier reset token of the user (so a new
// request invalidates the older ones) and, for housekeeping, every token of
// anyone that expired before now.
func (s *Store) SupersedeResetTokens(ctx context.Context, userID uuid.UUID, now time.Time) error {
	return s.conn(ctx).Where("user_id = ? OR expires_at <= ?", userID, now).
		Delete(&models.PasswordResetToken{}).Error
}

// CreateResetToken stores a reset token, which holds only the token's MAC.
// Call SupersedeResetTokens first on the same transaction.
func (s *Store) CreateResetToken(ctx context.Context, t *models.PasswordResetToken) error {
	return translate(s.conn(ctx).Create(t).Error)
}

// ResetTokenByHash finds a reset token by its MAC, used or not.
func (s *Store) ResetTokenByHash(ctx context.Context, hash []byte) (*models.PasswordResetToken, error) {
	var t models.PasswordResetToken
	if err := s.conn(ctx).Take(&t, "token_hash = ?", hash).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// UseResetToken marks the token used if it is still unused and unexpired at
// now, and reports whether it did. Of two concurrent resets with one token,
// exactly one sees true.
func (s *Store) UseResetToken(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&models.PasswordResetToken{}).
		Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).
		Update("used_at", now)
	return res.RowsAffected == 1, res.Error
}

// DeleteResetTokens removes the user's reset tokens but except (uuid.Nil: all):
// after a password change or reset, a link mailed earlier must not work any more.
func (s *Store) DeleteResetTokens(ctx context.Context, userID, except uuid.UUID) error {
	return s.conn(ctx).Where("user_id = ? AND id <> ?", userID, except).
		Delete(&models.PasswordResetToken{}).Error
}
