package store

import (
	"context"
	"time"

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
