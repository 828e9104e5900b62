package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authsvc/authsvc/models"
)

// ReplaceEmailCode stores a new sign-in code for its address: the address's
// earlier codes and links die with it, and, for housekeeping, every code of
// anyone that expired before now.
// The address's row is replaced in place (one per address, a unique key), so
// that of concurrent requests, on any instance, only the last one's code lives.
func (s *Store) ReplaceEmailCode(ctx context.Context, c *models.EmailCode, now time.Time) error {
	if err := s.conn(ctx).Where("expires_at <= ? AND email_key <> ?", now, c.EmailKey).Delete(&models.EmailCode{}).Error; err != nil {
		return err
	}
	return s.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "email_key"}},
		DoUpdates: clause.AssignmentColumns([]string{
			"id", "email", "user_id", "code_hash", "token_hash", "failures", "created_at", "expires_at", "used_at",
		}),
	}).Create(c).Error
}

// LockEmailCodeByToken finds the code a link's token (its MAC) belongs to, and
// locks it on PostgreSQL; used or expired ones too.
func (s *Store) LockEmailCodeByToken(ctx context.Context, tokenHash []byte) (*models.EmailCode, error) {
	return s.emailCode(s.forUpdate(s.conn(ctx)), "token_hash = ?", tokenHash)
}

// EmailCodeByToken is LockEmailCodeByToken without the lock.
func (s *Store) EmailCodeByToken(ctx context.Context, tokenHash []byte) (*models.EmailCode, error) {
	return s.emailCode(s.conn(ctx), "token_hash = ?", tokenHash)
}

// LockEmailCode finds the address's code (there is at most one), and locks
// it on PostgreSQL; used or expired ones too.
func (s *Store) LockEmailCode(ctx context.Context, emailKey string) (*models.EmailCode, error) {
	return s.emailCode(s.forUpdate(s.conn(ctx)), "email_key = ?", emailKey)
}

// EmailCode is LockEmailCode without the lock.
func (s *Store) EmailCode(ctx context.Context, emailKey string) (*models.EmailCode, error) {
	return s.emailCode(s.conn(ctx), "email_key = ?", emailKey)
}

func (s *Store) emailCode(q *gorm.DB, cond string, arg any) (*models.EmailCode, error) {
	var c models.EmailCode
	if err := q.Where(cond, arg).Order("created_at DESC").Take(&c).Error; err != nil {
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
