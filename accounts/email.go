package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// emailTokenPurpose keys the MAC under which email links' tokens are stored.
const emailTokenPurpose = "email-token"

// queueEmailLink replaces, on tx, the user's earlier links of the purpose with
// a new one for address, good for ttl, and queues the mail build makes of its
// token (from the templates: a render error is returned).
func (s *Service) queueEmailLink(ctx context.Context, tx *store.Store, userID uuid.UUID, purpose, address string,
	ttl time.Duration, build func(to, token string) (mail.Message, error), now time.Time) error {
	plain := secret.Token()
	tok := models.EmailToken{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Purpose: purpose, Email: address,
		TokenHash: s.secret.MAC(emailTokenPurpose, []byte(plain)),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	m, err := build(address, plain)
	if err != nil {
		return err
	}
	msg, err := mail.NewOutboxMail(s.secret, m, now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUndeliverableAddress, err)
	}
	msg.ExpiresAt = &tok.ExpiresAt // a mail whose link has expired is given up, not sent
	if err := tx.SupersedeEmailTokens(ctx, userID, purpose, now); err != nil {
		return err
	}
	if err := tx.CreateEmailToken(ctx, &tok); err != nil {
		return err
	}
	return tx.EnqueueMail(ctx, msg)
}

// queueVerification mails, on tx, a link confirming the user's own address.
func (s *Service) queueVerification(ctx context.Context, tx *store.Store, u *models.User, client audit.Client, now time.Time) error {
	build := func(to, token string) (mail.Message, error) {
		return s.templates.Verify(to, s.cfg.PublicURL, token, s.cfg.VerifyTokenTTL)
	}
	if err := s.queueEmailLink(ctx, tx, u.ID, models.EmailVerify, u.Email, s.cfg.VerifyTokenTTL, build, now); err != nil {
		return err
	}
	return tx.AddAudit(ctx, audit.Event(audit.EmailVerificationSent, now, uuid.Nil, u.ID, client,
		audit.Details{"mail": "queued"}))
}

// wakeMail sends queued mail now rather than at the next poll.
func (s *Service) wakeMail() {
	if s.mail != nil {
		s.mail.Wake()
	}
}

// ResendVerification mails a fresh link to the address if it belongs to an
// account whose address is not verified yet; older links stop working. Like
// RequestReset it returns at once and works after the answer, so neither the
// answer nor its timing tells whether such an account exists.
func (s *Service) ResendVerification(ctx context.Context, email string, client audit.Client) error {
	return s.mailLater(ctx, "verification resend", func(ctx context.Context) error {
		return s.resendVerification(ctx, email, client)
	})
}

func (s *Service) resendVerification(ctx context.Context, email string, client audit.Client) error {
	notSent := func(userID uuid.UUID, reason string) error {
		return s.store.AddAudit(ctx, audit.Event(audit.EmailVerificationSent, s.now(), uuid.Nil, userID, client,
			audit.Details{"mail": "not_sent", "reason": reason}))
	}
	if !s.cfg.VerifyEmail {
		return nil
	}
	var limited *ratelimit.RefusedError
	if err := s.allow(ctx, ScopeMailAddress, identifierKey(email), s.cfg.MailLimit); errors.As(err, &limited) {
		return notSent(uuid.Nil, "rate_limited")
	}
	u, err := s.store.UserRowByLogin(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notSent(uuid.Nil, "unknown_email")
	case err != nil:
		return err
	case u.EmailVerifiedAt != nil:
		return notSent(u.ID, "already_verified")
	case u.Status == models.StatusDisabled:
		return notSent(u.ID, "account_disabled")
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		return s.queueVerification(ctx, tx, u, client, s.now())
	})
	if err != nil {
		return err
	}
	s.wakeMail()
	return nil
}

