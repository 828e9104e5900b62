package accounts

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// The reads of the administration API: what the actor may list and see is
// policy's to decide, so each returns the view the caller is to render.

// ListUsers returns a page of users as filtered, and how much of them the
// actor sees. In the public view only active accounts are listed, the search
// covers public fields only, and filters on what is not public (role, status,
// verification) are refused: they would reveal it.
func (s *Service) ListUsers(ctx context.Context, actor Actor, f store.UserFilter) (*store.UserPage, policy.View, error) {
	if err := s.authorize(actor, policy.ListUsers); err != nil {
		return nil, policy.Public, err
	}
	view := s.cfg.Rules.View(actor.Principal, uuid.Nil)
	if view == policy.Public {
		if f.Role != "" || f.Status != "" || f.Verified != nil {
			return nil, view, ErrPrivateFilter
		}
		f.Directory = true
	}
	page, err := s.store.ListUsersPage(ctx, f)
	return page, view, err
}

// CountUsers is how many accounts there are.
func (s *Service) CountUsers(ctx context.Context, actor Actor) (int64, error) {
	if err := s.authorize(actor, policy.CountUsers); err != nil {
		return 0, err
	}
	return s.store.CountUsers(ctx)
}

// UserFor reads a user for the actor, with how much of it the actor sees.
func (s *Service) UserFor(ctx context.Context, actor Actor, id uuid.UUID) (*store.Account, policy.View, error) {
	if err := s.authorize(actor, policy.ReadUser); err != nil {
		return nil, policy.Public, err
	}
	view := s.cfg.Rules.View(actor.Principal, id)
	if actor.Account != nil && id == actor.Account.ID {
		return actor.Account, view, nil // the request's own, current record
	}
	acct, err := s.User(ctx, id)
	return acct, view, err
}

// Audit lists security events, newest first, as filtered.
func (s *Service) Audit(ctx context.Context, actor Actor, f store.AuditFilter) ([]models.AuditEvent, error) {
	if err := s.authorize(actor, policy.ReadAudit); err != nil {
		return nil, err
	}
	return s.store.ListAudit(ctx, f)
}
