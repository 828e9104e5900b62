package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// Sign-in by email: a request mails an 8-digit code and a link (its own
// random token) to an address; either, sent back by POST, signs in, once.
// Codes are stored as MACs bound to their address, tokens as MACs; a newer
// request kills the older code and link; a wrong code counts toward the
// account's lockout and 5 kill the code. Nothing is consumed by opening the
// link's page: the page posts the token (mail scanners open links).

// Email-login errors.
var (
	ErrEmailLoginDisabled = errors.New("accounts: sign-in by email is off")
	ErrInvalidCode        = errors.New("accounts: the code or link is wrong, used or expired")
)

// maxCodeFailures is how many wrong tries kill a code.
const maxCodeFailures = 5

// MACs of codes and links.
const (
	emailCodePurpose = "email-code"
	emailLinkPurpose = "email-code-link"
)

// codeMAC binds a code to its address: a code sent to one address proves nothing of another.
func (s *Service) codeMAC(emailKey, code string) []byte {
	return s.secret.MAC(emailCodePurpose, []byte(emailKey+"\x00"+code))
}

// newCode is 8 random decimal digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08d", n.Int64()), nil
}

// RequestEmailCode mails a sign-in code and link to address when it belongs
// to an account that may log in, or, with create and EMAIL_LOGIN_SIGNUP, to
// an address no account has. Like RequestReset it returns at once and works
// after the answer, so neither the answer nor its timing tells which it was.
func (s *Service) RequestEmailCode(ctx context.Context, address string, create bool, client audit.Client) error {
	if !s.cfg.EmailLogin {
		return ErrEmailLoginDisabled
	}
	return s.mailLater(ctx, "sign-in code", func(ctx context.Context) error {
		return s.sendEmailCode(ctx, address, create, client)
	})
}

func (s *Service) sendEmailCode(ctx context.Context, address string, create bool, client audit.Client) error {
	now := s.now()
	notSent := func(userID uuid.UUID, reason string) error {
		return s.store.AddAudit(ctx, audit.Event(audit.EmailCodeSent, now, uuid.Nil, userID, client,
			audit.Details{"mail": "not_sent", "reason": reason}))
	}
	var limited *ratelimit.RefusedError
	if err := s.allow(ctx, ScopeMailAddress, identifierKey(address), s.cfg.MailLimit); errors.As(err, &limited) {
		return notSent(uuid.Nil, "rate_limited")
	}
	var userID *uuid.UUID
	u, err := s.store.UserRowByLogin(ctx, address)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !create || !s.cfg.EmailLoginSignup {
			return notSent(uuid.Nil, "unknown_email")
		}
		if err := s.allow(ctx, ScopeSignupIP, client.IP, s.cfg.SignupLimit); errors.As(err, &limited) {
			return notSent(uuid.Nil, "signup_rate_limited")
		}
	case err != nil:
		return err
	case u.Email != address && store.EmailKey(u.Email) != store.EmailKey(address):
		return notSent(uuid.Nil, "unknown_email") // a username, not an address
	case u.Status != models.StatusActive:
		return notSent(u.ID, "account_"+u.Status)
	default:
		userID = &u.ID
		address = u.Email // the account's own spelling
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	token := secret.Token()
	key := store.EmailKey(address)
	c := &models.EmailCode{
		ID: uuid.Must(uuid.NewV7()), EmailKey: key, Email: address, UserID: userID,
		CodeHash: s.codeMAC(key, code), TokenHash: s.secret.MAC(emailLinkPurpose, []byte(token)),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.EmailCodeTTL),
	}
	m, err := s.templates.EmailCode(address, s.cfg.PublicURL, code, token, s.cfg.EmailCodeTTL)
	if err != nil {
		return err
	}
	msg, err := mail.NewOutboxMail(s.secret, m, now)
	if err != nil {
		return notSent(uuid.Nil, "undeliverable")
	}
	msg.ExpiresAt = &c.ExpiresAt
	var subject uuid.UUID
	if userID != nil {
		subject = *userID
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		if err := tx.ReplaceEmailCode(ctx, c, now); err != nil {
			return err
		}
		if err := tx.EnqueueMail(ctx, msg); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.EmailCodeSent, now, uuid.Nil, subject, client,
			audit.Details{"mail": "queued", "signup": userID == nil}))
	})
	if err != nil {
		return err
	}
	s.wakeMail()
	return nil
}