// requestEmailChange records, on tx, the actor's wish to use address: it
// becomes the pending address, a link to confirm it goes there, and a notice
// without a link to the current address. 409 when the address is taken.
func (s *Service) requestEmailChange(ctx context.Context, tx *store.Store, actor Actor, cur *store.Account, address string, now time.Time) error {
	other, err := tx.UserRowByLogin(ctx, address)
	if err == nil && other.ID != cur.ID {
		return &store.ConflictError{Field: "email"}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := tx.UpdateUser(ctx, cur.ID, now, store.UserUpdate{PendingEmail: store.Value(address)}); err != nil {
		return err
	}
	build := func(to, token string) (mail.Message, error) {
		return s.templates.EmailChange(to, s.cfg.PublicURL, token, s.cfg.VerifyTokenTTL)
	}
	if err := s.queueEmailLink(ctx, tx, cur.ID, models.EmailChange, address, s.cfg.VerifyTokenTTL, build, now); err != nil {
		return err
	}
	// The current address was good enough to sign up with, but an account from
	// before verification may hold one mail cannot go to: then no notice.
	m, err := s.templates.EmailChangeNotice(cur.Email)
	if err != nil {
		return err
	}
	if notice, err := mail.NewOutboxMail(s.secret, m, now); err == nil {
		if err := tx.EnqueueMail(ctx, notice); err != nil {
			return err
		}
	}
	return tx.AddAudit(ctx, audit.Event(audit.EmailChangeRequested, now, actor.ID(), cur.ID, actor.Client,
		audit.Details{"mail": "queued", "notice": "queued"}))
}

// VerifyEmail uses a mailed link's token: the account's address is verified,
// or the pending address becomes the account's (verified). It returns the
// account. A token is good once, until it expires or a newer link replaces it.
func (s *Service) VerifyEmail(ctx context.Context, token string, client audit.Client) (*store.Account, error) {
	if token == "" || len(token) > maxResetToken {
		return nil, ErrInvalidEmailToken
	}
	t, err := s.store.EmailTokenByHash(ctx, s.secret.MAC(emailTokenPurpose, []byte(token)))
	if err != nil {
		return nil, notFound(err, ErrInvalidEmailToken)
	}
	var out *store.Account
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, t.UserID)
		if err != nil {
			return notFound(err, ErrInvalidEmailToken)
		}
		now := s.now()
		ok, err := tx.UseEmailToken(ctx, t.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidEmailToken
		}
		tx.AwaitPropagation() // a proven mailbox may add factors on every instance at once
		write := store.UserUpdate{EmailVerifiedAt: store.Value(now)}
		switch {
		case t.Purpose == models.EmailVerify && store.EmailKey(t.Email) == store.EmailKey(cur.Email):
			if cur.EmailVerifiedAt != nil {
				write.EmailVerifiedAt = store.Value(*cur.EmailVerifiedAt)
			}
		case t.Purpose == models.EmailChange && cur.PendingEmail != nil && *cur.PendingEmail == t.Email:
			write.Email, write.PendingEmail = &t.Email, store.Null[string]()
			// The reset links and other email links went to the old address.
			if err := tx.DeleteResetTokens(ctx, cur.ID, uuid.Nil); err != nil {
				return err
			}
			if err := tx.DeleteEmailTokens(ctx, cur.ID, ""); err != nil {
				return err
			}
			if err := tx.DeleteEmailCodes(ctx, cur.ID); err != nil {
				return err
			}
		default: // the address changed since the link was sent
			return ErrInvalidEmailToken
		}
		if err := tx.UpdateUser(ctx, cur.ID, now, write); err != nil {
			return err // a *store.ConflictError when another account took the address meanwhile
		}
		if err := tx.AddAudit(ctx, audit.Event(audit.EmailVerified, now, uuid.Nil, cur.ID, client,
			audit.Details{"changed_address": t.Purpose == models.EmailChange})); err != nil {
			return err
		}
		out, err = tx.UserByID(ctx, cur.ID)
		return err
	})
	return out, err
}
