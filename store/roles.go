package store

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/authsvc/authsvc/models"
)

// EnsureBuiltinRoles creates the admin and user roles if missing and gives admin
// every known permission (so a permission added in a release reaches admins).
func (s *Store) EnsureBuiltinRoles(ctx context.Context, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		builtins := []models.Role{
			{Name: models.RoleAdmin, Description: "Administrators: every permission.", Builtin: true, CreatedAt: now, UpdatedAt: now},
			{Name: models.RoleUser, Description: "Signed-up users: no administrative permission.", Builtin: true, CreatedAt: now, UpdatedAt: now},
		}
		for i := range builtins {
			if err := tx.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&builtins[i]).Error; err != nil {
				return err
			}
		}
		for _, p := range models.Permissions {
			rp := models.RolePermission{RoleName: models.RoleAdmin, Permission: p}
			if err := tx.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rp).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// RoleInfo is a role with its permissions (sorted, never nil).
type RoleInfo struct {
	models.Role
	Permissions []string
}

// Roles lists every role by name.
func (s *Store) Roles(ctx context.Context) ([]RoleInfo, error) {
	var roles []models.Role
	if err := s.conn(ctx).Order("name").Find(&roles).Error; err != nil {
		return nil, err
	}
	var rps []models.RolePermission
	if err := s.conn(ctx).Order("role_name, permission").Find(&rps).Error; err != nil {
		return nil, err
	}
	perms := map[string][]string{}
	for _, rp := range rps {
		perms[rp.RoleName] = append(perms[rp.RoleName], rp.Permission)
	}
	out := make([]RoleInfo, len(roles))
	for i, r := range roles {
		out[i] = RoleInfo{Role: r, Permissions: orEmpty(perms[r.Name])}
	}
	return out, nil
}

// LockRole loads a role with its permissions and, on PostgreSQL, locks its row
// for the transaction; ErrNotFound when there is none.
func (s *Store) LockRole(ctx context.Context, name string) (*RoleInfo, error) {
	var r models.Role
	if err := s.forUpdate(s.conn(ctx)).Take(&r, "name = ?", name).Error; err != nil {
		return nil, translate(err)
	}
	perms, err := s.rolePermissions(ctx, name)
	if err != nil {
		return nil, err
	}
	return &RoleInfo{Role: r, Permissions: perms}, nil
}

func (s *Store) rolePermissions(ctx context.Context, name string) ([]string, error) {
	perms := []string{}
	err := s.conn(ctx).Model(&models.RolePermission{}).Where("role_name = ?", name).
		Order("permission").Pluck("permission", &perms).Error
	return perms, err
}

// PermissionsOf is the union of the permissions of the named roles.
func (s *Store) PermissionsOf(ctx context.Context, roles []string) ([]string, error) {
	perms := []string{}
	if len(roles) == 0 {
		return perms, nil
	}
	err := s.conn(ctx).Model(&models.RolePermission{}).Distinct("permission").
		Where("role_name IN ?", roles).Order("permission").Pluck("permission", &perms).Error
	return perms, err
}

// UnknownRoles returns the names that are not roles, in the order given. On
// PostgreSQL the known ones are share-locked for the transaction, so a role
// cannot be deleted between this check and its assignment.
func (s *Store) UnknownRoles(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	q := s.conn(ctx).Model(&models.Role{}).Where("name IN ?", names)
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var known []string
	if err := q.Pluck("name", &known).Error; err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			unknown = append(unknown, n)
		}
	}
	return unknown, nil
}

// CreateRole inserts a role with its permissions; a taken name gives a
// *ConflictError for "name".
func (s *Store) CreateRole(ctx context.Context, r *models.Role, permissions []string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := translate(tx.conn(ctx).Create(r).Error); err != nil {
			return err
		}
		return tx.setRolePermissions(ctx, r.Name, permissions)
	})
}

// UpdateRole changes a role's description (when not nil) and permissions (when
// not nil), and its updated_at.
func (s *Store) UpdateRole(ctx context.Context, name string, now time.Time, description *string, permissions []string) error {
	fields := map[string]any{"updated_at": now}
	if description != nil {
		fields["description"] = *description
	}
	res := s.conn(ctx).Model(&models.Role{}).Where("name = ?", name).Updates(fields)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	if permissions == nil {
		return nil
	}
	if err := s.changed(ctx, Change{AllUsers: true}); err != nil { // every holder's permissions
		return err
	}
	return s.setRolePermissions(ctx, name, permissions)
}

func (s *Store) setRolePermissions(ctx context.Context, name string, permissions []string) error {
	if err := s.conn(ctx).Where("role_name = ?", name).Delete(&models.RolePermission{}).Error; err != nil {
		return err
	}
	for _, p := range models.SortedSet(permissions) {
		if err := s.conn(ctx).Create(&models.RolePermission{RoleName: name, Permission: p}).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// DeleteRole removes a role; its holders lose it by cascade.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	res := s.conn(ctx).Delete(&models.Role{}, "name = ?", name)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.changed(ctx, Change{AllUsers: true}) // every holder lost it
}

// RoleHolders lists the ids of the users holding the role.
func (s *Store) RoleHolders(ctx context.Context, name string) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.conn(ctx).Model(&models.UserRole{}).Where("role_name = ?", name).
		Order("user_id").Pluck("user_id", &ids).Error
	return ids, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	sort.Strings(s)
	return s
}
