package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/mailaddr"
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

// SetRoles replaces the user's roles; unknown roles give ErrNotFound.
func (s *Store) SetRoles(ctx context.Context, userID uuid.UUID, roles []string) error {
	return s.InTx(ctx, func(tx *Store) error { return tx.setRoles(ctx, userID, roles) })
}

func (s *Store) setRoles(ctx context.Context, userID uuid.UUID, roles []string) error {
	if err := s.userChanged(ctx, userID); err != nil {
		return err
	}
	roles = models.SortedSet(roles)
	if len(roles) > 0 {
		var n int64
		if err := s.conn(ctx).Model(&models.Role{}).Where("name IN ?", roles).Count(&n).Error; err != nil {
			return err
		}
		if int(n) != len(roles) {
			return ErrNotFound
		}
	}
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.UserRole{}).Error; err != nil {
		return err
	}
	for _, r := range roles {
		if err := s.conn(ctx).Create(&models.UserRole{UserID: userID, RoleName: r}).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// SetResources replaces the user's resource grants.
func (s *Store) SetResources(ctx context.Context, userID uuid.UUID, resources []string) error {
	return s.InTx(ctx, func(tx *Store) error { return tx.setResources(ctx, userID, resources) })
}

func (s *Store) setResources(ctx context.Context, userID uuid.UUID, resources []string) error {
	if err := s.userChanged(ctx, userID); err != nil {
		return err
	}
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.UserResource{}).Error; err != nil {
		return err
	}
	for _, r := range models.SortedSet(resources) {
		if err := s.conn(ctx).Create(&models.UserResource{UserID: userID, Resource: r}).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// UserByID loads an account with its grants.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (*Account, error) {
	var u models.User
	if err := s.conn(ctx).Take(&u, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return s.withGrants(ctx, u)
}

// FoldKey is how usernames compare: case-insensitively, folded in Go so that
// both databases agree beyond ASCII (SQLite's lower() does not). A character
// outside ASCII never folds into an ASCII one (unicode.ToLower maps the Kelvin
// sign to k and İ to i): no identifier takes the slot of an ASCII one.
func FoldKey(s string) string {
	return strings.Map(func(r rune) rune {
		if l := unicode.ToLower(r); r < utf8.RuneSelf || l >= utf8.RuneSelf {
			return l
		}
		return r
	}, s)
}

// EmailKey is how emails compare: in their ASCII form (mailaddr), folded.
func EmailKey(email string) string { return FoldKey(mailaddr.ASCII(email)) }

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

func (s *Store) withGrants(ctx context.Context, u models.User) (*Account, error) {
	accts, err := s.withGrantsOf(ctx, []models.User{u})
	if err != nil {
		return nil, err
	}
	return accts[0], nil
}

// UpdateUser writes the given columns of the user (and updated_at).
func (s *Store) UpdateUser(ctx context.Context, id uuid.UUID, now time.Time, fields map[string]any) error {
	fields["updated_at"] = now
	if v, ok := fields["email"].(string); ok {
		fields["email_key"] = EmailKey(v)
	}
	if v, ok := fields["username"].(string); ok {
		fields["username_key"] = FoldKey(v)
	}
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

// CountUsers counts every user, exactly, without scanning them: it sums the
// counter that triggers on users keep (migration 00005, user_count).
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Raw("SELECT CAST(COALESCE(SUM(n), 0) AS bigint) FROM user_count").Scan(&n).Error
	return n, err
}

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
