package accounts

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// mayManage: the actor may act on the target account (policy.MayManage).
func mayManage(actor Actor, target *store.Account) bool {
	return policy.MayManage(actor.Principal, target)
}

// checkGrant refuses roles that do not exist (UnknownRoleError) and roles the
// actor may not hand out: admin unless the actor is an admin, and any role with
// a permission the actor lacks.
func checkGrant(ctx context.Context, tx *store.Store, actor Actor, roles []string) error {
	unknown, err := tx.UnknownRoles(ctx, roles)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return &UnknownRoleError{Name: unknown[0]}
	}
	perms, err := tx.PermissionsOf(ctx, roles)
	if err != nil {
		return err
	}
	if !policy.MayGrant(actor.Principal, roles, perms) {
		return ErrBeyondOwnRights
	}
	return nil
}

// lockManaged locks the target user for the rest of tx and checks the actor may act on it.
func lockManaged(ctx context.Context, tx *store.Store, actor Actor, id uuid.UUID) (*store.Account, error) {
	target, err := tx.LockUser(ctx, id)
	if err != nil {
		return nil, notFound(err, ErrUserNotFound)
	}
	if !mayManage(actor, target) {
		return nil, ErrBeyondOwnRights
	}
	return target, nil
}

// notFound turns the store's not-found into the domain's.
func notFound(err, as error) error {
	if errors.Is(err, store.ErrNotFound) {
		return as
	}
	return err
}

// lastAdmin turns the store's last-admin refusal into the domain's.
func lastAdmin(err error) error {
	if errors.Is(err, store.ErrLastAdmin) {
		return ErrLastAdmin
	}
	return err
}
