// Package accounts owns every rule about accounts: who may act on whom, what a
// change revokes, what it records. Each operation takes a context, the acting
// user and plain inputs, runs in one transaction, and returns the domain errors
// of errors.go. HTTP handlers and the command line both call it; neither knows
// the rules.
package accounts

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/tracing"
)

// MailQueue is nudged after a mail is queued, so it goes out without waiting for the next poll.
type MailQueue interface{ Wake() }

// Config is the account policy taken from the service configuration.
type Config struct {
	SignupRequiresApproval bool
	AdminSignupKey         string // empty: admin signup is off
	PublicURL              string // base of the links in mails
	ResetTokenTTL          time.Duration
	// Verified email: VerifyEmail sends the mails (EMAIL_VERIFICATION optional
	// or required); RequireVerifiedEmail refuses login until the address is
	// confirmed (required). Links live VerifyTokenTTL.
	VerifyEmail, RequireVerifiedEmail bool
	VerifyTokenTTL                    time.Duration
	// Sign-in by email (EmailLogin), sign-up by it (EmailLoginSignup); codes
	// and their links live EmailCodeTTL, invitation links InviteTTL.
	EmailLogin, EmailLoginSignup bool
	EmailCodeTTL, InviteTTL      time.Duration
	// TOTPIssuer names the service in authenticator apps.
	TOTPIssuer string
	// Rate limits (zero: off): login attempts per identifier and per client IP,
	// signups per client IP, mails per address.
	LoginLimit, SignupLimit, MailLimit ratelimit.Limit
	// LockoutThreshold consecutive failed logins lock login (0: never).
	LockoutThreshold int
	// Rules decide who may do what (policy).
	Rules policy.Rules
}

// Passwords are how the service hashes and judges passwords.
type Passwords struct {
	Hasher *password.Hasher
	// Pool bounds concurrent hashing: memory stays flat under a flood.
	Pool   *hashpool.Pool
	Policy password.Policy
}

// AccountSource reads an account by id (store.ErrNotFound when there is none).
type AccountSource interface {
	Account(ctx context.Context, id uuid.UUID) (*store.Account, error)
}

// Service performs account operations.
type Service struct {
	store     *store.Store
	sessions  *sessions.Service
	secret    *secret.Key
	hasher    *password.Hasher
	hashing   *hashpool.Pool
	passwords password.Policy
	cfg       Config

	mail      MailQueue         // nil: nothing to wake
	templates *mail.Templates   // the mails' wording (never nil: the embedded set by default)
	limiter   ratelimit.Limiter // nil: no rate limits
	webauthn  *webauthn.WebAuthn
	// External identity providers (nil: none), and where their sign-ins may send apps back.
	providers    *federation.Set
	redirectURLs []string
	accounts     AccountSource // nil: accounts are read from the store
	signupHook   SignupHook    // nil: none
	log          *slog.Logger
	now          func() time.Time

	// Work done after answering (password-reset requests), so its duration
	// cannot tell a client whether an account exists.
	later sync.WaitGroup
	slots chan struct{}

	attemptLocks attemptLocks // password checks of one account queue here (lockout.go)
}

// Option supplies a part the service can do without.
type Option func(*Service)

// WithMail has queued mail sent at once rather than at the outbox's next poll.
func WithMail(q MailQueue) Option { return func(s *Service) { s.mail = q } }

// WithMailTemplates builds mails from t (default: the embedded templates,
// mail.DefaultTemplates); app loads t from MAIL_TEMPLATES_DIR. A nil t keeps the default.
func WithMailTemplates(t *mail.Templates) Option { return func(s *Service) { s.templates = t } }

// WithLimiter turns the rate limits of Config on.
func WithLimiter(l ratelimit.Limiter) Option { return func(s *Service) { s.limiter = l } }

// WithPasskeys turns passkeys on, verified by wa (nil: off).
func WithPasskeys(wa *webauthn.WebAuthn) Option { return func(s *Service) { s.webauthn = wa } }

// WithAccountSource reads accounts for the token endpoints (refresh) through
// src: the hot path's cache (middleware.Live).
func WithAccountSource(src AccountSource) Option { return func(s *Service) { s.accounts = src } }