// EmailCodeInput is a code with its address, or a link's token.
type EmailCodeInput struct {
	Email, Code string
	Token       string
	Remember    bool
}

// byEmail is a sign-in by email's method.
var byEmail = method{AMR: []string{models.AMREmail}}

// VerifyEmailCode signs in with a mailed code or link: the token response,
// or the second step when TOTP is on. The address is verified by it. A code
// for an address no account has (a sign-up by code) creates the account.
func (s *Service) VerifyEmailCode(ctx context.Context, in EmailCodeInput, client audit.Client) (*Session, error) {
	if !s.cfg.EmailLogin {
		return nil, ErrEmailLoginDisabled
	}
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	now := s.now()
	var out *Session
	var signup *models.EmailCode
	wrong := false
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		c, cur, err := s.lockCode(ctx, tx, in, now)
		if err != nil {
			return err
		}
		if cur != nil {
			if err := lockedError(lockoutOf(&cur.User), now); err != nil {
				return err
			}
		}
		if in.Token == "" && subtle.ConstantTimeCompare(c.CodeHash, s.codeMAC(c.EmailKey, in.Code)) != 1 {
			// Committed with the transaction: the failure counts whatever comes next.
			wrong = true
			if err := tx.FailEmailCode(ctx, c.ID); err != nil {
				return err
			}
			if cur == nil {
				return nil
			}
			return s.failCode(ctx, tx, &cur.User, client, audit.LoginFailed, ErrInvalidCode)
		}
		if err := tx.UseEmailCode(ctx, c.ID, now); err != nil {
			return err
		}
		if cur == nil {
			signup = c
			return nil
		}
		out, err = s.emailSignIn(ctx, tx, cur, in.Remember, client, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if wrong {
		return nil, ErrInvalidCode
	}
	if signup != nil {
		return s.signupByCode(ctx, signup, in.Remember, client)
	}
	return out, nil
}

// lockCode finds and locks the live code the input names, and its account
// (locked first, the order every change of a user takes), or nil for a
// sign-up code. A code that is used, expired or failed too often is
// ErrInvalidCode, as is an address with no code.
func (s *Service) lockCode(ctx context.Context, tx *store.Store, in EmailCodeInput, now time.Time) (*models.EmailCode, *store.Account, error) {
	find := func(lock bool) (*models.EmailCode, error) {
		switch {
		case in.Token != "" && lock:
			return tx.LockEmailCodeByToken(ctx, s.secret.MAC(emailLinkPurpose, []byte(in.Token)))
		case in.Token != "":
			return tx.EmailCodeByToken(ctx, s.secret.MAC(emailLinkPurpose, []byte(in.Token)))
		case lock:
			return tx.LockEmailCode(ctx, store.EmailKey(in.Email))
		}
		return tx.EmailCode(ctx, store.EmailKey(in.Email))
	}
	c, err := find(false) // which account, unlocked: the account's row is locked first
	if err != nil {
		return nil, nil, notFound(err, ErrInvalidCode)
	}
	var cur *store.Account
	if c.UserID != nil {
		if cur, err = tx.LockUser(ctx, *c.UserID); err != nil {
			return nil, nil, notFound(err, ErrInvalidCode)
		}
	}
	if c, err = find(true); err != nil { // now locked, as it is
		return nil, nil, notFound(err, ErrInvalidCode)
	}
	if (c.UserID == nil) != (cur == nil) || (cur != nil && *c.UserID != cur.ID) {
		return nil, nil, ErrInvalidCode // replaced meanwhile by a code for another account
	}
	if cur != nil && c.EmailKey != store.EmailKey(cur.Email) {
		return nil, nil, ErrInvalidCode // mailed to an address that is no longer the account's
	}
	if c.UsedAt != nil || !now.Before(c.ExpiresAt) || c.Failures >= maxCodeFailures {
		return nil, nil, ErrInvalidCode
	}
	return c, cur, nil
}

// emailSignIn completes a sign-in by email on tx: the address is verified
// (the mail reached it), then the login continues as any other. When this is
// the address's first proof, what was set up on the account before it (a
// password, passkeys, identities, its sessions) ends, as a reset's first
// proof ends it: whoever made an account with someone else's address must
// not keep a way into it once its owner signs in.
func (s *Service) emailSignIn(ctx context.Context, tx *store.Store, cur *store.Account, remember bool, client audit.Client, now time.Time) (*Session, error) {
	if err := s.loginAllowed(&cur.User); err != nil && !errors.Is(err, ErrEmailUnverified) {
		return nil, err
	}
	if cur.EmailVerifiedAt == nil {
		if err := s.firstProof(ctx, tx, cur, client, now); err != nil {
			return nil, err
		}
	}
	if cur.TOTPEnabled() { // half a login: the failure count stands until the second step
		step, err := s.startSecondStep(ctx, tx, cur.ID, remember, byEmail, now)
		return &Session{SecondStep: step}, err
	}
	return s.startSession(ctx, tx, cur.ID, remember, byEmail, client, now)
}

// firstProof verifies cur's address by a sign-in code or link, on tx, and
// ends what was set up before the proof.
func (s *Service) firstProof(ctx context.Context, tx *store.Store, cur *store.Account, client audit.Client, now time.Time) error {
	write := store.UserUpdate{EmailVerifiedAt: store.Value(now)}
	hadPassword := cur.PasswordHash != ""
	if hadPassword {
		write.PasswordHash = new("")
	}
	if err := tx.UpdateUser(ctx, cur.ID, now, write); err != nil {
		return err
	}
	if err := s.removeUnprovenFactors(ctx, tx, &cur.User, client, now); err != nil {
		return err
	}
	n, err := s.revokeUser(ctx, tx, cur.ID, "email_proven")
	if err != nil {
		return err
	}
	if err := tx.DeleteResetTokens(ctx, cur.ID, uuid.Nil); err != nil {
		return err
	}
	if err := tx.CancelEmailChange(ctx, cur.ID); err != nil { // a move to the maker's address, asked before the proof
		return err
	}
	cur.EmailVerifiedAt, cur.PasswordHash = &now, ""
	cur.TOTPEnabledAt = nil // removeUnprovenFactors turned it off
	return tx.AddAudit(ctx, audit.Event(audit.EmailVerified, now, cur.ID, cur.ID, client,
		audit.Details{"by": "email_code", "password_removed": hadPassword, "sessions_revoked": n}))
}

// signupByCode creates the account a sign-up code was mailed for (its
// address verified, no password, the user role; pending when signups need
// approval), then signs it in.
func (s *Service) signupByCode(ctx context.Context, c *models.EmailCode, remember bool, client audit.Client) (*Session, error) {
	username, err := s.freeUsername(ctx, &federation.Identity{}, c.Email)
	if err != nil {
		return nil, err
	}
	status := models.StatusActive
	if s.cfg.SignupRequiresApproval {
		status = models.StatusPending
	}
	acct, err := s.create(ctx, newAccount{
		Profile: Profile{Email: c.Email, Username: username}, roles: []string{models.RoleUser}, status: status,
		verified: true, passwordless: true, event: audit.Signup, self: true, client: client,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrInvalidCode // the address was taken meanwhile: sign in to that account instead
	}
	if err != nil {
		return nil, err
	}
	var out *Session
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, acct.ID)
		if err != nil {
			return err
		}
		out, err = s.emailSignIn(ctx, tx, cur, remember, client, s.now())
		return err
	})
	return out, err
}
