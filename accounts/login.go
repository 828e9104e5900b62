package accounts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/tracing"
)

// LoginInput is a password login.
type LoginInput struct {
	Login    string // email or username
	Password string
	Remember bool // the longer session lifetime
}

// Session is a login's outcome: the account and its new session; or, for a
// user with TOTP on, only SecondStep, which POST /v1/auth/mfa completes.
type Session struct {
	Account      *store.Account
	Session      *models.Session
	RefreshToken string
	SecondStep   *SecondStep
}

// SecondStep is what a correct password earns a user with TOTP on: a
// single-use token for CompleteMFA, good for MFATokenTTL.
type SecondStep struct {
	Token   string
	Methods []string
}

// Login decides a password login and starts the session. An unknown login and
// a wrong password cost the same (a dummy hash) and give the same error; the
// account's status is only revealed to someone who knows its password.
func (s *Service) Login(ctx context.Context, in LoginInput, client audit.Client) (*Session, error) {
	// Counted before any work, per client and per identifier, known or not.
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, ScopeLoginIdentifier, identifierKey(in.Login), s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	// One query, known user or not: the grants load only after the password verifies.
	u, err := s.store.UserRowByLogin(ctx, in.Login)
	if errors.Is(err, store.ErrNotFound) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	// A place in the hashing queue first: a login the pool would refuse under
	// load is refused before anything is counted or written.
	turn, err := s.hashing.Enter()
	if err != nil {
		return nil, err
	}
	defer turn.Leave()
	if u == nil {
		// The same work as a wrong password (a counted attempt, a hash), so
		// neither the answer nor its timing reveals anything.
		a, err := s.reserve(ctx, uuid.Nil, in.Login)
		if err != nil {
			return nil, err
		}
		if err := s.verifyDummy(ctx, turn, in.Password); err != nil {
			return nil, s.unchecked(ctx, a, err)
		}
		return nil, s.fail(ctx, a, client, audit.LoginFailed, ErrInvalidCredentials)
	}
	a, err := s.reserve(ctx, u.ID, in.Login)
	if err != nil {
		return nil, err
	}
	ok, rehash, err := s.verify(ctx, turn, u, in.Password)
	if err != nil {
		return nil, s.unchecked(ctx, a, err)
	}
	if !ok {
		return nil, s.fail(ctx, a, client, audit.LoginFailed, ErrInvalidCredentials)
	}
	defer a.release()
	var upgraded string
	if rehash { // the cost parameters changed since this hash was made: upgrade it now that we know the password
		var herr error
		hctx, span := tracing.Start(ctx, "password.hash")
		if err := s.hashing.Do(hctx, func() { upgraded, herr = s.hasher.Hash(in.Password) }); err != nil || herr != nil {
			upgraded = "" // not now; the next login tries again
		}
		span.End()
	}
	now := s.now()
	out := &Session{}
	var refused error // a correct password on an account that may not log in: no failure
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		// The password was checked outside the transaction. Lock the user and check
		// again that it is still the password just verified and that the account may
		// still log in: a password change or a disable that committed meanwhile must
		// not be followed by a session it would have revoked.
		cur, err := tx.LockUser(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCredentials // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if cur.PasswordHash != u.PasswordHash {
			return ErrInvalidCredentials // changed meanwhile: the attempt's failure stands
		}
		if refused = s.loginAllowed(&cur.User); refused != nil {
			return s.pass(ctx, tx, a)
		}
		if upgraded != "" {
			if err := tx.UpgradePasswordHash(ctx, u.ID, upgraded); err != nil {
				return err
			}
		}
		if cur.TOTPEnabled() {
			// The password alone is half a login: no session, and the failure
			// count stands as it was until the second step succeeds.
			if err := s.pass(ctx, tx, a); err != nil {
				return err
			}
			out.SecondStep, err = s.startSecondStep(ctx, tx, u.ID, in.Remember, byPassword, now)
			return err
		}
		out, err = s.startSession(ctx, tx, u.ID, in.Remember, byPassword, client, now)
		return err
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// method is how a login authenticated the user, as its session records it.
type method struct {
	AMR      []string  // RFC 8176 values
	FactorID uuid.UUID // the passkey or linked identity used; uuid.Nil for none
	IDP      string    // that identity's provider
}

// byPassword is a password login's method.
var byPassword = method{AMR: []string{models.AMRPassword}}

// name is the method as login_succeeded's details name it.
func (m method) name() string {
	switch {
	case m.IDP != "":
		return "provider:" + m.IDP
	case slices.Contains(m.AMR, models.AMRHardware):
		return "passkey"
	case slices.Contains(m.AMR, models.AMREmail):
		return "email_code"
	}
	return "password"
}

// startSession completes a login on tx: the lockout counters reset, a session
// authenticated by how starts, login_succeeded is written.
func (s *Service) startSession(ctx context.Context, tx *store.Store, userID uuid.UUID, remember bool, how method,
	client audit.Client, now time.Time) (*Session, error) {
	if err := tx.RecordLogin(ctx, userID, now); err != nil {
		return nil, err
	}
	out := &Session{}
	var err error
	if out.Session, out.RefreshToken, err = s.sessions.Start(ctx, tx, sessions.Opening{
		UserID: userID, Remember: remember, AMR: how.AMR, FactorID: how.FactorID, IDP: how.IDP, Client: client,
	}); err != nil {
		return nil, err
	}
	if err := tx.AddAudit(ctx, audit.Event(audit.LoginSucceeded, now, userID, userID, client,
		audit.Details{"session_id": out.Session.ID, "remember": remember, "amr": how.AMR, "method": how.name()})); err != nil {
		return nil, err
	}
	out.Account, err = tx.UserByID(ctx, userID)
	return out, err
}

// loginAllowed: pending and disabled accounts may not log in, nor, when
// verification is required, accounts whose address is not confirmed yet.
func (s *Service) loginAllowed(u *models.User) error {
	switch u.Status {
	case models.StatusPending:
		return ErrAccountPending
	case models.StatusDisabled:
		return ErrAccountDisabled
	}
	if s.cfg.RequireVerifiedEmail && u.EmailVerifiedAt == nil {
		return ErrEmailUnverified
	}
	return nil
}

// Logout ends the session (or, with all, every session of its user).
func (s *Service) Logout(ctx context.Context, userID, sessionID uuid.UUID, all bool, client audit.Client) error {
	r := store.Revoke{SessionID: sessionID, Reason: "logout"}
	if all {
		r = store.Revoke{UserIDs: []uuid.UUID{userID}, Reason: "logout_all"}
	}
	return s.store.InTx(ctx, func(tx *store.Store) error {
		ids, err := s.sessions.Revoke(ctx, tx, r)
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.Logout, s.now(), userID, userID, client,
			audit.Details{"all": all, "sessions": len(ids)}))
	})
}

// Refresh exchanges a refresh token for its successor and returns the account
// it now stands for; an account that may no longer log in gets no new tokens.
func (s *Service) Refresh(ctx context.Context, refreshToken string, client audit.Client) (*Session, error) {
	r, err := s.sessions.Refresh(ctx, refreshToken, client)
	if err != nil {
		return nil, err
	}
	var acct *store.Account
	if s.accounts != nil {
		acct, err = s.accounts.Account(ctx, r.Session.UserID)
	} else {
		acct, err = s.store.UserByID(ctx, r.Session.UserID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, sessions.ErrInvalid // the user was deleted
	}
	if err != nil {
		return nil, err
	}
	if acct.Status != models.StatusActive {
		return nil, ErrAccountDisabled
	}
	return &Session{Account: acct, Session: &r.Session, RefreshToken: r.RefreshToken}, nil
}