// SignupCandidate is who asks to sign up, as a signup hook is told: public
// fields only, never a password.
type SignupCandidate struct {
	Email, Username, FirstName, LastName string
	Provider                             string // the identity provider ("": password or email code)
}

// SignupHook is asked before an account is created by the user themself
// (signup, a provider's sign-in, an email code): allowed, or not and why. An
// error (hooks.ErrFailed) refuses the signup as it is.
type SignupHook interface {
	CheckSignup(ctx context.Context, c SignupCandidate) (allowed bool, reason string, err error)
}

// WithSignupHook asks h before every self signup (SIGNUP_HOOK_URL; nil: none).
func WithSignupHook(h SignupHook) Option { return func(s *Service) { s.signupHook = h } }

// WithLogger logs to log (default: nowhere).
func WithLogger(log *slog.Logger) Option { return func(s *Service) { s.log = log } }

// WithClock reads the time from now (default: time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New builds the service on its store, its sessions, the secret key that
// keys its MACs and seals, and its password hashing.
func New(st *store.Store, sess *sessions.Service, key *secret.Key, pw Passwords, cfg Config, opts ...Option) *Service {
	s := &Service{
		store: st, sessions: sess, secret: key, hasher: pw.Hasher, hashing: pw.Pool, passwords: pw.Policy, cfg: cfg,
		log: slog.New(slog.DiscardHandler), now: time.Now, slots: make(chan struct{}, 16),
	}
	for _, o := range opts {
		o(s)
	}
	if s.templates == nil {
		s.templates = mail.DefaultTemplates()
	}
	return s
}

// LookupRefreshSession is the live session of a refresh token (sessions.ErrInvalid when none).
func (s *Service) LookupRefreshSession(ctx context.Context, refreshToken string) (*models.Session, error) {
	return s.sessions.Lookup(ctx, refreshToken)
}

// Wait blocks until work started after answering has finished (shutdown, tests).
func (s *Service) Wait() { s.later.Wait() }

// afterAnswer runs fn in the background, at most cap(slots) at a time; a caller
// beyond that waits for a slot, whichever path it is on.
func (s *Service) afterAnswer(ctx context.Context, fn func(ctx context.Context)) {
	s.slots <- struct{}{}
	s.later.Add(1)
	ctx = context.WithoutCancel(ctx) // the request ends before the work does
	go func() {
		defer func() { <-s.slots; s.later.Done() }()
		fn(ctx)
	}()
}

// mailLater answers a request to mail an address at once and does the work
// (work) after the answer: whether the address belongs to an account shows
// neither in the answer nor in its timing. Only a database out of reach is
// reported (the same check for every address, so the client may retry);
// later failures are logged as what failed.
func (s *Service) mailLater(ctx context.Context, what string, work func(ctx context.Context) error) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	s.afterAnswer(ctx, func(ctx context.Context) {
		if err := work(ctx); err != nil {
			s.log.ErrorContext(ctx, what+" failed", "error", err)
		}
	})
	return nil
}

// Actor is who performs an operation, and from where: a signed-in account,
// or the operator at the command line (Account nil), who may do anything.
// What it may do is policy's to decide.
type Actor struct {
	policy.Principal
	Client audit.Client
}

// SignedIn is the actor of a request made with acct's access token.
func SignedIn(acct *store.Account, client audit.Client) Actor {
	return Actor{Principal: policy.Principal{Account: acct}, Client: client}
}

// Operator is the actor of the command line and of start-up.
func Operator() Actor { return Actor{Client: audit.Client{IP: "local"}} }

// own is the account a self-service operation (/v1/me: password, factors,
// identities, deletion) acts on: the actor's own, through a session. A
// personal or service token gets ErrSessionRequired. The session-only routes
// refuse those first; this keeps the rule if a caller forgets.
func own(actor Actor) (*store.Account, error) {
	if err := policy.RequireSession(actor.Principal); err != nil {
		return nil, err
	}
	return actor.Account, nil
}

// Authorize asks the policy whether the actor may perform op. Every
// operation asks it itself; callers ask first to refuse before reading input.
func (s *Service) Authorize(actor Actor, op policy.Operation) error { return s.authorize(actor, op) }

