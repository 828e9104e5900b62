// Package app wires authsvc together from a Config: database, keys, hashing,
// sessions, mail and the HTTP server, and runs them until shut down.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/handlers"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/hooks"
	"github.com/authsvc/authsvc/keys"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/metrics"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/serviceclients"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
	"github.com/authsvc/authsvc/tracing"
	"github.com/authsvc/authsvc/webhooks"
)

// App is a running authsvc: its parts, built once.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Store    *store.Store
	Secret   *secret.Key
	Keys     *keys.Manager
	Accounts *accounts.Service
	Metrics  *metrics.Metrics  // Prometheus metrics, served at /metrics
	Limiter  ratelimit.Limiter // shared by every rate limit of the API
	// Cache holds verified tokens, live sessions and accounts for the hot path;
	// the store's changes invalidate it (on PostgreSQL, every instance's: Listen).
	Cache *authcache.Cache
	// Live checks tokens, sessions and accounts through the cache.
	Live *middleware.Live
	Mail *mail.Worker
	// TokenHook is asked before a session's access token is signed (nil: off).
	TokenHook *hooks.Hook
	// Webhooks delivers the webhook events queued in the store's outbox.
	Webhooks *webhooks.Worker
	Server   *echo.Echo
	Now      func() time.Time
	// Tracing is the tracer provider of OTEL_EXPORTER_OTLP_ENDPOINT (a no-op
	// one when unset): the server's spans and the mail and webhook workers'.
	Tracing trace.TracerProvider
	// stopTracing flushes and stops Tracing (Serve, on the way out; Close).
	stopTracing func(context.Context) error
	// DrainDelay is how long Serve keeps serving after it is told to stop,
	// with /readyz answering 503, before it closes the listener (see Serve).
	DrainDelay time.Duration

	draining    atomic.Bool // told to stop: /readyz answers 503
	readyProbed atomic.Bool // something has asked /readyz
}

// DefaultDrainDelay is App.DrainDelay unless changed: long enough for a load
// balancer that probes /readyz every few seconds to take the instance out.
const DefaultDrainDelay = 5 * time.Second

// OpenStore connects to the configured database and brings its schema up to date.
func OpenStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, nil
}

// SecretKey resolves SECRET_KEY: as configured, or with SQLite the key file kept
// beside the database, created on first start.
func SecretKey(cfg config.Config) (*secret.Key, error) {
	raw := cfg.SecretKey
	if raw == "" {
		path := config.SecretKeyFile(store.SQLitePath(cfg.DatabaseURL))
		var err error
		if raw, err = secret.LoadOrCreateFile(path); err != nil {
			return nil, fmt.Errorf("SECRET_KEY: not set, and the key file %s cannot be used: %w", path, err)
		}
	}
	key, err := secret.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("SECRET_KEY: %w", err)
	}
	return key, nil
}

// NewKeys builds the signing-key manager for cfg.
func NewKeys(st *store.Store, key *secret.Key, cfg config.Config, now func() time.Time, log *slog.Logger) *keys.Manager {
	return keys.NewManager(st, key, keys.Config{
		Alg: cfg.JWTAlg, AccessTTL: cfg.AccessTokenTTL,
		RotationInterval: cfg.KeyRotationInterval, ReloadInterval: 30 * time.Second,
	}, now, log)
}

// NewHasher builds the password hasher with the configured cost.
func NewHasher(cfg config.Config) (*password.Hasher, error) {
	return password.NewHasher(password.Params{
		MemoryKiB: cfg.PasswordHashMemoryKiB, Iterations: cfg.PasswordHashIterations,
		Parallelism: cfg.PasswordHashParallelism, SaltLen: 16, KeyLen: 32,
	})
}

// NewSessions builds the session service for cfg.
func NewSessions(st *store.Store, key *secret.Key, cfg config.Config, now func() time.Time) *sessions.Service {
	return sessions.New(st, key, sessions.Config{
		SessionTTL: cfg.SessionTTL, RememberTTL: cfg.RememberSessionTTL,
		AccessTTL: cfg.AccessTokenTTL, Grace: cfg.RefreshReuseGrace,
	}, now)
}

