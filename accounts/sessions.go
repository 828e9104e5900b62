package accounts

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// User reads an account; ErrUserNotFound when there is none.
func (s *Service) User(ctx context.Context, id uuid.UUID) (*store.Account, error) {
	a, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, notFound(err, ErrUserNotFound)
	}
	return a, nil
}

// UserSessions lists another user's live sessions; they show where the user
// is signed in, so the rule for acting on the user applies.
func (s *Service) UserSessions(ctx context.Context, actor Actor, id uuid.UUID) ([]models.Session, error) {
	if err := s.authorize(actor, policy.ListUserSessions); err != nil {
		return nil, err
	}
	target, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayManage(actor, target) {
		return nil, ErrBeyondOwnRights
	}
	return s.store.LiveSessions(ctx, id, s.now())
}

// RevokeUserSessions ends every session of another user.
func (s *Service) RevokeUserSessions(ctx context.Context, actor Actor, id uuid.UUID) error {
	if err := s.authorize(actor, policy.RevokeUserSessions); err != nil {
		return err
	}
	if actor.ID() == id {
		return ErrSelfServiceRequired // POST /v1/auth/logout with all: true
	}
	return s.store.InTx(ctx, func(tx *store.Store) error {
		if _, err := lockManaged(ctx, tx, actor, id); err != nil {
			return err
		}
		n, err := s.revokeUser(ctx, tx, id, "admin_revoke")
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.SessionsRevoked, s.now(), actor.ID(), id, actor.Client,
			actor.Details(audit.Details{"sessions": n})))
	})
}

// RevokeOwnSession ends one of the actor's sessions; current is the session
// the request came with (recorded, not refused). Another user's session, or
// one already ended, is ErrSessionNotFound.
func (s *Service) RevokeOwnSession(ctx context.Context, actor Actor, sid, current uuid.UUID) error {
	uid := actor.ID()
	return s.store.InTx(ctx, func(tx *store.Store) error {
		sess, err := tx.LockSession(ctx, sid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != uid) {
			return ErrSessionNotFound
		}
		if err != nil {
			return err
		}
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{SessionID: sid, Reason: "revoked_by_user"})
		if err != nil {
			return err
		}
		if len(ids) == 0 { // already revoked or expired
			return ErrSessionNotFound
		}
		return tx.AddAudit(ctx, audit.Event(audit.SessionsRevoked, s.now(), uid, uid, actor.Client,
			audit.Details{"session_id": sid, "sessions_revoked": len(ids), "current": sid == current}))
	})
}
