package accounts

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/pat"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// maxPersonalTokens bounds the personal access tokens an account holds at once.
const maxPersonalTokens = 100

// PersonalTokenInput is a new personal access token: its name, how long it
// lives, the permissions it carries (of the user's own), and the user's
// password, which creating one asks for.
type PersonalTokenInput struct {
	Name        string
	ExpiresIn   time.Duration
	Permissions []string
	Password    string
}

// CreatePersonalToken gives the actor's account a personal access token and
// returns it with the token itself, shown only now: the database keeps a MAC.
// Only a session creates one, after the password is checked (a wrong one
// counts toward the lockout), and with no permission the user lacks.
func (s *Service) CreatePersonalToken(ctx context.Context, actor Actor, in PersonalTokenInput) (*models.PersonalToken, string, error) {
	if err := policy.RequireSession(actor.Principal); err != nil {
		return nil, "", err
	}
	me := actor.Account
	perms, err := GrantablePermissions(actor, in.Permissions)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkPassword(ctx, &me.User, in.Password, actor.Client); err != nil {
		return nil, "", err
	}
	now := s.now()
	raw := pat.New()
	t := &models.PersonalToken{
		ID: uuid.Must(uuid.NewV7()), UserID: me.ID, Name: in.Name, TokenHash: pat.MAC(s.secret, raw),
		Permissions: strings.Join(perms, " "), CreatedAt: now, ExpiresAt: now.Add(in.ExpiresIn),
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockUser(ctx, me.ID); err != nil {
			return err
		}
		held, err := tx.PersonalTokens(ctx, me.ID, now)
		if err != nil {
			return err
		}
		if len(held) >= maxPersonalTokens {
			return ErrTooManyTokens
		}
		if err := tx.CreatePersonalToken(ctx, t); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PersonalTokenCreated, now, me.ID, me.ID, actor.Client, audit.Details{
			"token_id": t.ID, "name": t.Name, "permissions": perms, "expires_at": t.ExpiresAt,
		}))
	})
	if err != nil {
		return nil, "", selfGone(err)
	}
	return t, raw, nil
}

// PersonalTokens lists the actor's own live personal access tokens (a session only).
func (s *Service) PersonalTokens(ctx context.Context, actor Actor) ([]models.PersonalToken, error) {
	if err := policy.RequireSession(actor.Principal); err != nil {
		return nil, err
	}
	return s.store.PersonalTokens(ctx, actor.Account.ID, s.now())
}

// RevokePersonalToken ends one of the actor's own personal access tokens at
// once (a session only); another user's is ErrTokenNotFound.
func (s *Service) RevokePersonalToken(ctx context.Context, actor Actor, id uuid.UUID) error {
	if err := policy.RequireSession(actor.Principal); err != nil {
		return err
	}
	return s.revokePersonalToken(ctx, actor, actor.Account.ID, id)
}

// UserPersonalTokens lists a user's live personal access tokens, for an admin (users:read).
func (s *Service) UserPersonalTokens(ctx context.Context, actor Actor, userID uuid.UUID) ([]models.PersonalToken, error) {
	if err := s.authorize(actor, policy.ListUserTokens); err != nil {
		return nil, err
	}
	if _, err := s.store.UserByID(ctx, userID); err != nil {
		return nil, notFound(err, ErrUserNotFound)
	}
	return s.store.PersonalTokens(ctx, userID, s.now())
}

// UserPersonalToken reads one of a user's personal access tokens, for an admin (users:read).
func (s *Service) UserPersonalToken(ctx context.Context, actor Actor, userID, id uuid.UUID) (*models.PersonalToken, error) {
	if err := s.authorize(actor, policy.ListUserTokens); err != nil {
		return nil, err
	}
	t, err := s.store.PersonalToken(ctx, userID, id)
	if err != nil {
		return nil, notFound(err, ErrTokenNotFound)
	}
	if !s.now().Before(t.ExpiresAt) {
		return nil, ErrTokenNotFound
	}
	return t, nil
}

// RevokeUserPersonalTokens ends every personal access token of a user, for
// an admin (users:write) who may manage that user; it returns how many ended.
func (s *Service) RevokeUserPersonalTokens(ctx context.Context, actor Actor, userID uuid.UUID) (int, error) {
	if err := s.authorize(actor, policy.RevokeUserToken); err != nil {
		return 0, err
	}
	var n int
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		if _, err := lockManaged(ctx, tx, actor, userID); err != nil {
			return err
		}
		var err error
		if n, err = tx.DeletePersonalTokens(ctx, userID); err != nil || n == 0 {
			return err
		}
		tx.AwaitPropagation()
		return tx.AddAudit(ctx, audit.Event(audit.PersonalTokenRevoked, s.now(), actor.ID(), userID, actor.Client,
			actor.Details(audit.Details{"count": n})))
	})
	return n, err
}

// RevokeUserPersonalToken ends a user's personal access token, for an admin
// (users:write) who may manage that user.
func (s *Service) RevokeUserPersonalToken(ctx context.Context, actor Actor, userID, id uuid.UUID) error {
	if err := s.authorize(actor, policy.RevokeUserToken); err != nil {
		return err
	}
	return s.revokePersonalToken(ctx, actor, userID, id)
}

func (s *Service) revokePersonalToken(ctx context.Context, actor Actor, userID, id uuid.UUID) error {
	return s.store.InTx(ctx, func(tx *store.Store) error {
		if _, err := lockManaged(ctx, tx, actor, userID); err != nil {
			return err
		}
		t, err := tx.DeletePersonalToken(ctx, userID, id)
		if err != nil {
			return notFound(err, ErrTokenNotFound)
		}
		tx.AwaitPropagation() // revoked means refused by every instance once this returns
		return tx.AddAudit(ctx, audit.Event(audit.PersonalTokenRevoked, s.now(), actor.ID(), userID, actor.Client,
			actor.Details(audit.Details{"token_id": t.ID, "name": t.Name})))
	})
}