// NewPasswords builds the password hashing of cfg: the hasher, the pool that
// bounds it and the policy for new passwords.
func NewPasswords(cfg config.Config) (accounts.Passwords, error) {
	hasher, err := NewHasher(cfg)
	if err != nil {
		return accounts.Passwords{}, fmt.Errorf("PASSWORD_HASH_*: %w", err)
	}
	// One hash timed now bounds the queue from the first caller on; the pool
	// then follows the cost it measures (real time, not now: it times work).
	hashing := hashpool.New(hashpool.Config{
		Workers: hashpool.DefaultWorkers(cfg.PasswordHashMemoryKiB), Budget: hashpool.DefaultBudget,
		Sample: func() { hasher.VerifyDummy("") }, Now: time.Now,
	})
	return accounts.Passwords{Hasher: hasher, Pool: hashing, Policy: password.Policy{MinScore: cfg.PasswordMinScore}}, nil
}

// NewAccounts builds the account service for cfg on st, hashing with pw;
// opts add what a caller has (mail, rate limits, the hot path's cache, a
// logger, a clock). The command line passes none of the first three. Mails
// are built from the templates of MAIL_TEMPLATES_DIR (see mail.LoadTemplates):
// one that fails to load is an error naming the file.
func NewAccounts(cfg config.Config, st *store.Store, key *secret.Key, pw accounts.Passwords, now func() time.Time, opts ...accounts.Option) (*accounts.Service, error) {
	wa, err := NewWebAuthn(cfg)
	if err != nil {
		return nil, err
	}
	templates, err := mail.LoadTemplates(cfg.MailTemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
	}
	opts = append([]accounts.Option{accounts.WithPasskeys(wa), accounts.WithClock(now), accounts.WithMailTemplates(templates)}, opts...)
	return accounts.New(st, NewSessions(st, key, cfg, now), key, pw, accounts.Config{
		SignupRequiresApproval: cfg.SignupRequiresApproval, AdminSignupKey: cfg.AdminSignupKey,
		PublicURL: cfg.PublicURL, ResetTokenTTL: cfg.ResetTokenTTL,
		VerifyEmail:          cfg.EmailVerification != config.EmailVerifyOff,
		RequireVerifiedEmail: cfg.EmailVerification == config.EmailVerifyRequired,
		VerifyTokenTTL:       cfg.VerifyTokenTTL,
		EmailLogin:           cfg.EmailLogin, EmailLoginSignup: cfg.EmailLoginSignup,
		EmailCodeTTL: cfg.EmailCodeTTL, InviteTTL: cfg.InviteTTL,
		TOTPIssuer: totpIssuer(cfg.PublicURL),
		LoginLimit: cfg.LoginRateLimit, SignupLimit: cfg.SignupRateLimit, MailLimit: cfg.MailRateLimit,
		LockoutThreshold: cfg.LockoutThreshold,
		Rules:            policy.Rules{DirectoryPublic: cfg.UserDirectoryPublic},
	}, opts...), nil
}

// NewProviders is the external identity providers of cfg; each sends the
// browser back to its callback under PUBLIC_URL.
func NewProviders(cfg config.Config, now func() time.Time, log *slog.Logger) *federation.Set {
	return federation.New(cfg.Providers, federation.Options{
		CallbackURL: func(name string) string { return cfg.PublicURL + "/v1/auth/providers/" + name + "/callback" },
		Timeout:     cfg.ProviderTimeout, Now: now, Log: log,
	})
}

// NewWebAuthn is the passkey verifier for cfg's relying party; nil when
// passkeys are off (no RP ID: PUBLIC_URL's host is an IP address).
func NewWebAuthn(cfg config.Config) (*webauthn.WebAuthn, error) {
	if cfg.WebAuthnRPID == "" {
		return nil, nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: cfg.WebAuthnRPID, RPDisplayName: cfg.WebAuthnRPName, RPOrigins: cfg.WebAuthnOrigins,
	})
	if err != nil {
		return nil, fmt.Errorf("WEBAUTHN_*: %w", err)
	}
	return wa, nil
}

// totpIssuer names the service in authenticator apps: the host people know it by.
func totpIssuer(publicURL string) string {
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "authsvc"
}

