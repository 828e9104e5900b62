package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// Account is a user with what it is granted: role names, the union of their
// permissions, and resource grants. Slices are sorted and never nil.
type Account struct {
	models.User
	Roles       []string
	Permissions []string
	Resources   []string
}

// HasRole reports whether the account holds the role.
func (a *Account) HasRole(name string) bool { return slices.Contains(a.Roles, name) }

// Can reports whether the account holds the permission through one of its roles.
func (a *Account) Can(permission string) bool { return slices.Contains(a.Permissions, permission) }

// CreateUser inserts the user with its roles and resources. Unknown roles give
// ErrNotFound; a taken email or username gives a *ConflictError.
func (s *Store) CreateUser(ctx context.Context, u *models.User, roles, resources []string) error {
	u.EmailKey, u.UsernameKey = EmailKey(u.Email), FoldKey(u.Username)
	return s.InTx(ctx, func(tx *Store) error {
		if err := translate(tx.conn(ctx).Create(u).Error); err != nil {
			return err
		}
		if err := tx.setRoles(ctx, u.ID, roles); err != nil {
			return err
		}
		return tx.setResources(ctx, u.ID, resources)
	})
}

// UserByID loads an account with its grants.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (*Account, error) {
	var u models.User
	if err := s.conn(ctx).Take(&u, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return s.withGrants(ctx, u)
}

// UserByLogin finds an account by email or username, case-insensitively.
func (s *Store) UserByLogin(ctx context.Context, login string) (*Account, error) {
	u, err := s.UserRowByLogin(ctx, login)
	if err != nil {
		return nil, err
	}
	return s.withGrants(ctx, *u)
}

// UserRowByLogin is UserByLogin without the grants: one query whether or not
// the user exists, so that code answering for unknown and known users alike
// (login, password reset) spends the same time on it. An identifier with "@" is
// an email: usernames cannot contain one.
func (s *Store) UserRowByLogin(ctx context.Context, login string) (*models.User, error) {
	col, key := "username_key", FoldKey(login)
	if strings.Contains(login, "@") {
		col, key = "email_key", EmailKey(login)
	}
	var u models.User
	if err := s.conn(ctx).Take(&u, col+" = ?", key).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// UpdateUser writes what u sets of the user, and updated_at (also when u
// sets nothing).
func (s *Store) UpdateUser(ctx context.Context, id uuid.UUID, now time.Time, u UserUpdate) error {
	fields := u.columns()
	fields["updated_at"] = now
	res := s.conn(ctx).Model(&models.User{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.userChanged(ctx, id)
}

// userChanged announces that what the store says of the user changed.
func (s *Store) userChanged(ctx context.Context, id uuid.UUID) error {
	return s.changed(ctx, Change{Users: []uuid.UUID{id}})
}

// UpgradePasswordHash stores a rehash of the same password under new
// parameters; the user did not change, so updated_at stays.
func (s *Store) UpgradePasswordHash(ctx context.Context, id uuid.UUID, hash string) error {
	if err := s.conn(ctx).Model(&models.User{}).Where("id = ?", id).UpdateColumn("password_hash", hash).Error; err != nil {
		return err
	}
	return s.userChanged(ctx, id)
}

// RecordLogin marks a successful login: last_login_at, and the lockout counters reset.
func (s *Store) RecordLogin(ctx context.Context, id uuid.UUID, now time.Time) error {
	// UpdateColumns: a login is not a change of the user, so updated_at stays.
	if err := s.conn(ctx).Model(&models.User{}).Where("id = ?", id).UpdateColumns(map[string]any{
		"last_login_at": now, "failed_logins": 0, "lock_count": 0, "locked_until": nil,
	}).Error; err != nil {
		return err
	}
	return s.userChanged(ctx, id)
}

// DeleteUser removes the user; sessions, tokens, roles and grants go with it by cascade.
func (s *Store) DeleteUser(ctx context.Context, id uuid.UUID) error {
	res := s.conn(ctx).Delete(&models.User{}, "id = ?", id)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.userChanged(ctx, id)
}

// LockUser loads an account and, on PostgreSQL, locks its row for the
// transaction, so concurrent administrative changes of one user queue.
func (s *Store) LockUser(ctx context.Context, id uuid.UUID) (*Account, error) {
	var u models.User
	if err := s.forUpdate(s.conn(ctx)).Take(&u, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return s.withGrants(ctx, u)
}

// DeleteAllUsers removes every user; their sessions, tokens, roles and grants go
// by cascade. Revoke the sessions first so the revocation feed lists them.
func (s *Store) DeleteAllUsers(ctx context.Context) (int64, error) {
	res := s.conn(ctx).Exec("DELETE FROM users")
	if res.Error != nil {
		return 0, res.Error
	}
	return res.RowsAffected, s.changed(ctx, Change{All: true})
}
