package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// Consecutive failed logins lock an account, or an identifier that names none,
// for a time that doubles with each lock: the answer to a guess is the same
// either way, so it reveals nothing. Attempts during a lock are refused
// without checking the password and do not extend it.
const (
	firstLock = time.Minute
	longest   = time.Hour
)

// LockedError: login is locked for RetryAfter after too many failures.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("accounts: login locked for %v", e.RetryAfter)
}

// lockDuration is the length of the n-th consecutive lock (n ≥ 1).
func lockDuration(n int) time.Duration {
	d := firstLock
	for i := 1; i < n && d < longest; i++ {
		d *= 2
	}
	return min(d, longest)
}

// lockedFor is how long l still locks login at now; 0 when it does not.
func lockedFor(l store.Lockout, now time.Time) time.Duration {
	if l.LockedUntil == nil || !now.Before(*l.LockedUntil) {
		return 0
	}
	return l.LockedUntil.Sub(now)
}

func lockoutOf(u *models.User) store.Lockout {
	return store.Lockout{FailedLogins: u.FailedLogins, LockCount: u.LockCount, LockedUntil: u.LockedUntil}
}

// identifierMAC keys the counters of an identifier that names no account: the
// database holds no guessed addresses.
func (s *Service) identifierMAC(login string) []byte {
	return s.Secret.MAC("login-identifier", []byte(identifierKey(login)))
}

// locked refuses a login whose account (u, or nil) or identifier is locked.
func (s *Service) locked(ctx context.Context, u *models.User, login string, now time.Time) error {
	l := store.Lockout{}
	if u != nil {
		l = lockoutOf(u)
	} else {
		var err error
		if l, err = s.Store.IdentifierLockout(ctx, s.identifierMAC(login)); err != nil {
			return err
		}
	}
	return lockedError(l, now)
}

// lockedError is a *LockedError while l locks login at now, else nil.
func lockedError(l store.Lockout, now time.Time) error {
	if d := lockedFor(l, now); d > 0 {
		return &LockedError{RetryAfter: d.Round(time.Second) + time.Second}
	}
	return nil
}

// loginFailed counts a failed login against the account (userID) or, for
// uuid.Nil, the identifier, records it, and returns the one error both give.
// The failure that reaches the threshold locks, and is still a plain failure.
func (s *Service) loginFailed(ctx context.Context, userID uuid.UUID, login string, client audit.Client) error {
	return s.countFailedLogin(ctx, userID, login, client, audit.LoginFailed, ErrInvalidCredentials)
}

// countFailedLogin counts a failure (a wrong password, or a wrong second-factor
// code) toward the lockout, writes it as event, and returns failure.
func (s *Service) countFailedLogin(ctx context.Context, userID uuid.UUID, login string, client audit.Client, event string, failure error) error {
	now := s.Now()
	err := s.Store.InTx(ctx, func(tx *store.Store) error {
		var l store.Lockout
		key := s.identifierMAC(login)
		if userID != uuid.Nil {
			acct, err := tx.LockUser(ctx, userID)
			if err != nil {
				return err
			}
			l = lockoutOf(&acct.User)
		} else {
			var err error
			if l, err = tx.LockIdentifierLockout(ctx, key, now); err != nil {
				return err
			}
		}
		locks := s.countFailure(&l, now)
		var err error
		if userID != uuid.Nil {
			err = tx.SetUserLockout(ctx, userID, l)
		} else {
			err = tx.SetIdentifierLockout(ctx, key, l, now)
		}
		if err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, audit.Event(event, now, uuid.Nil, userID, client,
			audit.Details{"reason": failureReason(failure)})); err != nil {
			return err
		}
		if !locks {
			return nil
		}
		return tx.AddAudit(ctx, audit.Event(audit.LoginLocked, now, uuid.Nil, userID, client,
			audit.Details{"locked_until": l.LockedUntil, "lock_count": l.LockCount, "known_account": userID != uuid.Nil}))
	})
	if err != nil {
		return err
	}
	return failure
}

func failureReason(failure error) string {
	switch {
	case errors.Is(failure, ErrInvalidMFACode):
		return "invalid_mfa_code"
	case errors.Is(failure, ErrInvalidPasskey):
		return "invalid_passkey"
	}
	return "invalid_credentials"
}

// countFailure adds a failure to l and reports whether it locks now. A
// failure racing a lock just set does not count (nor extend it).
func (s *Service) countFailure(l *store.Lockout, now time.Time) bool {
	if s.cfg.LockoutThreshold <= 0 || lockedFor(*l, now) > 0 {
		return false
	}
	l.FailedLogins++
	if l.FailedLogins < s.cfg.LockoutThreshold {
		return false
	}
	l.LockCount++
	until := now.Add(lockDuration(l.LockCount))
	l.FailedLogins, l.LockedUntil = 0, &until
	return true
}