func (s *Service) authorize(actor Actor, op policy.Operation) error {
	return s.cfg.Rules.Allow(actor.Principal, op)
}

// Details adds where a change came from to an audit record: the command
// line, or a service client (whose id is the event's actor).
func (a Actor) Details(d audit.Details) audit.Details {
	switch {
	case a.Principal.Client != nil:
		d["via"] = "service client"
	case a.Account == nil:
		d["via"] = "command line"
	}
	return d
}

// revokeUser ends every session of the user on tx, and any second login step
// in progress, and returns how many sessions ended.
func (s *Service) revokeUser(ctx context.Context, tx *store.Store, userID uuid.UUID, reason string) (int, error) {
	ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{userID}, Reason: reason})
	if err != nil {
		return 0, err
	}
	return len(ids), tx.DeleteMFAChallenges(ctx, userID)
}

// Every password hash goes through the hashing pool (hashing): a few run at
// once, callers wait while the queued work is about a second, and the rest are
// refused at once with hashpool.ErrOverloaded (503), so a flood costs neither
// memory nor unbounded latency. A password check takes its place in the queue
// before anything else (hashing.Enter): a refused one writes nothing and is
// no failed attempt.

// hash checks pw against the policy, with the user's own details as inputs
// (field names the request field in the error), and hashes it.
func (s *Service) hash(ctx context.Context, field, pw string, u *models.User) (string, error) {
	if err := s.passwords.Check(pw, u.Email, u.Username, u.FirstName, u.LastName); err != nil {
		return "", &WeakPasswordError{Field: field, Reason: err.Error()}
	}
	var hash string
	var err error
	ctx, span := tracing.Start(ctx, "password.hash")
	defer span.End()
	if perr := s.hashing.Do(ctx, func() { hash, err = s.hasher.Hash(pw) }); perr != nil {
		return "", perr
	}
	return hash, err
}

// verify reports whether pw is the account's password, hashing in the place
// turn took in the queue (a password check enters the queue before its
// attempt is counted: a check the pool refuses costs nothing). An unreadable
// stored hash is logged and counts as wrong; an account without a password
// (made by a provider's sign-in) has none to match, in the same time.
func (s *Service) verify(ctx context.Context, turn *hashpool.Ticket, u *models.User, pw string) (ok, rehash bool, err error) {
	if u.PasswordHash == "" {
		return false, false, s.verifyDummy(ctx, turn, pw)
	}
	var herr error
	ctx, span := tracing.Start(ctx, "password.verify")
	defer span.End()
	if err := turn.Run(ctx, func() { ok, rehash, herr = s.hasher.Verify(u.PasswordHash, pw) }); err != nil {
		return false, false, err
	}
	if herr != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "error", herr)
	}
	return ok, rehash, nil
}

// verifyDummy spends the work of a verification on no account, so an unknown
// login takes as long as a wrong password.
func (s *Service) verifyDummy(ctx context.Context, turn *hashpool.Ticket, pw string) error {
	// The same span as a real check: a trace tells no more than the timing.
	ctx, span := tracing.Start(ctx, "password.verify")
	defer span.End()
	return turn.Run(ctx, func() { s.hasher.VerifyDummy(pw) })
}

// checkPassword is verify for operations that need the caller's password
// (re-authentication): ErrInvalidCredentials when it is wrong. A wrong one
// counts toward the lockout like a failed login; while login is locked it is
// not checked (*LockedError). An account without a password (made by a
// provider's sign-in) gets ErrPasswordNotSet: it sets one by forgot-password.
func (s *Service) checkPassword(ctx context.Context, u *models.User, pw string, client audit.Client) error {
	if u.PasswordHash == "" {
		// Nothing to check, and nothing to guess: no count either.
		return ErrPasswordNotSet
	}
	turn, err := s.hashing.Enter()
	if err != nil {
		return err
	}
	defer turn.Leave()
	a, err := s.reserve(ctx, u.ID, "")
	if err != nil {
		return err
	}
	ok, _, err := s.verify(ctx, turn, u, pw)
	if err != nil {
		return s.unchecked(ctx, a, err)
	}
	if !ok {
		return s.fail(ctx, a, client, audit.ReauthFailed, ErrInvalidCredentials)
	}
	return s.passAlone(ctx, a)
}
