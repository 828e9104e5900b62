// Package config reads authsvc's settings from the environment (and an optional
// .env file) once, at start-up. Everything else receives values, never getenv.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/joho/godotenv"

	"github.com/authsvc/authsvc/hooks"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

type Config struct {
	HTTPAddr         string
	DatabaseURL      string
	DatabaseMaxConns int
	RedisURL         string
	RedisPrefix      string // starts every key in Redis: deployments may share a server
	PublicURL        string

	JWTIssuer   string
	JWTAudience string
	JWTAlg      string

	AccessTokenTTL      time.Duration
	SessionTTL          time.Duration
	RememberSessionTTL  time.Duration
	ResetTokenTTL       time.Duration
	VerifyTokenTTL      time.Duration
	RefreshReuseGrace   time.Duration
	KeyRotationInterval time.Duration

	LoginRateLimit         Rate // per login identifier and per client IP
	SignupRateLimit        Rate // per client IP
	MailRateLimit          Rate // reset and verification mails per address
	IntrospectionRateLimit Rate // introspection and revocation-feed calls per client
	PasswordMinScore       int
	LockoutThreshold       int

	// IntrospectionFailureRateLimit: failed client authentications at
	// introspection and the revocation feed, per client id and per IP.
	IntrospectionFailureRateLimit Rate

	// Argon2id cost; production defaults are OWASP's, tests lower them.
	PasswordHashMemoryKiB   uint32
	PasswordHashIterations  uint32
	PasswordHashParallelism uint8

	// SecretKey is SECRET_KEY as given. Empty with SQLite: the key file beside the
	// database is used (see SecretKeyFile).
	SecretKey string

	AdminEmail, AdminUsername, AdminPassword string
	AdminSignupKey                           string
	SignupRequiresApproval                   bool
	UserDirectoryPublic                      bool
	IntrospectionClients                     map[string]string

	SMTPURL  string
	MailFrom string
	// Sign-in by email (EMAIL_LOGIN), and by it sign-up of unknown addresses
	// (EMAIL_LOGIN_SIGNUP); codes and their links live EmailCodeTTL,
	// invitation links InviteTTL.
	EmailLogin, EmailLoginSignup bool
	EmailCodeTTL, InviteTTL      time.Duration

	// MailTemplatesDir holds replacements for the embedded mail templates
	// (MAIL_TEMPLATES_DIR; empty: the embedded ones). It is read at start-up by
	// mail.LoadTemplates, which stops start-up naming a file that fails.
	MailTemplatesDir string

	// EmailVerification is off, optional or required (see EmailVerify*).
	EmailVerification string

	// Passkeys (WebAuthn): the relying party. WebAuthnRPID is empty when passkeys
	// are off: WEBAUTHN_RP_ID unset and PUBLIC_URL's host an IP address.
	WebAuthnRPID      string
	WebAuthnRPName    string
	WebAuthnOrigins   []string
	WebAuthnRPIDIsSet bool // WEBAUTHN_RP_ID was given (else derived from PUBLIC_URL)
	// PasskeyDemo serves the passkey demo page at /demo/passkeys (development).
	PasskeyDemo bool

	// Providers are the external identity providers (AUTH_PROVIDERS), in the
	// order listed; RedirectURLs where their sign-ins may send the app back.
	Providers    []Provider
	RedirectURLs []string
	// ProviderTimeout bounds each call to a provider (PROVIDER_TIMEOUT).
	ProviderTimeout time.Duration

	CORSOrigins    []string
	CookieMode     bool
	TrustedProxies []*net.IPNet

	// WebhookAllowPrivate lets webhooks target http URLs and private,
	// loopback and link-local addresses (WEBHOOK_ALLOW_PRIVATE; tests and
	// private networks). Off, only https to public addresses is dialled.
	WebhookAllowPrivate bool

	LogLevel  slog.Level
	LogFormat string

	// Tracing (OpenTelemetry over OTLP/HTTP; tracing.Setup): on when either
	// endpoint is set. The exporter reads the other OTEL_* variables from the
	// process environment itself.
	OTLPEndpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT: base URL, /v1/traces is appended
	OTLPTracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the traces URL as it is
	ServiceName        string // OTEL_SERVICE_NAME

	// Hooks (TOKEN_HOOK_URL, SIGNUP_HOOK_URL; empty: off), each signed with
	// its secret ("whsec_" + base64), bounded by HookTimeout; HookFailure
	// says what a failure does (HookFailClosed: 503 hook_failed; HookFailOpen:
	// go on, warned).
	TokenHookURL, TokenHookSecret   string
	SignupHookURL, SignupHookSecret string
	HookTimeout                     time.Duration
	HookFailure                     string
}

