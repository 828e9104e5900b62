package accounts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// Consecutive failed checks of a secret (a password at login or when a
// signed-in user re-authenticates, a TOTP or recovery code) lock an account,
// or an identifier that names none, for a time that doubles with each lock:
// the answer to a guess is the same either way, so it reveals nothing.
// Attempts during a lock are refused without checking the secret and do not
// extend it.
//
// However many attempts arrive at once, at most LockoutThreshold wrong
// secrets are checked per lock. A code is cheap to check, so it is checked
// inside the transaction that holds the account's row lock, decides whether
// the account is locked and counts the failure. A password costs a hash
// (tens of milliseconds) that must not hold a row lock or a connection, so
// its attempt is counted as a failure before the hash, in the transaction
// that decides whether it may be checked at all, and a correct password takes
// its count back (reserve, check, settle). Within one instance the attempts
// on one account also queue on a mutex (attemptLocks): a burst of correct
// logins waits its turn instead of being refused by the others' reservations.
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
	return s.secret.MAC("login-identifier", []byte(identifierKey(login)))
}

// lockedError is a *LockedError while l locks login at now, else nil.
func lockedError(l store.Lockout, now time.Time) error {
	if d := lockedFor(l, now); d > 0 {
		return &LockedError{RetryAfter: d.Round(time.Second) + time.Second}
	}
	return nil
}

// countFailure adds a failure to l and reports whether it locks now.
func (s *Service) countFailure(l *store.Lockout, now time.Time) bool {
	if s.cfg.LockoutThreshold <= 0 {
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

// failCode counts, on tx, a wrong code of the user whose row tx has locked
// (cur) and whose lock it has checked: the failure, written as event, and the
// lock it may set.
func (s *Service) failCode(ctx context.Context, tx *store.Store, cur *models.User, client audit.Client, event string, failure error) error {
	now := s.now()
	l := lockoutOf(cur)
	locks := s.countFailure(&l, now)
	if err := tx.SetUserLockout(ctx, cur.ID, lockoutOf(cur), l); err != nil {
		return err
	}
	return s.auditFailure(ctx, tx, cur.ID, client, event, failure, locks, l, now)
}

// auditFailure writes a failed check as event and, when it locked login, the lock.
func (s *Service) auditFailure(ctx context.Context, tx *store.Store, userID uuid.UUID, client audit.Client, event string,
	failure error, locks bool, l store.Lockout, now time.Time) error {
	if err := tx.AddAudit(ctx, audit.Event(event, now, uuid.Nil, userID, client,
		audit.Details{"reason": failureReason(failure)})); err != nil {
		return err
	}
	if !locks {
		return nil
	}
	return tx.AddAudit(ctx, audit.Event(audit.LoginLocked, now, uuid.Nil, userID, client,
		audit.Details{"locked_until": l.LockedUntil, "lock_count": l.LockCount, "known_account": userID != uuid.Nil}))
}

func failureReason(failure error) string {
	switch {
	case errors.Is(failure, ErrInvalidMFACode):
		return "invalid_mfa_code"
	case errors.Is(failure, ErrInvalidCode):
		return "invalid_code"
	}
	return "invalid_credentials"
}

// attempt is one password check, counted as a failure until it is settled.
type attempt struct {
	userID uuid.UUID // uuid.Nil: an identifier that names no account
	key    []byte    // the identifier's MAC, for uuid.Nil
	// before and after are the lockout without and with this attempt counted;
	// locks says whether counting it locked login.
	before, after store.Lockout
	locks         bool
	at            time.Time
	release       func()
}

// reserve counts an attempt at the account (userID) or, for uuid.Nil, the
// identifier login, before its password is checked: a *LockedError when
// login is locked. The caller settles it with fail or pass.
func (s *Service) reserve(ctx context.Context, userID uuid.UUID, login string) (*attempt, error) {
	a := &attempt{userID: userID, release: func() {}}
	if userID == uuid.Nil {
		a.key = s.identifierMAC(login)
	}
	if s.cfg.LockoutThreshold <= 0 {
		return a, nil
	}
	lockKey := userID.String()
	if userID == uuid.Nil {
		lockKey = string(a.key)
	}
	release, err := s.attemptLocks.lock(ctx, lockKey)
	if err != nil {
		return nil, err
	}
	a.release = release
	a.at = s.now()
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		l, err := a.lockRow(ctx, tx)
		if err != nil {
			return err
		}
		if err := lockedError(l, a.at); err != nil {
			return err
		}
		a.before, a.after = l, l
		a.locks = s.countFailure(&a.after, a.at)
		return a.write(ctx, tx, a.before, a.after)
	})
	if err != nil {
		a.release()
		return nil, notFound(err, ErrInvalidCredentials) // an account deleted meanwhile is a wrong password
	}
	return a, nil
}

