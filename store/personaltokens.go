package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// CreatePersonalToken inserts a personal access token.
func (s *Store) CreatePersonalToken(ctx context.Context, t *models.PersonalToken) error {
	return s.conn(ctx).Create(t).Error
}

// PersonalTokenByHash finds a personal access token by its MAC.
func (s *Store) PersonalTokenByHash(ctx context.Context, hash []byte) (*models.PersonalToken, error) {
	var t models.PersonalToken
	if err := s.conn(ctx).Take(&t, "token_hash = ?", hash).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// PersonalTokens lists the user's tokens that have not expired at now, newest first.
func (s *Store) PersonalTokens(ctx context.Context, userID uuid.UUID, now time.Time) ([]models.PersonalToken, error) {
	var list []models.PersonalToken
	err := s.conn(ctx).Where("user_id = ? AND expires_at > ?", userID, now).Order("created_at DESC, id DESC").Find(&list).Error
	return list, err
}

// DeletePersonalToken revokes the user's token; ErrNotFound when the user has none such.
func (s *Store) DeletePersonalToken(ctx context.Context, userID, id uuid.UUID) (*models.PersonalToken, error) {
	t, err := s.PersonalToken(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if err := s.conn(ctx).Delete(&models.PersonalToken{}, "id = ?", id).Error; err != nil {
		return nil, err
	}
	return t, s.changed(ctx, Change{Tokens: []uuid.UUID{id}})
}

// PersonalToken is the user's token with this id; ErrNotFound when the user has none such.
func (s *Store) PersonalToken(ctx context.Context, userID, id uuid.UUID) (*models.PersonalToken, error) {
	var t models.PersonalToken
	if err := s.conn(ctx).Take(&t, "id = ? AND user_id = ?", id, userID).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// DeletePersonalTokens revokes every token of the user, returning how many there were.
func (s *Store) DeletePersonalTokens(ctx context.Context, userID uuid.UUID) (int, error) {
	var ids []uuid.UUID
	if err := s.conn(ctx).Model(&models.PersonalToken{}).Where("user_id = ?", userID).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := s.conn(ctx).Delete(&models.PersonalToken{}, "id IN ?", ids).Error; err != nil {
		return 0, err
	}
	return len(ids), s.changed(ctx, Change{Tokens: ids})
}

// DeleteExpiredPersonalTokens drops tokens that expired before now: they are refused anyway.
func (s *Store) DeleteExpiredPersonalTokens(ctx context.Context, now time.Time) error {
	return s.conn(ctx).Where("expires_at <= ?", now).Delete(&models.PersonalToken{}).Error
}

// TouchPersonalToken records a use of the token at now, unless one was
// recorded within the minute before; it reports whether it recorded this one.
func (s *Store) TouchPersonalToken(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&models.PersonalToken{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, now.Add(-time.Minute)).
		UpdateColumn("last_used_at", now)
	return res.RowsAffected == 1, res.Error
}
