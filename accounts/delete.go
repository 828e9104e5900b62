package accounts

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// Delete removes another user and every session of theirs.
func (s *Service) Delete(ctx context.Context, actor Actor, id uuid.UUID) error {
	if err := s.authorize(actor, policy.DeleteUser); err != nil {
		return err
	}
	if id == actor.ID() {
		return ErrCannotDeleteSelf
	}
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		return tx.GuardLastAdmin(ctx, func() error {
			target, err := lockManaged(ctx, tx, actor, id)
			if err != nil {
				return err
			}
			return s.delete(ctx, tx, actor, target, audit.Details{"username": target.Username, "roles": target.Roles})
		})
	})
	return lastAdmin(err)
}

// DeleteSelf removes the actor's own account after checking its password.
func (s *Service) DeleteSelf(ctx context.Context, actor Actor, password string) error {
	me, err := own(actor)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		return tx.GuardLastAdmin(ctx, func() error {
			if _, err := tx.LockUser(ctx, me.ID); err != nil {
				return err
			}
			return s.delete(ctx, tx, actor, me, audit.Details{"self": true})
		})
	})
	return selfGone(lastAdmin(err))
}

// delete revokes the user's sessions, then deletes the user: the revocation
// feed outlives the session rows the cascade removes.
func (s *Service) delete(ctx context.Context, tx *store.Store, actor Actor, target *store.Account, details audit.Details) error {
	n, err := s.revokeUser(ctx, tx, target.ID, "user_deleted")
	if err != nil {
		return err
	}
	if err := tx.DeleteUser(ctx, target.ID); err != nil {
		return err
	}
	details["sessions_revoked"] = n
	return tx.AddAudit(ctx, audit.Event(audit.UserDeleted, s.now(), actor.ID(), target.ID, actor.Client, actor.Details(details)))
}

// Wipe deletes every user and session, the actor included. Only an
// administrator may, with its password. No last-admin guard on purpose: the
// bootstrap admin is recreated at the next start.
func (s *Service) Wipe(ctx context.Context, actor Actor, password string) error {
	if err := s.authorize(actor, policy.DeleteAllUsers); err != nil {
		return err
	}
	me := actor.Account
	if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{All: true, Reason: "users_wiped"})
		if err != nil {
			return err
		}
		n, err := tx.DeleteAllUsers(ctx)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.UsersWiped, s.now(), me.ID, uuid.Nil, actor.Client,
			audit.Details{"users": n, "sessions_revoked": len(ids)}))
	})
	if err != nil {
		return err
	}
	s.log.WarnContext(ctx, "every user was deleted; the bootstrap admin is recreated at the next start", "actor_id", me.ID)
	return nil
}
