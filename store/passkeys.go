package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// AddPasskey stores a user's new passkey and counts it. A credential id
// registered before (by anyone) gives a *ConflictError.
func (s *Store) AddPasskey(ctx context.Context, p *models.Passkey) error {
	if err := translate(s.conn(ctx).Create(p).Error); err != nil {
		return err
	}
	return s.countPasskeys(ctx, p.UserID)
}

// Passkeys lists the user's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID uuid.UUID) ([]models.Passkey, error) {
	var list []models.Passkey
	err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&list).Error
	return list, err
}

// PasskeyOwner is the user whose passkey has the credential id its authenticator presents.
func (s *Store) PasskeyOwner(ctx context.Context, credentialID []byte) (uuid.UUID, error) {
	var p models.Passkey
	if err := s.conn(ctx).Select("user_id").Take(&p, "credential_id = ?", credentialID).Error; err != nil {
		return uuid.Nil, translate(err)
	}
	return p.UserID, nil
}

// LockPasskeyByCredentialID finds a passkey by the id its authenticator
// presents and, on PostgreSQL, locks it: logins with one passkey queue, so
// its signature counter moves one step at a time. Lock its user first
// (LockUser), as every change of a user's passkeys does.
func (s *Store) LockPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*models.Passkey, error) {
	var p models.Passkey
	if err := s.forUpdate(s.conn(ctx)).Take(&p, "credential_id = ?", credentialID).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// UsePasskey stores the passkey's record as a login left it (its counter) and when it was used.
func (s *Store) UsePasskey(ctx context.Context, id uuid.UUID, credential string, now time.Time) error {
	return s.conn(ctx).Model(&models.Passkey{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"credential": credential, "last_used_at": now}).Error
}

// DeletePasskey removes the user's passkey; ErrNotFound when the user has no such passkey.
func (s *Store) DeletePasskey(ctx context.Context, userID, id uuid.UUID) error {
	res := s.conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&models.Passkey{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.countPasskeys(ctx, userID)
}

// DeletePasskeys removes every passkey of the user.
func (s *Store) DeletePasskeys(ctx context.Context, userID uuid.UUID) error {
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.Passkey{}).Error; err != nil {
		return err
	}
	return s.countPasskeys(ctx, userID)
}

// countPasskeys keeps users.passkey_count, which user views show, in step with the passkeys.
func (s *Store) countPasskeys(ctx context.Context, userID uuid.UUID) error {
	err := s.conn(ctx).Exec("UPDATE users SET passkey_count = (SELECT count(*) FROM passkeys WHERE user_id = ?) WHERE id = ?",
		userID, userID).Error
	if err != nil {
		return err
	}
	return s.userChanged(ctx, userID)
}

// CreateWebAuthnChallenge stores a ceremony in progress and drops every
// expired one of anyone (housekeeping).
func (s *Store) CreateWebAuthnChallenge(ctx context.Context, c *models.WebAuthnChallenge) error {
	return s.createDroppingExpired(ctx, c, &models.WebAuthnChallenge{}, c.CreatedAt)
}

// UseWebAuthnChallenge takes the ceremony of kind with this id, if it is
// unused and unexpired at now, and marks it used: of two attempts to finish
// one ceremony, one gets it. ErrNotFound otherwise.
func (s *Store) UseWebAuthnChallenge(ctx context.Context, id uuid.UUID, kind string, now time.Time) (*models.WebAuthnChallenge, error) {
	var c *models.WebAuthnChallenge
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.conn(ctx).Model(&models.WebAuthnChallenge{}).
			Where("id = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", id, kind, now).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		c = &models.WebAuthnChallenge{}
		return translate(tx.conn(ctx).Take(c, "id = ?", id).Error)
	})
	return c, err
}