// HOOK_FAILURE values.
const (
	HookFailClosed = "closed"
	HookFailOpen   = "open"
)

// EMAIL_VERIFICATION values: no verification mails; mails sent but login
// allowed without; login refused until the address is verified.
const (
	EmailVerifyOff      = "off"
	EmailVerifyOptional = "optional"
	EmailVerifyRequired = "required"
)

// Rate is a count per period, written "10/m", "100/h", "5/s", or "0" for none.
// It is ratelimit's type, so a configured limit is passed to a limiter as is.
type Rate = ratelimit.Limit

// Getenv looks a variable up; os.Getenv in production, a map in tests.
type Getenv func(string) string

// WithDotEnv returns getenv backed by the .env file at path for variables the
// environment does not set. A missing file is not an error.
func WithDotEnv(getenv Getenv, path string) (Getenv, error) {
	values, err := godotenv.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return values[k]
	}, nil
}

// Load reads and validates every variable. The error names the variable at fault.
func Load(getenv Getenv) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		HTTPAddr:         r.str("HTTP_ADDR", ":8080"),
		DatabaseURL:      r.str("DATABASE_URL", "sqlite://authsvc.db"),
		DatabaseMaxConns: r.intIn("DATABASE_MAX_CONNS", 0, 0, 1000),
		RedisURL:         r.str("REDIS_URL", ""),
		RedisPrefix:      r.str("REDIS_PREFIX", "authsvc:"),
		PublicURL:        strings.TrimRight(r.str("PUBLIC_URL", "http://localhost:8080"), "/"),
		JWTAudience:      r.str("JWT_AUDIENCE", "authsvc"),
		JWTAlg:           r.str("JWT_ALG", token.ES256),

		AccessTokenTTL:      r.duration("ACCESS_TOKEN_TTL", 15*time.Minute, true),
		SessionTTL:          r.duration("SESSION_TTL", 168*time.Hour, true),
		RememberSessionTTL:  r.duration("REMEMBER_SESSION_TTL", 720*time.Hour, true),
		ResetTokenTTL:       r.duration("RESET_TOKEN_TTL", 30*time.Minute, true),
		VerifyTokenTTL:      r.duration("VERIFY_TOKEN_TTL", 24*time.Hour, true),
		RefreshReuseGrace:   r.duration("REFRESH_REUSE_GRACE", 10*time.Second, false),
		KeyRotationInterval: r.duration("KEY_ROTATION_INTERVAL", 720*time.Hour, false),

		LoginRateLimit:         r.rate("LOGIN_RATE_LIMIT", Rate{Count: 10, Period: time.Minute}),
		SignupRateLimit:        r.rate("SIGNUP_RATE_LIMIT", Rate{Count: 20, Period: time.Hour}),
		MailRateLimit:          r.rate("MAIL_RATE_LIMIT", Rate{Count: 5, Period: time.Hour}),
		IntrospectionRateLimit: r.rate("INTROSPECTION_RATE_LIMIT", Rate{Count: 6000, Period: time.Minute}),
		PasswordMinScore:       r.intIn("PASSWORD_MIN_SCORE", 3, 0, 4),
		LockoutThreshold:       r.intIn("LOCKOUT_THRESHOLD", 5, 0, 1000),

		IntrospectionFailureRateLimit: r.rate("INTROSPECTION_FAILURE_RATE_LIMIT", Rate{Count: 10, Period: time.Minute}),

		PasswordHashMemoryKiB:   uint32(r.intIn("PASSWORD_HASH_MEMORY_KIB", 19456, 1024, 4<<20)),
		PasswordHashIterations:  uint32(r.intIn("PASSWORD_HASH_ITERATIONS", 2, 1, 100)),
		PasswordHashParallelism: uint8(r.intIn("PASSWORD_HASH_PARALLELISM", 1, 1, 64)),

		SecretKey: r.str("SECRET_KEY", ""),

		AdminEmail:             r.str("ADMIN_EMAIL", ""),
		AdminUsername:          r.str("ADMIN_USERNAME", "admin"),
		AdminPassword:          r.str("ADMIN_PASSWORD", ""),
		AdminSignupKey:         r.str("ADMIN_SIGNUP_KEY", ""),
		SignupRequiresApproval: r.boolean("SIGNUP_REQUIRES_APPROVAL", false),
		UserDirectoryPublic:    r.boolean("USER_DIRECTORY_PUBLIC", false),
		IntrospectionClients:   r.clients("INTROSPECTION_CLIENTS"),

		SMTPURL:          r.str("SMTP_URL", ""),
		MailFrom:         r.str("MAIL_FROM", ""),
		MailTemplatesDir: r.str("MAIL_TEMPLATES_DIR", ""),
		EmailLogin:       r.boolean("EMAIL_LOGIN", true),
		EmailLoginSignup: r.boolean("EMAIL_LOGIN_SIGNUP", false),
		EmailCodeTTL:     r.duration("EMAIL_CODE_TTL", 10*time.Minute, true),
		InviteTTL:        r.duration("INVITE_TTL", 168*time.Hour, true),

		EmailVerification: r.oneOf("EMAIL_VERIFICATION", EmailVerifyOptional, EmailVerifyOff, EmailVerifyOptional, EmailVerifyRequired),

		WebAuthnRPID:    r.str("WEBAUTHN_RP_ID", ""),
		WebAuthnRPName:  r.str("WEBAUTHN_RP_NAME", "authsvc"),
		WebAuthnOrigins: r.list("WEBAUTHN_ORIGINS"),
		PasskeyDemo:     r.boolean("PASSKEY_DEMO", false),

		Providers:       r.providers(),
		RedirectURLs:    r.redirectURLs(),
		ProviderTimeout: r.duration("PROVIDER_TIMEOUT", 10*time.Second, true),

		CORSOrigins:    r.list("CORS_ORIGINS"),
		CookieMode:     r.boolean("COOKIE_MODE", false),
		TrustedProxies: r.cidrs("TRUSTED_PROXIES"),

		WebhookAllowPrivate: r.boolean("WEBHOOK_ALLOW_PRIVATE", false),

		LogLevel:  r.level("LOG_LEVEL"),
		LogFormat: r.oneOf("LOG_FORMAT", "json", "json", "text"),

		OTLPEndpoint:       r.str("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		OTLPTracesEndpoint: r.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
		ServiceName:        r.str("OTEL_SERVICE_NAME", "authsvc"),

		TokenHookURL:     r.str("TOKEN_HOOK_URL", ""),
		TokenHookSecret:  r.str("TOKEN_HOOK_SECRET", ""),
		SignupHookURL:    r.str("SIGNUP_HOOK_URL", ""),
		SignupHookSecret: r.str("SIGNUP_HOOK_SECRET", ""),
		HookTimeout:      r.duration("HOOK_TIMEOUT", 2*time.Second, true),
		HookFailure:      r.oneOf("HOOK_FAILURE", HookFailClosed, HookFailClosed, HookFailOpen),
	}
	c.JWTIssuer = r.str("JWT_ISSUER", c.PublicURL)
	if c.AdminEmail != "" {
		addr, err := mailaddr.Normalize(c.AdminEmail)
		if err != nil {
			r.fail("ADMIN_EMAIL", "only ASCII before the @ and a valid domain after it")
		}
		c.AdminEmail = addr
	}
	if r.err != nil {
		return Config{}, r.err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, c.relyingParty()
}

