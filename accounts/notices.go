package accounts

import (
	"context"
	"time"

	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// notice queues, on tx, a security notice to the user's address (no link, no
// token), so that the owner hears of a change to how the account signs in.
// An address mail cannot go to (an account from before verification) gets none.
func (s *Service) notice(ctx context.Context, tx *store.Store, u *models.User, n mail.Notice, now time.Time) error {
	msg, err := s.templates.SecurityNotice(u.Email, n)
	if err != nil {
		return err // a template that renders nothing sendable: the change is not made unannounced
	}
	m, err := mail.NewOutboxMail(s.secret, msg, now)
	if err != nil {
		s.log.WarnContext(ctx, "security notice cannot be built", "user_id", u.ID, "notice", string(n), "error", err)
		return nil
	}
	return tx.EnqueueMail(ctx, m)
}

// mayAddFactor refuses a new second factor or passkey on an account whose
// address nobody has proved to own (unless verification is off): whoever
// signed up with someone else's address must not plant a way in that
// survives the owner's password reset.
func (s *Service) mayAddFactor(u *models.User) error {
	if s.cfg.VerifyEmail && u.EmailVerifiedAt == nil {
		return ErrEmailUnverified
	}
	return nil
}
