package store

import (
	"context"
	"errors"

	"github.com/authsvc/authsvc/models"
)

// CountActiveAdmins counts active users holding the admin role. Inside InTx on
// PostgreSQL, call LockAdmins first so concurrent demotions cannot both pass.
func (s *Store) CountActiveAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&models.User{}).
		Joins("JOIN user_roles ur ON ur.user_id = users.id AND ur.role_name = ?", models.RoleAdmin).
		Where("users.status = ?", models.StatusActive).Count(&n).Error
	return n, err
}

// LockAdmins serialises every transaction that may reduce the set of active
// admins, by locking the admin role's row. On SQLite the transaction is already exclusive.
func (s *Store) LockAdmins(ctx context.Context) error {
	var r models.Role
	return translate(s.forUpdate(s.conn(ctx)).Take(&r, "name = ?", models.RoleAdmin).Error)
}

// HasAdmin reports whether any user holds the admin role.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&models.UserRole{}).Where("role_name = ?", models.RoleAdmin).Limit(1).Count(&n).Error
	return n > 0, err
}

// ErrLastAdmin: the change would leave no active admin.
var ErrLastAdmin = errors.New("store: no active admin would remain")

// GuardLastAdmin runs change inside tx and fails with ErrLastAdmin if, after it,
// no active admin remains; the caller's transaction then rolls back. Every
// demotion, deactivation or deletion goes through here: LockAdmins makes
// concurrent ones queue (PostgreSQL), immediate transactions do so on SQLite.
func (s *Store) GuardLastAdmin(ctx context.Context, change func() error) error {
	if err := s.LockAdmins(ctx); err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	n, err := s.CountActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}