// relyingParty fills in the passkey settings PUBLIC_URL implies: the RP ID is
// its host unless that is an IP address (then passkeys are off: an RP ID must
// be a domain), the origin its origin.
func (c *Config) relyingParty() error {
	u, _ := url.Parse(c.PublicURL) // validated
	if c.WebAuthnRPID != "" {
		c.WebAuthnRPIDIsSet = true
		if !isDomain(c.WebAuthnRPID) {
			return fmt.Errorf("WEBAUTHN_RP_ID: %q is not a domain name (passkeys are bound to one)", c.WebAuthnRPID)
		}
	} else if host := u.Hostname(); isDomain(host) {
		c.WebAuthnRPID = strings.ToLower(host)
	}
	if len(c.WebAuthnOrigins) == 0 {
		c.WebAuthnOrigins = []string{u.Scheme + "://" + u.Host}
	}
	for _, o := range c.WebAuthnOrigins {
		if ou, err := url.Parse(o); err != nil || (ou.Scheme != "http" && ou.Scheme != "https") || ou.Host == "" || (ou.Path != "" && ou.Path != "/") {
			return fmt.Errorf("WEBAUTHN_ORIGINS: %q is not an origin such as https://app.example.com", o)
		}
	}
	return nil
}

// isDomain reports whether s is a domain name (letters, digits and hyphens in
// dot-separated labels; "localhost" included), not an IP address.
func isDomain(s string) bool {
	if s == "" || len(s) > 253 || net.ParseIP(s) != nil {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func (c Config) validate() error {
	if !slices.Contains(token.Algorithms, c.JWTAlg) {
		return fmt.Errorf("JWT_ALG: %q is not supported (use %s)", c.JWTAlg, strings.Join(token.Algorithms, ", "))
	}
	dialect, err := store.Dialect(c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if c.SecretKey == "" && dialect == store.Postgres {
		return errors.New("SECRET_KEY: required with PostgreSQL (64+ hex characters or base64 of 32+ bytes), so every instance shares it")
	}
	if c.SecretKey != "" {
		if _, err := secret.Parse(c.SecretKey); err != nil {
			return fmt.Errorf("SECRET_KEY: %w", err)
		}
	}
	if err := checkURL(c.PublicURL); err != nil {
		return fmt.Errorf("PUBLIC_URL: %w", err)
	}
	if c.CookieMode && slices.Contains(c.CORSOrigins, "*") {
		return errors.New(`CORS_ORIGINS: "*" is refused with COOKIE_MODE=true (CORS with credentials); list the allowed origins`)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return errors.New("REDIS_URL: must be redis://host:port or rediss://host:port")
		}
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			return errors.New("SMTP_URL: must be smtp://user:pass@host:port or smtps://…")
		}
		if c.MailFrom == "" {
			return errors.New("MAIL_FROM: required when SMTP_URL is set")
		}
	}
	if c.RememberSessionTTL < c.SessionTTL {
		return errors.New("REMEMBER_SESSION_TTL: must not be shorter than SESSION_TTL")
	}
	if c.AccessTokenTTL > c.SessionTTL {
		return errors.New("ACCESS_TOKEN_TTL: must not be longer than SESSION_TTL")
	}
	if c.KeyRotationInterval != 0 && c.KeyRotationInterval < 2*c.AccessTokenTTL {
		return errors.New("KEY_ROTATION_INTERVAL: must be 0 or at least twice ACCESS_TOKEN_TTL")
	}
	if err := checkHook("TOKEN_HOOK", c.TokenHookURL, c.TokenHookSecret); err != nil {
		return err
	}
	return checkHook("SIGNUP_HOOK", c.SignupHookURL, c.SignupHookSecret)
}

// checkHook checks a hook's PREFIX_URL and PREFIX_SECRET: none, or an absolute
// http(s) URL with a valid secret. The secret is never echoed.
func checkHook(prefix, u, sec string) error {
	if u == "" {
		if sec != "" {
			return fmt.Errorf("%s_URL: required when %s_SECRET is set", prefix, prefix)
		}
		return nil
	}
	if err := hooks.CheckURL(u); err != nil {
		return fmt.Errorf("%s_URL: %w", prefix, err)
	}
	if sec == "" {
		return fmt.Errorf("%s_SECRET: required when %s_URL is set (\"whsec_\" followed by base64)", prefix, prefix)
	}
	if err := hooks.CheckSecret(sec); err != nil {
		return fmt.Errorf("%s_SECRET: %w", prefix, err)
	}
	return nil
}

// SecretKeyFile is where the SQLite default keeps a generated SECRET_KEY: beside the database.
func SecretKeyFile(sqlitePath string) string {
	dir := "."
	if i := strings.LastIndexAny(sqlitePath, `/\`); i >= 0 {
		dir = sqlitePath[:i]
		if dir == "" {
			dir = "/"
		}
	}
	return strings.TrimRight(dir, "/") + "/authsvc.secret"
}

// SecureForCookies reports whether browsers keep Secure cookies set by
// PUBLIC_URL: it is https, or plain http on localhost or a loopback address.
func (c Config) SecureForCookies() bool {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}

// MinClientSecretLen is the shortest secret INTROSPECTION_CLIENTS accepts.
const MinClientSecretLen = 32

// reader parses variables and keeps the first error, naming its variable.
type reader struct {
	getenv Getenv
	err    error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration, positive bool) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (positive && d == 0) {
		r.fail(name, "%q is not a valid duration (Go syntax, e.g. 15m, 720h)", v)
	}
	return d
}

func (r *reader) intIn(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "%q must be a whole number from %d to %d", v, lo, hi)
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q must be true or false", v)
	}
	return b
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	if !slices.Contains(allowed, v) {
		r.fail(name, "%q must be one of %s", v, strings.Join(allowed, ", "))
	}
	return v
}

func (r *reader) level(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(r.str(name, "info"))); err != nil {
		r.fail(name, "must be debug, info, warn or error")
	}
	return l
}

func (r *reader) list(name string) []string {
	var out []string
	for _, p := range strings.Split(r.str(name, ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) rate(name string, def Rate) Rate {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	rate, err := ratelimit.ParseLimit(v)
	if err != nil {
		r.fail(name, "%v", err)
	}
	return rate
}

func (r *reader) clients(name string) map[string]string {
	out := map[string]string{}
	for _, pair := range r.list(name) {
		id, sec, ok := strings.Cut(pair, ":")
		if !ok || id == "" || sec == "" {
			r.fail(name, "must be id:secret pairs separated by commas")
			return nil
		}
		// A gateway's secret is typed by nobody: it can be long enough that
		// guessing it is hopeless. The message names the client, never the secret.
		if utf8.RuneCountInString(sec) < MinClientSecretLen {
			r.fail(name, "the secret of client %q must have at least %d characters", id, MinClientSecretLen)
			return nil
		}
		out[id] = sec
	}
	return out
}

func (r *reader) cidrs(name string) []*net.IPNet {
	var out []*net.IPNet
	for _, s := range r.list(name) {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			r.fail(name, "%q is not a CIDR (e.g. 10.0.0.0/8)", s)
			return nil
		}
		out = append(out, n)
	}
	return out
}
