package store

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// AddIdentity links an external identity to its user. An identity linked
// before (to anyone) gives a *ConflictError for "identity".
func (s *Store) AddIdentity(ctx context.Context, id *models.Identity) error {
	if err := translate(s.conn(ctx).Create(id).Error); err != nil {
		return err
	}
	return s.listIdentityProviders(ctx, id.UserID)
}

// IdentityBySubject is the identity a provider's subject names.
func (s *Store) IdentityBySubject(ctx context.Context, provider, subject string) (*models.Identity, error) {
	var id models.Identity
	if err := s.conn(ctx).Take(&id, "provider = ? AND subject = ?", provider, subject).Error; err != nil {
		return nil, translate(err)
	}
	return &id, nil
}

// Identity is the user's identity with this id; ErrNotFound when the user has none such.
func (s *Store) Identity(ctx context.Context, userID, id uuid.UUID) (*models.Identity, error) {
	var ident models.Identity
	if err := s.conn(ctx).Take(&ident, "id = ? AND user_id = ?", id, userID).Error; err != nil {
		return nil, translate(err)
	}
	return &ident, nil
}

// Identities lists the user's linked identities, oldest first.
func (s *Store) Identities(ctx context.Context, userID uuid.UUID) ([]models.Identity, error) {
	var list []models.Identity
	err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&list).Error
	return list, err
}

// UseIdentity records a sign-in with the identity, and the address the provider gave for it.
func (s *Store) UseIdentity(ctx context.Context, id uuid.UUID, email string, now time.Time) error {
	return s.conn(ctx).Model(&models.Identity{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"email": email, "last_used_at": now}).Error
}

// DeleteIdentity unlinks the user's identity; ErrNotFound when the user has no such identity.
func (s *Store) DeleteIdentity(ctx context.Context, userID, id uuid.UUID) error {
	res := s.conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&models.Identity{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.listIdentityProviders(ctx, userID)
}

// DeleteIdentities unlinks every identity of the user.
func (s *Store) DeleteIdentities(ctx context.Context, userID uuid.UUID) error {
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.Identity{}).Error; err != nil {
		return err
	}
	return s.listIdentityProviders(ctx, userID)
}

// listIdentityProviders keeps users.identity_providers, which user views
// show, in step with the identities.
func (s *Store) listIdentityProviders(ctx context.Context, userID uuid.UUID) error {
	var names []string
	if err := s.conn(ctx).Model(&models.Identity{}).Where("user_id = ?", userID).Pluck("provider", &names).Error; err != nil {
		return err
	}
	err := s.conn(ctx).Model(&models.User{}).Where("id = ?", userID).
		UpdateColumn("identity_providers", strings.Join(models.SortedSet(names), " ")).Error
	if err != nil {
		return err
	}
	return s.userChanged(ctx, userID)
}

// UsernameTaken reports whether an account has this username (compared folded).
func (s *Store) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&models.User{}).Where("username_key = ?", FoldKey(username)).Limit(1).Count(&n).Error
	return n > 0, err
}

// CreateProviderFlow stores a flow in progress and drops every expired one
// of anyone (housekeeping).
func (s *Store) CreateProviderFlow(ctx context.Context, f *models.ProviderFlow) error {
	return s.createDroppingExpired(ctx, f, &models.ProviderFlow{}, f.CreatedAt)
}

// UseProviderFlow takes the flow whose state has this MAC, if it is unused
// and unexpired at now, and marks it used: of two callbacks with one state,
// one gets it. ErrNotFound otherwise.
func (s *Store) UseProviderFlow(ctx context.Context, stateHash []byte, now time.Time) (*models.ProviderFlow, error) {
	f := &models.ProviderFlow{}
	return f, s.useOnce(ctx, f, "state_hash", stateHash, now)
}

// CreateProviderCode stores a one-time code for an app and drops every
// expired one of anyone (housekeeping).
func (s *Store) CreateProviderCode(ctx context.Context, c *models.ProviderCode) error {
	return s.createDroppingExpired(ctx, c, &models.ProviderCode{}, c.CreatedAt)
}

// UseProviderCode takes the one-time code with this MAC, as UseProviderFlow a state.
func (s *Store) UseProviderCode(ctx context.Context, codeHash []byte, now time.Time) (*models.ProviderCode, error) {
	c := &models.ProviderCode{}
	return c, s.useOnce(ctx, c, "code_hash", codeHash, now)
}

// useOnce marks the row of row's table whose column holds hash used, if it
// is unused and unexpired at now, and reads it into row; ErrNotFound when
// there is no such row.
func (s *Store) useOnce(ctx context.Context, row any, column string, hash []byte, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		res := tx.conn(ctx).Model(row).
			Where(column+" = ? AND used_at IS NULL AND expires_at > ?", hash, now).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		return translate(tx.conn(ctx).Take(row, column+" = ?", hash).Error)
	})
}