// lockRow reads the attempt's lockout on tx and locks its row for the rest of tx.
func (a *attempt) lockRow(ctx context.Context, tx *store.Store) (store.Lockout, error) {
	if a.userID == uuid.Nil {
		return tx.LockIdentifierLockout(ctx, a.key, a.at)
	}
	return tx.LockUserLockout(ctx, a.userID)
}

// write replaces the lockout was, read by lockRow on tx, with l.
func (a *attempt) write(ctx context.Context, tx *store.Store, was, l store.Lockout) error {
	if a.userID == uuid.Nil {
		return tx.SetIdentifierLockout(ctx, a.key, l, a.at)
	}
	return tx.SetUserLockout(ctx, a.userID, was, l)
}

// fail settles a wrong password: its failure stands (it was counted when
// reserved); it is written as event, with the lock it set. It returns failure.
func (s *Service) fail(ctx context.Context, a *attempt, client audit.Client, event string, failure error) error {
	defer a.release()
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		return s.auditFailure(ctx, tx, a.userID, client, event, failure, a.locks, a.after, s.now())
	})
	if err != nil {
		return err
	}
	return failure
}

// pass takes back, on tx, the count of an attempt whose password was right.
// Unless something else changed the counters meanwhile (another instance),
// they return to what they were before it; otherwise one failure is taken off.
func (s *Service) pass(ctx context.Context, tx *store.Store, a *attempt) error {
	if s.cfg.LockoutThreshold <= 0 {
		return nil
	}
	cur, err := a.lockRow(ctx, tx)
	if err != nil {
		return err
	}
	next := cur
	switch {
	case sameCounts(cur, a.after):
		next = a.before
	case cur.FailedLogins > 0:
		next.FailedLogins--
	default:
		return nil
	}
	return a.write(ctx, tx, cur, next)
}

// passAlone is pass in a transaction of its own, for a correct password that
// is not followed by a write of its own (re-authentication).
func (s *Service) passAlone(ctx context.Context, a *attempt) error {
	defer a.release()
	if s.cfg.LockoutThreshold <= 0 {
		return nil // nothing was counted
	}
	return s.store.InTx(ctx, func(tx *store.Store) error { return s.pass(ctx, tx, a) })
}

// unchecked settles an attempt whose password was never checked (the request
// ended while it waited for a hashing worker): nothing was learnt, so its
// count is taken back, even from a request that has ended. It returns err.
func (s *Service) unchecked(ctx context.Context, a *attempt, err error) error {
	if perr := s.passAlone(context.WithoutCancel(ctx), a); perr != nil {
		s.log.ErrorContext(ctx, "taking back an unchecked login attempt failed", "error", perr)
	}
	return err
}

// sameCounts compares two lockouts as the database keeps them (its times are
// rounded, so only whether a lock is set counts).
func sameCounts(a, b store.Lockout) bool {
	return a.FailedLogins == b.FailedLogins && a.LockCount == b.LockCount && (a.LockedUntil == nil) == (b.LockedUntil == nil)
}

// attemptLocks queues the password checks of one account (or identifier)
// within this instance. Entries live while someone holds or waits for them.
// At most maxAttemptsQueued queue for one account: more than a burst, and
// beyond them the attempts are refused at once (503), not kept waiting.
type attemptLocks struct {
	mu    sync.Mutex
	locks map[string]*attemptLock
}

const maxAttemptsQueued = 64

type attemptLock struct {
	turn  chan struct{} // holds a token while someone has the turn
	users int           // holding or waiting
}

// lock waits for key's turn, or for ctx to end, and returns its release.
func (l *attemptLocks) lock(ctx context.Context, key string) (release func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*attemptLock{}
	}
	e := l.locks[key]
	if e == nil {
		e = &attemptLock{turn: make(chan struct{}, 1)}
		l.locks[key] = e
	}
	if e.users >= maxAttemptsQueued {
		l.mu.Unlock()
		return nil, hashpool.ErrOverloaded // a flood on one account: shed like the hashing pool's
	}
	e.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case e.turn <- struct{}{}:
		return func() { <-e.turn; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}
