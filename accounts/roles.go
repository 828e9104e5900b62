package accounts

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// RoleInput defines or changes a custom role; on update, nil fields stay.
type RoleInput struct {
	Name        string
	Description *string
	Permissions *[]string
}

// GrantablePermissions checks permissions the service knows and the actor holds:
// roles, clients and tokens must not be a way to hand out rights one lacks.
func GrantablePermissions(actor Actor, perms []string) ([]string, error) {
	perms = models.SortedSet(perms)
	for _, p := range perms {
		if !slices.Contains(models.Permissions, p) {
			return nil, &UnknownPermissionError{Name: p}
		}
	}
	if !policy.MayGrant(actor.Principal, nil, perms) {
		return nil, ErrBeyondOwnRights
	}
	return perms, nil
}

// Roles lists every role with its permissions.
func (s *Service) Roles(ctx context.Context, actor Actor) ([]store.RoleInfo, error) {
	if err := s.authorize(actor, policy.ListRoles); err != nil {
		return nil, err
	}
	return s.store.Roles(ctx)
}

// CreateRole defines a custom role.
func (s *Service) CreateRole(ctx context.Context, actor Actor, in RoleInput) (*store.RoleInfo, error) {
	if err := s.authorize(actor, policy.CreateRole); err != nil {
		return nil, err
	}
	var perms []string
	if in.Permissions != nil {
		perms = *in.Permissions
	}
	perms, err := GrantablePermissions(actor, perms)
	if err != nil {
		return nil, err
	}
	now := s.now()
	role := &models.Role{Name: in.Name, CreatedAt: now, UpdatedAt: now}
	pick(&role.Description, in.Description)
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateRole(ctx, role, perms); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.RoleCreated, now, actor.ID(), uuid.Nil, actor.Client,
			actor.Details(audit.Details{"role": role.Name, "permissions": perms})))
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrRoleExists
	}
	if err != nil {
		return nil, err
	}
	return &store.RoleInfo{Role: *role, Permissions: perms}, nil
}

// UpdateRole changes a role's description or permissions. New permissions end
// the sessions of its holders: offline gateways would otherwise act on the old
// permissions in their tokens. Built-in roles' permissions cannot change.
func (s *Service) UpdateRole(ctx context.Context, actor Actor, in RoleInput) (*store.RoleInfo, error) {
	if err := s.authorize(actor, policy.UpdateRole); err != nil {
		return nil, err
	}
	var perms []string
	if in.Permissions != nil {
		var err error
		if perms, err = GrantablePermissions(actor, *in.Permissions); err != nil {
			return nil, err
		}
	}
	var out *store.RoleInfo
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		role, err := tx.LockRole(ctx, in.Name)
		if err != nil {
			return notFound(err, ErrRoleNotFound)
		}
		if !actor.HoldsAll(role.Permissions) {
			return ErrBeyondOwnRights
		}
		if perms != nil && slices.Equal(perms, role.Permissions) {
			perms = nil // unchanged: nothing to write, no session to revoke
		}
		if perms != nil && role.Builtin {
			return ErrBuiltinRole
		}
		desc := in.Description
		if desc != nil && *desc == role.Description {
			desc = nil
		}
		if desc == nil && perms == nil {
			out = role // nothing changes: no write, no event
			return nil
		}
		now := s.now()
		if err := tx.UpdateRole(ctx, in.Name, now, desc, perms); err != nil {
			return err
		}
		details := audit.Details{"role": in.Name, "description_changed": desc != nil}
		if perms != nil {
			details["added"], details["removed"] = diff(role.Permissions, perms)
			holders, err := tx.RoleHolders(ctx, in.Name)
			if err != nil {
				return err
			}
			ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: holders, Reason: "role_permissions_changed"})
			if err != nil {
				return err
			}
			details["sessions_revoked"] = len(ids)
		}
		if err := tx.AddAudit(ctx, audit.Event(audit.RoleUpdated, now, actor.ID(), uuid.Nil, actor.Client, actor.Details(details))); err != nil {
			return err
		}
		out, err = tx.LockRole(ctx, in.Name)
		return err
	})
	return out, err
}

// DeleteRole removes a custom role; its holders lose it and their sessions end.
func (s *Service) DeleteRole(ctx context.Context, actor Actor, name string) error {
	if err := s.authorize(actor, policy.DeleteRole); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Store) error {
		role, err := tx.LockRole(ctx, name)
		if err != nil {
			return notFound(err, ErrRoleNotFound)
		}
		if role.Builtin {
			return ErrBuiltinRole
		}
		if !actor.HoldsAll(role.Permissions) {
			return ErrBeyondOwnRights
		}
		holders, err := tx.RoleHolders(ctx, name)
		if err != nil {
			return err
		}
		revoked, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: holders, Reason: "role_deleted"})
		if err != nil {
			return err
		}
		if err := tx.DeleteRole(ctx, name); err != nil {
			return err
		}
		now := s.now()
		// Each holder's roles changed: record it where ?user_id= finds it.
		for _, uid := range holders {
			if err := tx.AddAudit(ctx, audit.Event(audit.RoleChanged, now, actor.ID(), uid, actor.Client,
				audit.Details{"added": []string{}, "removed": []string{name}, "reason": "role_deleted"})); err != nil {
				return err
			}
		}
		return tx.AddAudit(ctx, audit.Event(audit.RoleDeleted, now, actor.ID(), uuid.Nil, actor.Client,
			actor.Details(audit.Details{"role": name, "permissions": role.Permissions, "users": len(holders), "sessions_revoked": len(revoked)})))
	})
}
