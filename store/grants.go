package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

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

func (s *Store) withGrants(ctx context.Context, u models.User) (*Account, error) {
	accts, err := s.withGrantsOf(ctx, []models.User{u})
	if err != nil {
		return nil, err
	}
	return accts[0], nil
}

// withGrantsOf loads the roles, permissions and resources of many users in
// three queries, not three per user.
func (s *Store) withGrantsOf(ctx context.Context, users []models.User) ([]*Account, error) {
	out := make([]*Account, len(users))
	if len(users) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(users))
	byID := make(map[uuid.UUID]*Account, len(users))
	for i, u := range users {
		ids[i] = u.ID
		out[i] = &Account{User: u, Roles: []string{}, Permissions: []string{}, Resources: []string{}}
		byID[u.ID] = out[i]
	}
	var roles []models.UserRole
	if err := s.conn(ctx).Where("user_id IN ?", ids).Order("role_name").Find(&roles).Error; err != nil {
		return nil, err
	}
	for _, r := range roles {
		byID[r.UserID].Roles = append(byID[r.UserID].Roles, r.RoleName)
	}
	var perms []struct {
		UserID     uuid.UUID
		Permission string
	}
	if err := s.conn(ctx).Raw(`SELECT DISTINCT ur.user_id, rp.permission FROM user_roles ur
		JOIN role_permissions rp ON rp.role_name = ur.role_name
		WHERE ur.user_id IN ? ORDER BY rp.permission`, ids).Scan(&perms).Error; err != nil {
		return nil, err
	}
	for _, p := range perms {
		byID[p.UserID].Permissions = append(byID[p.UserID].Permissions, p.Permission)
	}
	var res []models.UserResource
	if err := s.conn(ctx).Where("user_id IN ?", ids).Order("resource").Find(&res).Error; err != nil {
		return nil, err
	}
	for _, r := range res {
		byID[r.UserID].Resources = append(byID[r.UserID].Resources, r.Resource)
	}
	return out, nil
}