// accountSource is live, or none (nil interface, not a nil pointer) without one.
func accountSource(live *middleware.Live) accounts.AccountSource {
	if live == nil {
		return nil
	}
	return live
}

// NewLimiter counts rate limits in this process, or with REDIS_URL in Redis, so
// that every instance enforces one limit; while Redis is out of reach, in this
// process again. Redis keys start with REDIS_PREFIX and name what they count
// by a MAC under key.
func NewLimiter(cfg config.Config, key *secret.Key, log *slog.Logger, now func() time.Time) (ratelimit.Limiter, error) {
	local := ratelimit.NewMemory(0, now)
	if cfg.RedisURL == "" {
		return local, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Fail fast when Redis is away: the fallback answers from memory meanwhile,
	// and retries would only add their delay to every login.
	opts.MaxRetries, opts.DialerRetries = -1, 1
	return ratelimit.NewFallback(ratelimit.NewRedis(redis.NewClient(opts), cfg.RedisPrefix, key), local, log, now), nil
}

// New builds every part on an open, migrated store. now is the clock (time.Now in production).
func New(ctx context.Context, cfg config.Config, log *slog.Logger, st *store.Store, now func() time.Time) (*App, error) {
	key, err := SecretKey(cfg)
	if err != nil {
		return nil, err
	}
	if err := st.EnsureBuiltinRoles(ctx, now()); err != nil {
		return nil, fmt.Errorf("built-in roles: %w", err)
	}
	km := NewKeys(st, key, cfg, now, log)
	if err := km.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var sender mail.Sender = mail.LogSender{Log: log}
	if cfg.SMTPURL != "" {
		if sender, err = mail.NewSMTPSender(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
	} else {
		log.Warn("SMTP_URL is not set: mails are written to this log instead of being sent (development only)")
	}
	tp, stopTracing, err := tracing.Setup(ctx, tracingEnv(cfg), log)
	if err != nil {
		return nil, err
	}
	worker := mail.NewWorker(st, sender, key, now, log)
	worker.Tracing = tp
	webhookWorker := webhooks.NewWorker(st, key, cfg.WebhookAllowPrivate, now, log)
	webhookWorker.Tracing = tp
	limiter, err := NewLimiter(cfg, key, log, now)
	if err != nil {
		return nil, err
	}
	// Until changes from other processes are heard (PostgreSQL: Listen), entries
	// live briefly; with SQLite, other processes (the command line) never tell.
	cache := authcache.New(now, authcache.FallbackMaxAge)
	cache.CountListenersWith(st.CountListeners)
	cache.OnKeysChanged(km.KeysChanged)
	st.OnChange(cache.Changed)
	tokenCfg := token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL}
	live := &middleware.Live{
		Verifier: token.NewVerifier(km.KeySet, tokenCfg, now, km.ReloadSoon),
		Store:    st, Cache: cache, Secret: key, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Now: now,
	}
	pw, err := NewPasswords(cfg)
	if err != nil {
		return nil, err
	}
	sqlDB, _ := st.SQL()
	m := metrics.New(log, now, metrics.Sources{
		HashQueue: pw.Pool, DB: sqlDB, OutboxBacklog: st.PendingMailCount, OutboxFailing: st.FailingMailCount,
		WebhookBacklog: st.PendingDeliveryCount, WebhookFailing: st.FailingDeliveryCount,
	})
	tokenHook, signupHook, err := NewHooks(cfg, log, now, m.HookCall)
	if err != nil {
		return nil, err
	}
	providers := NewProviders(cfg, now, log)
	providers.Start(ctx)
	accts, err := NewAccounts(cfg, st, key, pw, now, accounts.WithMail(worker), accounts.WithLimiter(limiter),
		accounts.WithAccountSource(accountSource(live)), accounts.WithLogger(log),
		accounts.WithProviders(providers, cfg.RedirectURLs), signupHookOption(signupHook))
	if err != nil {
		return nil, err
	}
	if cfg.WebAuthnRPID == "" {
		log.Warn("passkeys are off: PUBLIC_URL's host is an IP address, and a passkey's relying party ID must be a domain name; set WEBAUTHN_RP_ID to turn them on",
			"public_url", cfg.PublicURL)
	}
	a := &App{
		Config: cfg, Log: log, Store: st, Secret: key, Keys: km,
		Accounts: accts, Limiter: limiter, Cache: cache, Live: live, Mail: worker, Now: now,
		Metrics:    m,
		TokenHook:  tokenHook,
		Webhooks:   webhookWorker,
		DrainDelay: DefaultDrainDelay,
		Tracing:    tp, stopTracing: stopTracing,
	}
	a.Server = newServer(a)
	return a, nil
}

// tracingEnv is what tracing.Setup reads, from cfg.
func tracingEnv(cfg config.Config) func(string) string {
	return func(name string) string {
		switch name {
		case "OTEL_EXPORTER_OTLP_ENDPOINT":
			return cfg.OTLPEndpoint
		case "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
			return cfg.OTLPTracesEndpoint
		case "OTEL_SERVICE_NAME":
			return cfg.ServiceName
		}
		return ""
	}
}

// Close flushes the spans not yet exported and stops tracing; later spans
// are dropped. Serve calls it on the way out.
func (a *App) Close(ctx context.Context) error {
	if a.stopTracing == nil {
		return nil
	}
	return a.stopTracing(ctx)
}

// degraded names the dependencies the service runs without at the moment.
func (a *App) degraded() map[string]string {
	if f, ok := a.Limiter.(*ratelimit.Fallback); ok && !f.Healthy() {
		return map[string]string{"redis": f.Status()}
	}
	return nil
}

// newServer builds the HTTP API: each resource's handler value, and the router.
func newServer(a *App) *echo.Echo {
	cfg, st, now := a.Config, a.Store, a.Now
	tokenCfg := token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL}
	live := a.Live
	issuer := token.NewIssuer(a.Keys.KeySet, tokenCfg, now)
	clients := serviceclients.New(serviceclients.Config{
		Store: st, Source: live, Secret: a.Secret, Issuer: issuer,
		Rules: policy.Rules{DirectoryPublic: cfg.UserDirectoryPublic}, AccessTTL: cfg.AccessTokenTTL, Now: now,
	})
	webhookAdmin := webhooks.NewAdmin(webhooks.AdminConfig{
		Store: st, Secret: a.Secret, Rules: policy.Rules{DirectoryPublic: cfg.UserDirectoryPublic},
		AllowPrivate: cfg.WebhookAllowPrivate, Wake: a.Webhooks.Wake, Now: now,
	})
	m := a.Metrics
	var cookies *handlers.Cookies
	if cfg.CookieMode {
		cookies = handlers.NewCookies(cfg.PublicURL, cfg.CORSOrigins)
		if !cfg.SecureForCookies() {
			a.Log.Warn("COOKIE_MODE: PUBLIC_URL is neither https nor a loopback address; browsers drop its Secure cookies over plain http, so browser sessions will not last",
				"public_url", cfg.PublicURL)
		}
	}
	return handlers.NewServer(handlers.Server{
		Metrics: m,
		Log:     a.Log, CORSOrigins: cfg.CORSOrigins, CookieMode: cfg.CookieMode, TrustedProxies: cfg.TrustedProxies,
		PasskeyDemo: cfg.PasskeyDemo,
		Auth:        middleware.RequireAuth(live),
		Tracing:     a.Tracing,
	}, handlers.Handlers{
		Discovery: &handlers.Discovery{
			KeySet: func() []byte { return a.Keys.KeySet().JWKS() }, Ping: st.Ping, Degraded: a.degraded,
			PublicURL: cfg.PublicURL, Issuer: cfg.JWTIssuer,
		},
		Auth: &handlers.Auth{
			Accounts: a.Accounts, Store: st, Issuer: issuer,
			Live: live, AccessTTL: cfg.AccessTokenTTL, Metrics: m, Now: now,
			Cookies: cookies, TokenHook: a.TokenHook,
		},
		Me: &handlers.Me{Accounts: a.Accounts, Store: st, Now: now},
		Users: &handlers.Users{
			Accounts: a.Accounts, Cursors: handlers.NewCursors(a.Secret, "users"), Now: now,
		},
		Roles:    &handlers.Roles{Accounts: a.Accounts},
		Clients:  &handlers.Clients{Accounts: a.Accounts, Clients: clients},
		OAuth:    &handlers.OAuth{Clients: clients, Limiter: a.Limiter, FailureLimit: cfg.IntrospectionFailureRateLimit},
		Audit:    &handlers.Audit{Accounts: a.Accounts, Cursors: handlers.NewCursors(a.Secret, "audit")},
		Forward:  &handlers.Forward{Live: live},
		Webhooks: &handlers.Webhooks{Accounts: a.Accounts, Webhooks: webhookAdmin},
		Gateway: &handlers.Gateway{
			Clients: cfg.IntrospectionClients, Limiter: a.Limiter,
			Limit: cfg.IntrospectionRateLimit, FailureLimit: cfg.IntrospectionFailureRateLimit,
			Live: live, Store: st, Issuer: issuer, Cursors: handlers.NewCursors(a.Secret, "revocations"),
			AccessTTL: cfg.AccessTokenTTL, Now: now,
		},
	})
}

