package accounts

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// Invitations: an administrator creates an account without a password
// (POST /v1/users with invite) or invites an existing one that has none; the
// mailed link lets its owner choose the password, which proves the mailbox.

// ErrAlreadyAccepted: the user has a password, so there is nothing to invite to.
var ErrAlreadyAccepted = errors.New("accounts: the user has a password already")

// queueInvitation mails, on tx, an invitation link to u; older ones stop working.
func (s *Service) queueInvitation(ctx context.Context, tx *store.Store, u *models.User, actor Actor) error {
	now := s.now()
	build := func(to, token string) (mail.Message, error) {
		return s.templates.Invitation(to, u.Username, s.cfg.PublicURL, token, s.cfg.InviteTTL)
	}
	if err := s.queueEmailLink(ctx, tx, u.ID, models.EmailInvite, u.Email, s.cfg.InviteTTL, build, now); err != nil {
		return err
	}
	return tx.AddAudit(ctx, audit.Event(audit.UserInvited, now, actor.ID(), u.ID, actor.Client, actor.Details(audit.Details{"mail": "queued"})))
}

// Invite mails the user a new invitation link, for an admin (users:write)
// who may manage the user. ErrAlreadyAccepted when the user has a password.
func (s *Service) Invite(ctx context.Context, actor Actor, userID uuid.UUID) error {
	if err := s.authorize(actor, policy.InviteUser); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		target, err := lockManaged(ctx, tx, actor, userID)
		if err != nil {
			return err
		}
		if target.PasswordHash != "" {
			return ErrAlreadyAccepted
		}
		if target.Status == models.StatusDisabled {
			return ErrAccountDisabled
		}
		return s.queueInvitation(ctx, tx, &target.User, actor)
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}

// AcceptInvite sets the first password of an invited account with its
// link's token (the policy applies), verifies the address, and signs in.
func (s *Service) AcceptInvite(ctx context.Context, token, password string, remember bool, client audit.Client) (*Session, error) {
	if token == "" || len(token) > maxResetToken {
		return nil, ErrInvalidEmailToken
	}
	t, err := s.store.EmailTokenByHash(ctx, s.secret.MAC(emailTokenPurpose, []byte(token)))
	if err != nil || t.Purpose != models.EmailInvite {
		return nil, notFound(err, ErrInvalidEmailToken)
	}
	now := s.now()
	if t.UsedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, ErrInvalidEmailToken
	}
	acct, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return nil, notFound(err, ErrInvalidEmailToken)
	}
	if acct.Status == models.StatusDisabled {
		return nil, ErrAccountDisabled
	}
	hash, err := s.hash(ctx, "password", password, &acct.User)
	if err != nil {
		return nil, err
	}
	var out *Session
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, acct.ID)
		if err != nil {
			return notFound(err, ErrInvalidEmailToken)
		}
		ok, err := tx.UseEmailToken(ctx, t.ID, now)
		if err != nil {
			return err
		}
		if !ok || cur.PasswordHash != "" || store.EmailKey(cur.Email) != store.EmailKey(t.Email) {
			return ErrInvalidEmailToken // used, accepted meanwhile, or the address changed since
		}
		write := store.UserUpdate{PasswordHash: &hash}
		if cur.EmailVerifiedAt == nil {
			write.EmailVerifiedAt = store.Value(now)
			cur.EmailVerifiedAt = &now // for loginAllowed below
		}
		if err := tx.UpdateUser(ctx, cur.ID, now, write); err != nil {
			return err
		}
		if err := tx.DeleteEmailTokens(ctx, cur.ID, models.EmailInvite); err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, audit.Event(audit.InviteAccepted, now, cur.ID, cur.ID, client, nil)); err != nil {
			return err
		}
		if err := s.loginAllowed(&cur.User); err != nil {
			return err
		}
		if cur.TOTPEnabled() {
			step, err := s.startSecondStep(ctx, tx, cur.ID, remember, byPassword, now)
			out = &Session{SecondStep: step}
			return err
		}
		out, err = s.startSession(ctx, tx, cur.ID, remember, byPassword, client, now)
		return err
	})
	return out, err
}
