package accounts

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// resetTokenPurpose keys the MAC under which reset tokens are stored.
const resetTokenPurpose = "reset-token"

// maxResetToken bounds what is worth looking up: ours are 43 characters.
const maxResetToken = 256

// RequestReset asks for a password-reset mail to the address. It returns at
// once and does the work after the caller has answered: whether the address
// belongs to an account then shows neither in the answer nor in its timing.
// Only a database out of reach is reported (the same check for every address,
// so the client may retry); later failures are logged.
func (s *Service) RequestReset(ctx context.Context, email string, client audit.Client) error {
	return s.mailLater(ctx, "password reset request", func(ctx context.Context) error {
		return s.requestReset(ctx, email, client)
	})
}

func (s *Service) requestReset(ctx context.Context, email string, client audit.Client) error {
	// Silent: the client's answer was the same; the mail is simply not sent.
	var limited *ratelimit.RefusedError
	if err := s.allow(ctx, ScopeMailAddress, identifierKey(email), s.cfg.MailLimit); errors.As(err, &limited) {
		return s.resetNotSent(ctx, uuid.Nil, "rate_limited", client)
	}
	u, err := s.store.UserRowByLogin(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return s.resetNotSent(ctx, uuid.Nil, "unknown_email", client) // nothing is sent to an address nobody registered
	}
	if err != nil {
		return err
	}
	if u.Status == models.StatusDisabled {
		return s.resetNotSent(ctx, u.ID, "account_disabled", client) // nor to a banned account
	}
	now := s.now()
	plain := secret.Token()
	tok := models.PasswordResetToken{
		ID: uuid.Must(uuid.NewV7()), UserID: u.ID,
		TokenHash: s.secret.MAC(resetTokenPurpose, []byte(plain)),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ResetTokenTTL),
	}
	m, err := s.templates.Reset(u.Email, s.cfg.PublicURL, plain, s.cfg.ResetTokenTTL)
	if err != nil {
		return err
	}
	msg, err := mail.NewOutboxMail(s.secret, m, now)
	if err != nil {
		s.log.ErrorContext(ctx, "reset mail cannot be built", "user_id", u.ID, "error", err)
		return s.resetNotSent(ctx, u.ID, "undeliverable_address", client)
	}
	msg.ExpiresAt = &tok.ExpiresAt // a mail whose link has expired is given up, not sent
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		// A new link replaces the older ones.
		if err := tx.SupersedeResetTokens(ctx, u.ID, now); err != nil {
			return err
		}
		if err := tx.CreateResetToken(ctx, &tok); err != nil {
			return err
		}
		if err := tx.EnqueueMail(ctx, msg); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasswordResetRequest, now, uuid.Nil, u.ID, client,
			audit.Details{"mail": "queued", "expires_at": tok.ExpiresAt}))
	})
	if err != nil {
		return err
	}
	if s.mail != nil {
		s.mail.Wake()
	}
	return nil
}

func (s *Service) resetNotSent(ctx context.Context, userID uuid.UUID, reason string, client audit.Client) error {
	return s.store.AddAudit(ctx, audit.Event(audit.PasswordResetRequest, s.now(), uuid.Nil, userID, client,
		audit.Details{"mail": "not_sent", "reason": reason}))
}

// ResetPassword sets a new password with a token from a reset mail. The token
// is used up only when the password is set: a weak password lets the user try
// another. Every session ends; a login lockout is lifted and the address is
// verified (the user proved control of the mailbox). When it was not verified
// before, every second factor and passkey goes too: they were added by
// whoever held the account before its owner proved the address.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string, client audit.Client) error {
	if token == "" || len(token) > maxResetToken {
		return ErrInvalidResetToken
	}
	now := s.now()
	rt, err := s.store.ResetTokenByHash(ctx, s.secret.MAC(resetTokenPurpose, []byte(token)))
	if err != nil {
		return notFound(err, ErrInvalidResetToken)
	}
	if rt.UsedAt != nil || !now.Before(rt.ExpiresAt) {
		return ErrInvalidResetToken
	}
	acct, err := s.store.UserByID(ctx, rt.UserID)
	if err != nil {
		return notFound(err, ErrInvalidResetToken)
	}
	if acct.Status == models.StatusDisabled {
		return ErrAccountDisabled
	}
	hash, err := s.hash(ctx, "new_password", newPassword, &acct.User)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, acct.ID)
		if err != nil {
			return notFound(err, ErrInvalidResetToken)
		}
		// Fails when the token was used concurrently, or deleted by a password
		// or email change since it was read.
		ok, err := tx.UseResetToken(ctx, rt.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidResetToken
		}
		write := store.UserUpdate{PasswordHash: &hash}
		write.ClearLockout()
		unproven := cur.EmailVerifiedAt == nil
		if unproven {
			write.EmailVerifiedAt = store.Value(now)
		}
		if err := tx.UpdateUser(ctx, acct.ID, now, write); err != nil {
			return err
		}
		if unproven {
			if err := s.removeUnprovenFactors(ctx, tx, &cur.User, client, now); err != nil {
				return err
			}
		}
		if err := tx.DeleteResetTokens(ctx, acct.ID, rt.ID); err != nil {
			return err
		}
		if err := tx.CancelEmailChange(ctx, acct.ID); err != nil {
			return err
		}
		n, err := s.revokeUser(ctx, tx, acct.ID, "password_reset")
		if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, &cur.User, mail.NoticePasswordReset, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasswordReset, now, acct.ID, acct.ID, client,
			audit.Details{"sessions_revoked": n, "email_verified": unproven}))
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}

// removeUnprovenFactors removes, on tx, the TOTP secret, recovery codes,
// passkeys and linked identities of a user whose address has just been proved for the first time,
// tells the address, and records what went.
func (s *Service) removeUnprovenFactors(ctx context.Context, tx *store.Store, u *models.User, client audit.Client, now time.Time) error {
	// Personal access tokens were made before the proof too (they leave no
	// mark on the user's row, so they go before the check below).
	if _, err := tx.DeletePersonalTokens(ctx, u.ID); err != nil {
		return err
	}
	if u.TOTPSecretSealed == nil && u.RecoveryCodesLeft == 0 && u.PasskeyCount == 0 && u.IdentityProviders == "" {
		return nil
	}
	if err := tx.ClearMFA(ctx, u.ID, now); err != nil {
		return err
	}
	if err := tx.DeletePasskeys(ctx, u.ID); err != nil {
		return err
	}
	if err := tx.DeleteIdentities(ctx, u.ID); err != nil {
		return err
	}
	if err := s.notice(ctx, tx, u, mail.NoticeUnprovenFactorsGone, now); err != nil {
		return err
	}
	return tx.AddAudit(ctx, audit.Event(audit.MFADisabled, now, u.ID, u.ID, client,
		audit.Details{"method": "all", "by": "password_reset", "reason": "added_before_email_verified",
			"totp": u.TOTPEnabled(), "passkeys": u.PasskeyCount, "identities": strings.Fields(u.IdentityProviders)}))
}
