package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// ReplaceEmailCode stores a new sign-in code for its address: the address's
// earlier codes and links die with it, and, for housekeeping, every code of
// anyone that expired before now.
func (s *Store) ReplaceEmailCode(ctx context.Context, c *models.EmailCode, now time.Time) error {
	if err := s.conn(ctx).Where("email_key = ? OR expires_at <= ?", c.EmailKey, now).Delete(&models.EmailCode{}).Error; err != nil {
		return err
	}
	return s.conn(ctx).Create(c).Error
}

// LockEmailCodeByToken finds the code a link's token (its MAC) belongs to, and
// locks it on PostgreSQL; used or expired ones too.
func (s *Store) LockEmailCodeByToken(ctx context.Context, tokenHash []byte) (*models.EmailCode, error) {
	var c models.EmailCode
	if err := s.forUpdate(s.conn(ctx)).Take(&c, "token_hash = ?", tokenHash).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// LockEmailCode finds the address's code (there is at most one), and locks
// it on PostgreSQL; used or expired ones too.
func (s *Store) LockEmailCode(ctx context.Context, emailKey string) (*models.EmailCode, error) {
	var c models.EmailCode
	err := s.forUpdate(s.conn(ctx)).Where("email_key = ?", emailKey).Order("created_at DESC").Take(&c).Error
	if err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// FailEmailCode counts a wrong try of the code.
func (s *Store) FailEmailCode(ctx context.Context, id uuid.UUID) error {
	return s.conn(ctx).Model(&models.EmailCode{}).Where("id = ?", id).UpdateColumn("failures", gorm.Expr("failures + 1")).Error
}

// UseEmailCode marks the code (and its link) used.
func (s *Store) UseEmailCode(ctx context.Context, id uuid.UUID, now time.Time) error {
	return s.conn(ctx).Model(&models.EmailCode{}).Where("id = ?", id).UpdateColumn("used_at", now).Error
}

// DeleteEmailCodes removes the user's codes: the address they were sent to is
// no longer the account's, or the account has signed in another way.
func (s *Store) DeleteEmailCodes(ctx context.Context, userID uuid.UUID) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&models.EmailCode{}).Error
}