// housekeep, every hour until ctx ends, drops the revocations whose access
// tokens have all expired (they have left the feed) and the personal access
// tokens that have expired, and ends the client secrets whose overlap has
// (the feed also does, as it is read).
func (a *App) housekeep(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		now := a.Now()
		if err := a.Store.DeleteExpiredRevocations(ctx, now); err != nil && ctx.Err() == nil {
			a.Log.Warn("expired revocations could not be deleted", "error", err)
		}
		if err := a.Store.DeleteExpiredPersonalTokens(ctx, now); err != nil && ctx.Err() == nil {
			a.Log.Warn("expired personal access tokens could not be deleted", "error", err)
		}
		if err := a.Store.EndOverlaps(ctx, now, a.Config.AccessTokenTTL); err != nil && ctx.Err() == nil {
			a.Log.Warn("rotated client secrets could not be ended", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunCacheListener hears, in the background until ctx ends, the changes other
// instances commit (PostgreSQL; SQLite is one process).
func (a *App) RunCacheListener(ctx context.Context) {
	if a.Store.Dialect() == store.Postgres {
		go authcache.Listen(ctx, a.Config.DatabaseURL, a.Cache, a.Log)
	}
}

// Serve listens on ln until ctx ends, then drains: /readyz answers 503 and
// connections are no longer kept alive, while requests are still served, for
// DrainDelay (only when something probes /readyz: a load balancer needs the
// time to notice; with nobody asking, there is nothing to wait for). Then it
// stops accepting, lets in-flight requests finish (up to 20 s) and stops the
// background loops.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go a.Keys.Run(bg)
	go a.Mail.Run(bg)
	go a.Webhooks.Run(bg)
	go a.housekeep(bg)
	a.RunCacheListener(bg)

	srv := &http.Server{
		Handler:           a.readiness(a.Server),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.draining.Store(true)
	srv.SetKeepAlivesEnabled(false) // clients reconnect, through the balancer, elsewhere
	if a.DrainDelay > 0 && a.readyProbed.Load() {
		a.Log.Info("draining: /readyz answers 503 while requests are still served", "for", a.DrainDelay.String())
		select {
		case err := <-errc:
			return err
		case <-time.After(a.DrainDelay):
		}
	}
	a.Log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	a.Accounts.Wait() // work started after answering (reset requests) finishes too
	if terr := a.Close(shutdownCtx); terr != nil {
		a.Log.Warn("tracing: spans could not be flushed", "error", terr)
	}
	if err2 := <-errc; !errors.Is(err2, http.ErrServerClosed) && err == nil {
		err = err2
	}
	return err
}

// readiness notes that /readyz is being probed, and answers it 503 itself once
// the instance drains: not an error to log, the instance is leaving on purpose.
func (a *App) readiness(next http.Handler) http.Handler {
	p := problem.New(http.StatusServiceUnavailable, "unavailable", "This instance is shutting down; try another.")
	p.Instance = "/readyz"
	body, _ := json.Marshal(p)
	retryAfter := strconv.Itoa(max(1, int(a.DrainDelay/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		a.readyProbed.Store(true)
		if !a.draining.Load() {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
}
