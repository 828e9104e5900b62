package config_test

import (
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/joho/godotenv"

	"github.com/authsvc/authsvc/config"
)

// env is a fake environment.
func env(vars map[string]string) config.Getenv {
	return func(k string) string { return vars[k] }
}

func mustLoad(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(env(vars))
	if err != nil {
		t.Fatalf("Load(%v): %v", vars, err)
	}
	return c
}

// defaults is the contract's Configuration table, plus the extra knobs
// (DATABASE_MAX_CONNS, PASSWORD_HASH_*), written out field by field.
func defaults() config.Config {
	return config.Config{
		HTTPAddr:         ":8080",
		DatabaseURL:      "sqlite://authsvc.db",
		DatabaseMaxConns: 0,
		RedisURL:         "",
		RedisPrefix:      "authsvc:",
		PublicURL:        "http://localhost:8080",

		JWTIssuer:   "http://localhost:8080",
		JWTAudience: "authsvc",
		JWTAlg:      "ES256",

		AccessTokenTTL:      15 * time.Minute,
		SessionTTL:          168 * time.Hour,
		RememberSessionTTL:  720 * time.Hour,
		ResetTokenTTL:       30 * time.Minute,
		VerifyTokenTTL:      24 * time.Hour,
		RefreshReuseGrace:   10 * time.Second,
		KeyRotationInterval: 720 * time.Hour,

		LoginRateLimit:         config.Rate{Count: 10, Period: time.Minute},
		SignupRateLimit:        config.Rate{Count: 20, Period: time.Hour},
		MailRateLimit:          config.Rate{Count: 5, Period: time.Hour},
		IntrospectionRateLimit: config.Rate{Count: 6000, Period: time.Minute},
		PasswordMinScore:       3,
		LockoutThreshold:       5,

		IntrospectionFailureRateLimit: config.Rate{Count: 10, Period: time.Minute},

		PasswordHashMemoryKiB:   19456,
		PasswordHashIterations:  2,
		PasswordHashParallelism: 1,

		SecretKey: "",

		AdminEmail: "", AdminUsername: "admin", AdminPassword: "",
		AdminSignupKey:         "",
		SignupRequiresApproval: false,
		UserDirectoryPublic:    false,
		IntrospectionClients:   nil,

		SMTPURL:          "",
		MailFrom:         "",
		MailTemplatesDir: "",        // the embedded templates
		ServiceName:      "authsvc", // OTEL_SERVICE_NAME; tracing is off without an endpoint
		EmailLogin:       true,
		EmailLoginSignup: false,
		EmailCodeTTL:     10 * time.Minute,
		InviteTTL:        168 * time.Hour,

		EmailVerification: config.EmailVerifyOptional,

		WebAuthnRPID:    "localhost",
		WebAuthnRPName:  "authsvc",
		WebAuthnOrigins: []string{"http://localhost:8080"},

		Providers:       nil, // AUTH_PROVIDERS unset: sign-in with providers is off
		RedirectURLs:    nil,
		ProviderTimeout: 10 * time.Second,

		CORSOrigins:    nil,
		CookieMode:     false,
		TrustedProxies: nil,

		WebhookAllowPrivate: false, // https to public addresses only

		LogLevel:  slog.LevelInfo,
		LogFormat: "json",

		TokenHookURL: "", TokenHookSecret: "", SignupHookURL: "", SignupHookSecret: "", // off
		HookTimeout: 2 * time.Second,
		HookFailure: config.HookFailClosed,
	}
}

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// same compares configs, treating an empty map like a nil one.
func same(a, b config.Config) bool {
	if len(a.IntrospectionClients) == 0 {
		a.IntrospectionClients = nil
	}
	if len(b.IntrospectionClients) == 0 {
		b.IntrospectionClients = nil
	}
	return reflect.DeepEqual(a, b)
}

func TestDefaults(t *testing.T) {
	got := mustLoad(t, nil)
	if want := defaults(); !same(got, want) {
		t.Fatalf("defaults differ from the contract:\n got %+v\nwant %+v", got, want)
	}
}

const validKey = "8d1f0a4c3b2e5d6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"

func TestInvalidValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		name  string // the variable the error must name
		vars  map[string]string
		label string
	}{
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://db/authsvc"}, "unsupported scheme"},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "sqlite://"}, "sqlite without a path"},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "postgres:///authsvc", "SECRET_KEY": validKey}, "postgres without a host"},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "::not a url"}, "unparsable"},
		{"DATABASE_MAX_CONNS", map[string]string{"DATABASE_MAX_CONNS": "-1"}, "negative"},
		{"DATABASE_MAX_CONNS", map[string]string{"DATABASE_MAX_CONNS": "many"}, "not a number"},
		{"REDIS_URL", map[string]string{"REDIS_URL": "http://cache:6379"}, "wrong scheme"},
		{"PUBLIC_URL", map[string]string{"PUBLIC_URL": "localhost:8080"}, "no scheme"},
		{"PUBLIC_URL", map[string]string{"PUBLIC_URL": "ftp://example.com"}, "not http"},
		{"JWT_ALG", map[string]string{"JWT_ALG": "HS256"}, "symmetric"},
		{"JWT_ALG", map[string]string{"JWT_ALG": "none"}, "none"},
		{"ACCESS_TOKEN_TTL", map[string]string{"ACCESS_TOKEN_TTL": "15"}, "no unit"},
		{"ACCESS_TOKEN_TTL", map[string]string{"ACCESS_TOKEN_TTL": "0"}, "zero"},
		{"ACCESS_TOKEN_TTL", map[string]string{"ACCESS_TOKEN_TTL": "200h"}, "longer than the session"},
		{"SESSION_TTL", map[string]string{"SESSION_TTL": "-1h"}, "negative"},
		{"REMEMBER_SESSION_TTL", map[string]string{"REMEMBER_SESSION_TTL": "24h"}, "shorter than SESSION_TTL"},
		{"RESET_TOKEN_TTL", map[string]string{"RESET_TOKEN_TTL": "half an hour"}, "words"},
		{"REFRESH_REUSE_GRACE", map[string]string{"REFRESH_REUSE_GRACE": "-1s"}, "negative"},
		{"KEY_ROTATION_INTERVAL", map[string]string{"KEY_ROTATION_INTERVAL": "20m"}, "shorter than twice the access TTL"},
		{"KEY_ROTATION_INTERVAL", map[string]string{"KEY_ROTATION_INTERVAL": "monthly"}, "words"},
		{"LOGIN_RATE_LIMIT", map[string]string{"LOGIN_RATE_LIMIT": "10"}, "no period"},
		{"LOGIN_RATE_LIMIT", map[string]string{"LOGIN_RATE_LIMIT": "0/m"}, "zero"},
		{"LOGIN_RATE_LIMIT", map[string]string{"LOGIN_RATE_LIMIT": "10/d"}, "unknown period"},
		{"LOGIN_RATE_LIMIT", map[string]string{"LOGIN_RATE_LIMIT": "ten/m"}, "words"},
		{"PASSWORD_MIN_SCORE", map[string]string{"PASSWORD_MIN_SCORE": "5"}, "above 4"},
		{"PASSWORD_MIN_SCORE", map[string]string{"PASSWORD_MIN_SCORE": "-1"}, "negative"},
		{"LOCKOUT_THRESHOLD", map[string]string{"LOCKOUT_THRESHOLD": "-1"}, "negative"},
		{"PASSWORD_HASH_MEMORY_KIB", map[string]string{"PASSWORD_HASH_MEMORY_KIB": "512"}, "too little memory"},
		{"PASSWORD_HASH_ITERATIONS", map[string]string{"PASSWORD_HASH_ITERATIONS": "0"}, "zero"},
		{"PASSWORD_HASH_PARALLELISM", map[string]string{"PASSWORD_HASH_PARALLELISM": "65"}, "too many"},
		{"SECRET_KEY", map[string]string{"SECRET_KEY": "0123456789abcdef"}, "short"},
		{"SECRET_KEY", map[string]string{"DATABASE_URL": "postgres://db:5432/authsvc"}, "missing with PostgreSQL"},
		{"SIGNUP_REQUIRES_APPROVAL", map[string]string{"SIGNUP_REQUIRES_APPROVAL": "yes please"}, "not a bool"},
		{"USER_DIRECTORY_PUBLIC", map[string]string{"USER_DIRECTORY_PUBLIC": "maybe"}, "not a bool"},
		{"COOKIE_MODE", map[string]string{"COOKIE_MODE": "on"}, "not a bool"},
		{"CORS_ORIGINS", map[string]string{"COOKIE_MODE": "true", "CORS_ORIGINS": "https://app.example, *"}, "wildcard in cookie mode"},
		{"INTROSPECTION_CLIENTS", map[string]string{"INTROSPECTION_CLIENTS": "gateway"}, "no secret"},
		{"INTROSPECTION_CLIENTS", map[string]string{"INTROSPECTION_CLIENTS": "a:1,:2"}, "no id"},
		{"INTROSPECTION_CLIENTS", map[string]string{"INTROSPECTION_CLIENTS": "gateway:" + strings.Repeat("s", 31)}, "a short secret"},
		{"INTROSPECTION_CLIENTS", map[string]string{"INTROSPECTION_CLIENTS": "gateway:" + longSecret + ",edge:é" + longSecret[:30]}, "31 characters in 32 bytes"},
		{"INTROSPECTION_FAILURE_RATE_LIMIT", map[string]string{"INTROSPECTION_FAILURE_RATE_LIMIT": "10"}, "no period"},
		{"ADMIN_EMAIL", map[string]string{"ADMIN_EMAIL": "\u212Aate@example.com"}, "a non-ASCII local part"},
		{"ADMIN_EMAIL", map[string]string{"ADMIN_EMAIL": "root"}, "not an address"},
		{"SMTP_URL", map[string]string{"SMTP_URL": "http://mail.example.com", "MAIL_FROM": "a@example.com"}, "wrong scheme"},
		{"SMTP_URL", map[string]string{"SMTP_URL": "smtp://", "MAIL_FROM": "a@example.com"}, "no host"},
		{"MAIL_FROM", map[string]string{"SMTP_URL": "smtp://mail.example.com:587"}, "missing with SMTP_URL"},
		{"TRUSTED_PROXIES", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.1"}, "an address, not a CIDR"},
		{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "loud"}, "unknown level"},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}, "unknown format"},

		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "Google"}, "an upper-case name"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "my_corp"}, "an underscore in a name"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "1corp"}, "a name starting with a digit"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "corp/admin"}, "a slash in a name (it is a path segment)"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": strings.Repeat("a", 33)}, "a name of 33 characters"},
		{"AUTH_PROVIDERS", corp(gh(), map[string]string{"AUTH_PROVIDERS": "corp,gh,corp"}), "a name listed twice"},
		{"PROVIDER_CORP_TYPE", corp(map[string]string{"PROVIDER_CORP_TYPE": "saml"}), "unknown type"},
		{"PROVIDER_CORP_ISSUER", corp(map[string]string{"PROVIDER_CORP_ISSUER": ""}), "an oidc provider without an issuer"},
		{"PROVIDER_CORP_ISSUER", corp(map[string]string{"PROVIDER_CORP_ISSUER": "accounts.google.com"}), "an issuer that is no URL"},
		{"PROVIDER_CORP_ISSUER", corp(map[string]string{"PROVIDER_CORP_ISSUER": "ftp://idp.corp.example"}), "an issuer that is not http"},
		{"PROVIDER_CORP_CLIENT_ID", corp(map[string]string{"PROVIDER_CORP_CLIENT_ID": ""}), "an oidc provider without a client id"},
		{"PROVIDER_MY_CORP_CLIENT_ID", map[string]string{"AUTH_PROVIDERS": "my-corp", "PROVIDER_MY_CORP_ISSUER": "https://idp.corp.example"},
			"a hyphenated name's variable"},
		{"PROVIDER_CORP_LINK_BY_EMAIL", corp(map[string]string{"PROVIDER_CORP_LINK_BY_EMAIL": "yes please"}), "not a bool"},
		{"PROVIDER_CORP_SIGNUP", corp(map[string]string{"PROVIDER_CORP_SIGNUP": "maybe"}), "not a bool"},
		{"PROVIDER_GH_CLIENT_SECRET", gh(map[string]string{"PROVIDER_GH_CLIENT_SECRET": ""}), "github without a client secret"},
		{"PROVIDER_GH_CLIENT_ID", gh(map[string]string{"PROVIDER_GH_CLIENT_ID": ""}), "github without a client id"},
		{"PROVIDER_GH_AUTH_URL", gh(map[string]string{"PROVIDER_GH_AUTH_URL": "/login/oauth/authorize"}), "a relative URL"},
		{"PROVIDER_GH_TOKEN_URL", gh(map[string]string{"PROVIDER_GH_TOKEN_URL": "ghe.example.com/login/oauth/access_token"}), "no scheme"},
		{"PROVIDER_GH_API_URL", gh(map[string]string{"PROVIDER_GH_API_URL": "ldap://ghe.example.com"}), "not http"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "not a url"}, "words"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "https://app.example.com/cb#frag"}, "a fragment"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "/auth/callback"}, "a relative URL"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "https://app.example.com/cb#"}, "an empty fragment"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "javascript:/alert(1)"}, "a scheme browsers run"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "file:///etc/passwd"}, "a local file"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "corp-"}, "a trailing hyphen"},
		{"AUTH_PROVIDERS", map[string]string{"AUTH_PROVIDERS": "my--corp"}, "a double hyphen"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "https:///auth/callback"}, "https without a host"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "com.example.app:oauth"}, "an opaque native URL (no slash after the scheme)"},
		{"REDIRECT_URLS", map[string]string{"REDIRECT_URLS": "https://app.example.com/cb, app.example.com/cb"}, "the second one without a scheme"},
		{"PROVIDER_TIMEOUT", map[string]string{"PROVIDER_TIMEOUT": "10"}, "no unit"},
		{"PROVIDER_TIMEOUT", map[string]string{"PROVIDER_TIMEOUT": "0"}, "zero"},
		{"PROVIDER_TIMEOUT", map[string]string{"PROVIDER_TIMEOUT": "-1s"}, "negative"},
		{"PROVIDER_TIMEOUT", map[string]string{"PROVIDER_TIMEOUT": "soon"}, "words"},

		{"HOOK_TIMEOUT", map[string]string{"HOOK_TIMEOUT": "2"}, "no unit"},
		{"HOOK_TIMEOUT", map[string]string{"HOOK_TIMEOUT": "0"}, "zero"},
		{"HOOK_TIMEOUT", map[string]string{"HOOK_TIMEOUT": "-1s"}, "negative"},
		{"HOOK_FAILURE", map[string]string{"HOOK_FAILURE": "ignore"}, "unknown mode"},
		{"HOOK_FAILURE", map[string]string{"HOOK_FAILURE": "true"}, "a bool"},
		{"TOKEN_HOOK_URL", map[string]string{"TOKEN_HOOK_URL": "hooks.internal/token", "TOKEN_HOOK_SECRET": hookSecret}, "no scheme"},
		{"TOKEN_HOOK_URL", map[string]string{"TOKEN_HOOK_URL": "ftp://hooks.internal/token", "TOKEN_HOOK_SECRET": hookSecret}, "not http"},
		{"TOKEN_HOOK_URL", map[string]string{"TOKEN_HOOK_URL": "https:///token", "TOKEN_HOOK_SECRET": hookSecret}, "no host"},
		{"TOKEN_HOOK_URL", map[string]string{"TOKEN_HOOK_SECRET": hookSecret}, "a secret without a URL"},
		{"TOKEN_HOOK_SECRET", map[string]string{"TOKEN_HOOK_URL": "https://hooks.internal/token"}, "a URL without a secret"},
		{"TOKEN_HOOK_SECRET", map[string]string{"TOKEN_HOOK_URL": "https://hooks.internal/token", "TOKEN_HOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "no whsec_ prefix"},
		{"TOKEN_HOOK_SECRET", map[string]string{"TOKEN_HOOK_URL": "https://hooks.internal/token", "TOKEN_HOOK_SECRET": "whsec_not base64!"}, "not base64"},
		{"TOKEN_HOOK_SECRET", map[string]string{"TOKEN_HOOK_URL": "https://hooks.internal/token", "TOKEN_HOOK_SECRET": "whsec_"}, "empty after the prefix"},
		{"SIGNUP_HOOK_URL", map[string]string{"SIGNUP_HOOK_URL": "/signup", "SIGNUP_HOOK_SECRET": hookSecret}, "relative"},
		{"SIGNUP_HOOK_SECRET", map[string]string{"SIGNUP_HOOK_URL": "http://10.0.0.5:9000/signup"}, "a URL without a secret"},
		{"SIGNUP_HOOK_SECRET", map[string]string{"SIGNUP_HOOK_URL": "http://10.0.0.5:9000/signup", "SIGNUP_HOOK_SECRET": "whsec_%%%"}, "not base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/"+tc.label, func(t *testing.T) {
			_, err := config.Load(env(tc.vars))
			if err == nil {
				t.Fatalf("Load(%v) succeeded", tc.vars)
			}
			if !strings.HasPrefix(err.Error(), tc.name+":") {
				t.Fatalf("error %q does not start with %s:", err, tc.name)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q spans several lines", err)
			}
		})
	}
}

// longSecret is an introspection client's secret of exactly the shortest length accepted.
const longSecret = "0123456789abcdef0123456789abcdef"

// A secret given in the wrong variable must not end up in the message.
func TestErrorsDoNotEchoSecrets(t *testing.T) {
	const short = "deadbeefdeadbeef"
	_, err := config.Load(env(map[string]string{"SECRET_KEY": short}))
	if err == nil || strings.Contains(err.Error(), short) {
		t.Fatalf("error %v echoes SECRET_KEY", err)
	}
	for _, name := range []string{"TOKEN_HOOK", "SIGNUP_HOOK"} {
		_, err := config.Load(env(map[string]string{name + "_URL": "https://hooks.internal/x", name + "_SECRET": "whsec_" + short + "!"}))
		if err == nil || strings.Contains(err.Error(), short) || !strings.HasPrefix(err.Error(), name+"_SECRET:") {
			t.Errorf("%s: error %v: want one naming %s_SECRET, not the secret", name, err, name)
		}
	}
	_, err = config.Load(env(map[string]string{"INTROSPECTION_CLIENTS": "edge:" + short}))
	if err == nil || strings.Contains(err.Error(), short) || !strings.Contains(err.Error(), `"edge"`) {
		t.Fatalf("error %v: want one naming the client edge, not its secret", err)
	}
	// A password holding a character a URL reserves breaks the parse; the
	// message must not quote the part it broke on.
	for name, url := range map[string]string{
		"DATABASE_URL": "postgres://app:s3cr3t/Pa55@db.internal/authsvc",
		"REDIS_URL":    "redis://:s3cr3t/Pa55@cache.internal:6379",
		"SMTP_URL":     "smtp://mailer:s3cr3t/Pa55@mail.internal:587",
	} {
		_, err := config.Load(env(map[string]string{name: url, "MAIL_FROM": "a@example.com"}))
		if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "Pa55") {
			t.Errorf("%s: error %v echoes the password", name, err)
		}
	}
	// A provider's client secret is never quoted, whatever else is wrong.
	for _, vars := range []map[string]string{
		gh(map[string]string{"PROVIDER_GH_CLIENT_ID": "", "PROVIDER_GH_CLIENT_SECRET": short}),
		gh(map[string]string{"PROVIDER_GH_API_URL": "api", "PROVIDER_GH_CLIENT_SECRET": short}),
		corp(map[string]string{"PROVIDER_CORP_TYPE": "saml", "PROVIDER_CORP_CLIENT_SECRET": short}),
	} {
		if _, err := config.Load(env(vars)); err == nil || strings.Contains(err.Error(), short) {
			t.Errorf("%v: error %v echoes the client secret", vars, err)
		}
	}
	// Nor the credentials a provider URL may carry.
	for _, vars := range []map[string]string{
		corp(map[string]string{"PROVIDER_CORP_ISSUER": "ldap://user:hunter2@idp.example.com/"}),
		gh(map[string]string{"PROVIDER_GH_API_URL": "ftp://user:hunter2@ghe.example.com"}),
	} {
		if _, err := config.Load(env(vars)); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: error %v echoes a URL's password", vars, err)
		}
	}
}

func TestValidValues(t *testing.T) {
	cases := []struct {
		name  string
		vars  map[string]string
		check func(c config.Config) bool
	}{
		{"issuer defaults to PUBLIC_URL without its trailing slash",
			map[string]string{"PUBLIC_URL": "https://auth.example.com/"},
			func(c config.Config) bool {
				return c.PublicURL == "https://auth.example.com" && c.JWTIssuer == "https://auth.example.com"
			}},
		{"explicit issuer wins",
			map[string]string{"PUBLIC_URL": "https://auth.example.com", "JWT_ISSUER": "urn:example:auth"},
			func(c config.Config) bool { return c.JWTIssuer == "urn:example:auth" }},
		{"rate per second", map[string]string{"LOGIN_RATE_LIMIT": "5/s"},
			func(c config.Config) bool { return c.LoginRateLimit == config.Rate{Count: 5, Period: time.Second} }},
		{"rate per hour, spaces trimmed", map[string]string{"LOGIN_RATE_LIMIT": " 100/h "},
			func(c config.Config) bool { return c.LoginRateLimit == config.Rate{Count: 100, Period: time.Hour} }},
		{"introspection clients; a secret may hold colons",
			map[string]string{"INTROSPECTION_CLIENTS": "gateway:" + longSecret + ", api:a:b:" + longSecret + " ,"},
			func(c config.Config) bool {
				return reflect.DeepEqual(c.IntrospectionClients, map[string]string{"gateway": longSecret, "api": "a:b:" + longSecret})
			}},
		{"a Redis prefix", map[string]string{"REDIS_PREFIX": "eu-1:authsvc:"},
			func(c config.Config) bool { return c.RedisPrefix == "eu-1:authsvc:" }},
		{"the bootstrap admin's address in its ASCII form", map[string]string{"ADMIN_EMAIL": " Root@Bücher.example"},
			func(c config.Config) bool { return c.AdminEmail == "Root@xn--bcher-kva.example" }},
		{"trusted proxies, IPv4 and IPv6, host bits dropped",
			map[string]string{"TRUSTED_PROXIES": "10.1.2.3/8, 192.168.0.0/16,fd00::/8"},
			func(c config.Config) bool {
				var got []string
				for _, n := range c.TrustedProxies {
					got = append(got, n.String())
				}
				return reflect.DeepEqual(got, []string{"10.0.0.0/8", "192.168.0.0/16", "fd00::/8"}) &&
					c.TrustedProxies[0].Contains(net.ParseIP("10.200.0.1"))
			}},
		{"CORS origins", map[string]string{"CORS_ORIGINS": "https://a.example, https://b.example"},
			func(c config.Config) bool {
				return reflect.DeepEqual(c.CORSOrigins, []string{"https://a.example", "https://b.example"})
			}},
		{"CORS wildcard without cookie mode", map[string]string{"CORS_ORIGINS": "*"},
			func(c config.Config) bool { return reflect.DeepEqual(c.CORSOrigins, []string{"*"}) }},
		{"cookie mode with listed origins", map[string]string{"COOKIE_MODE": "true", "CORS_ORIGINS": "https://app.example"},
			func(c config.Config) bool {
				return c.CookieMode && reflect.DeepEqual(c.CORSOrigins, []string{"https://app.example"})
			}},
		{"zero grace and zero rotation are allowed",
			map[string]string{"REFRESH_REUSE_GRACE": "0", "KEY_ROTATION_INTERVAL": "0"},
			func(c config.Config) bool { return c.RefreshReuseGrace == 0 && c.KeyRotationInterval == 0 }},
		{"PostgreSQL with a key", map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/authsvc?sslmode=require", "SECRET_KEY": validKey},
			func(c config.Config) bool { return c.SecretKey == validKey }},
		{"postgresql:// scheme", map[string]string{"DATABASE_URL": "postgresql://db/authsvc", "SECRET_KEY": validKey},
			func(c config.Config) bool { return c.DatabaseURL == "postgresql://db/authsvc" }},
		{"JWT_ALG EdDSA", map[string]string{"JWT_ALG": "EdDSA"}, func(c config.Config) bool { return c.JWTAlg == "EdDSA" }},
		{"JWT_ALG RS256", map[string]string{"JWT_ALG": "RS256"}, func(c config.Config) bool { return c.JWTAlg == "RS256" }},
		{"log level and format are case-insensitive", map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "Text"},
			func(c config.Config) bool { return c.LogLevel == slog.LevelDebug && c.LogFormat == "text" }},
		{"booleans", map[string]string{"SIGNUP_REQUIRES_APPROVAL": "true", "USER_DIRECTORY_PUBLIC": "1", "COOKIE_MODE": "TRUE"},
			func(c config.Config) bool { return c.SignupRequiresApproval && c.UserDirectoryPublic && c.CookieMode }},
		{"WEBHOOK_ALLOW_PRIVATE", map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"},
			func(c config.Config) bool { return c.WebhookAllowPrivate }},
		{"SMTP with MAIL_FROM", map[string]string{"SMTP_URL": "smtps://u:p@mail.example.com:465", "MAIL_FROM": "auth@example.com"},
			func(c config.Config) bool { return c.SMTPURL != "" && c.MailFrom == "auth@example.com" }},
		{"mail templates directory", map[string]string{"MAIL_TEMPLATES_DIR": "/etc/authsvc/mail"},
			func(c config.Config) bool { return c.MailTemplatesDir == "/etc/authsvc/mail" }},
		{"redirect URLs: a web app's, a native app's private-use scheme, loopback with a query; blanks dropped",
			map[string]string{"REDIRECT_URLS": "https://app.example.com/auth/callback, com.example.app:/oauth ,,http://127.0.0.1:3000/cb?x=1,myapp://callback"},
			func(c config.Config) bool {
				return reflect.DeepEqual(c.RedirectURLs, []string{"https://app.example.com/auth/callback", "com.example.app:/oauth", "http://127.0.0.1:3000/cb?x=1", "myapp://callback"})
			}},
		{"an issuer's trailing slash is kept (go-oidc compares issuers exactly; Auth0's ends in /)",
			map[string]string{"AUTH_PROVIDERS": "auth0", "PROVIDER_AUTH0_ISSUER": "https://tenant.auth0.com/", "PROVIDER_AUTH0_CLIENT_ID": "x"},
			func(c config.Config) bool {
				return len(c.Providers) == 1 && c.Providers[0].Issuer == "https://tenant.auth0.com/"
			}},

		{"provider timeout", map[string]string{"PROVIDER_TIMEOUT": "2500ms"},
			func(c config.Config) bool { return c.ProviderTimeout == 2500*time.Millisecond }},
		{"hooks on private addresses, failing open",
			map[string]string{"TOKEN_HOOK_URL": "http://127.0.0.1:9000/token", "TOKEN_HOOK_SECRET": hookSecret,
				"SIGNUP_HOOK_URL": "https://hooks.internal/signup", "SIGNUP_HOOK_SECRET": hookSecret,
				"HOOK_TIMEOUT": "500ms", "HOOK_FAILURE": "OPEN"},
			func(c config.Config) bool {
				return c.TokenHookURL == "http://127.0.0.1:9000/token" && c.TokenHookSecret == hookSecret &&
					c.SignupHookURL == "https://hooks.internal/signup" && c.SignupHookSecret == hookSecret &&
					c.HookTimeout == 500*time.Millisecond && c.HookFailure == config.HookFailOpen
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if c := mustLoad(t, tc.vars); !tc.check(c) {
				t.Fatalf("Load(%v) = %+v", tc.vars, c)
			}
		})
	}
}

func TestWithDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	writeFile(t, path, "# comment\nJWT_AUDIENCE=from-file\nJWT_ALG=EdDSA\nLOG_FORMAT=\"text\"\n")
	process := map[string]string{"JWT_ALG": "RS256", "LOG_FORMAT": ""}

	getenv, err := config.WithDotEnv(env(process), path)
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoadFrom(t, getenv)
	if c.JWTAudience != "from-file" {
		t.Errorf("JWT_AUDIENCE = %q; .env should fill what the environment lacks", c.JWTAudience)
	}
	if c.JWTAlg != "RS256" {
		t.Errorf("JWT_ALG = %q; the environment should win over .env", c.JWTAlg)
	}
	// An empty variable counts as unset, as everywhere in config.
	if c.LogFormat != "text" {
		t.Errorf("LOG_FORMAT = %q; an empty environment variable should fall back to .env", c.LogFormat)
	}

	t.Run("missing file is not an error", func(t *testing.T) {
		getenv, err := config.WithDotEnv(env(process), filepath.Join(dir, "absent.env"))
		if err != nil {
			t.Fatal(err)
		}
		if got := getenv("JWT_ALG"); got != "RS256" {
			t.Fatalf("JWT_ALG = %q", got)
		}
	})
	t.Run("unreadable file names the path", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.env")
		writeFile(t, bad, "JWT_ALG='unterminated\n")
		if _, err := config.WithDotEnv(env(nil), bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Fatalf("err = %v, want one naming %s", err, bad)
		}
	})
}

func mustLoadFrom(t *testing.T, getenv config.Getenv) config.Config {
	t.Helper()
	c, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadCall matches the reader calls in Load: r.str("NAME", default), r.level("NAME") …
var loadCall = regexp.MustCompile(`r\.(str|duration|intIn|boolean|oneOf|level|list|rate|clients|cidrs)\("([A-Z0-9_]+)"(?:,\s*([^,)]+))?`)

// variable is one environment variable config.Load reads, as written in config.go.
type variable struct {
	name, method, def string
}

// loadFiles are the files whose reader calls config.Load makes.
var loadFiles = []string{"config.go", "providers.go"}

// readVariables finds every variable config.Load reads by reading loadFiles.
// Each provider's PROVIDER_<NAME>_* variables are named at run time; see
// providerSuffixes.
func readVariables(t *testing.T) map[string]variable {
	t.Helper()
	vars := map[string]variable{}
	for _, name := range loadFiles {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range loadCall.FindAllStringSubmatch(string(src), -1) {
			vars[m[2]] = variable{name: m[2], method: m[1], def: strings.TrimSpace(m[3])}
		}
	}
	// Guard against the pattern silently matching nothing after a refactor.
	if len(vars) < 35 {
		t.Fatalf("found only %d variables in config.go; has the reader changed? %v", len(vars), keys(vars))
	}
	return vars
}

// mayBeBlank reports whether an empty value in .env.example is the default:
// no default at all, or one derived from another variable (JWT_ISSUER).
func (v variable) mayBeBlank() bool {
	switch v.method {
	case "list", "clients", "cidrs":
		return true
	case "str":
		return v.def == `""` || !strings.HasPrefix(v.def, `"`)
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestEnvExampleListsEveryVariableWithItsDefault(t *testing.T) {
	vars := readVariables(t)
	example, err := godotenv.Read(filepath.Join("..", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range keys(vars) {
		if _, ok := example[name]; !ok {
			t.Errorf(".env.example lacks %s", name)
		}
	}
	want := mustLoad(t, nil)
	for _, name := range keys(example) {
		v, known := vars[name]
		if !known {
			t.Errorf(".env.example lists %s, which config.Load does not read", name)
			continue
		}
		value := example[name]
		if value == "" {
			if !v.mayBeBlank() {
				t.Errorf(".env.example leaves %s blank; write its default out", name)
			}
			continue
		}
		got, err := config.Load(env(map[string]string{name: value}))
		if err != nil {
			t.Errorf(".env.example %s=%s: %v", name, value, err)
			continue
		}
		if !same(got, want) {
			t.Errorf(".env.example %s=%s is not the default config.Load uses", name, value)
		}
	}
	// The whole file together is the default configuration.
	if got := mustLoad(t, example); !same(got, want) {
		t.Errorf("loading .env.example as a whole gives %+v, want the defaults %+v", got, want)
	}
}

// readmeRow matches a configuration table row: | `NAME` | or | `A`, `B` |.
var readmeRow = regexp.MustCompile("(?m)^\\| ((?:`[A-Z0-9_]+`(?:, )?)+) \\|")

func TestReadmeDocumentsEveryVariable(t *testing.T) {
	vars := readVariables(t)
	src, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range readmeRow.FindAllStringSubmatch(string(src), -1) {
		for _, n := range strings.Split(m[1], ",") {
			documented[strings.Trim(strings.TrimSpace(n), "`")] = true
		}
	}
	for _, name := range keys(vars) {
		if !documented[name] {
			t.Errorf("README.md's configuration table lacks %s", name)
		}
	}
	for _, name := range keys(documented) {
		if _, ok := vars[name]; !ok {
			t.Errorf("README.md's configuration table lists %s, which config.Load does not read", name)
		}
	}
}

// Cookies are Secure: browsers keep them from https origins and from plain
// http only on localhost and loopback addresses.
func TestSecureForCookies(t *testing.T) {
	for url, want := range map[string]bool{
		"https://auth.example.com":   true,
		"http://localhost:8080":      true,
		"http://app.localhost":       true,
		"http://127.0.0.1:8080":      true,
		"http://[::1]:8080":          true,
		"http://auth.example.com":    false,
		"http://10.0.0.5:8080":       false,
		"http://localhost.evil.test": false,
	} {
		if got := (config.Config{PublicURL: url}).SecureForCookies(); got != want {
			t.Errorf("SecureForCookies(%s) = %v, want %v", url, got, want)
		}
	}
}

// Passkeys: the relying party comes from PUBLIC_URL unless set; an IP address
// there turns passkeys off, an explicit RP ID that is no domain stops start-up.
func TestWebAuthnRelyingParty(t *testing.T) {
	for _, tc := range []struct {
		vars    map[string]string
		rpID    string
		origins []string
		err     string
	}{
		{vars: map[string]string{"PUBLIC_URL": "https://auth.example.com"}, rpID: "auth.example.com", origins: []string{"https://auth.example.com"}},
		{vars: map[string]string{"PUBLIC_URL": "https://Auth.Example.com:8443/base"}, rpID: "auth.example.com", origins: []string{"https://Auth.Example.com:8443"}},
		{vars: map[string]string{"PUBLIC_URL": "http://127.0.0.1:8080"}, rpID: "", origins: []string{"http://127.0.0.1:8080"}},
		{vars: map[string]string{"PUBLIC_URL": "http://[::1]:8080", "WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": "http://localhost:8080, https://app.example.com"},
			rpID: "localhost", origins: []string{"http://localhost:8080", "https://app.example.com"}},
		{vars: map[string]string{"WEBAUTHN_RP_ID": "10.0.0.1"}, err: "WEBAUTHN_RP_ID"},
		{vars: map[string]string{"WEBAUTHN_RP_ID": "auth example.com"}, err: "WEBAUTHN_RP_ID"},
		{vars: map[string]string{"WEBAUTHN_ORIGINS": "auth.example.com"}, err: "WEBAUTHN_ORIGINS"},
	} {
		c, err := config.Load(func(k string) string { return tc.vars[k] })
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err+":") {
				t.Errorf("%v: error %v; want one naming %s", tc.vars, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.vars, err)
			continue
		}
		if c.WebAuthnRPID != tc.rpID || !slices.Equal(c.WebAuthnOrigins, tc.origins) {
			t.Errorf("%v: RP ID %q, origins %v; want %q, %v", tc.vars, c.WebAuthnRPID, c.WebAuthnOrigins, tc.rpID, tc.origins)
		}
	}
}

// corp is the variables of a valid OpenID Connect provider "corp" (a public
// client: no secret), then each of extra in turn, whose values win.
func corp(extra ...map[string]string) map[string]string {
	vars := map[string]string{
		"AUTH_PROVIDERS":          "corp",
		"PROVIDER_CORP_ISSUER":    "https://idp.corp.example",
		"PROVIDER_CORP_CLIENT_ID": "authsvc",
	}
	for _, e := range extra {
		maps.Copy(vars, e)
	}
	return vars
}

// gh is the variables of a valid GitHub provider "gh", then extra's.
func gh(extra ...map[string]string) map[string]string {
	vars := map[string]string{
		"AUTH_PROVIDERS":            "gh",
		"PROVIDER_GH_TYPE":          "github",
		"PROVIDER_GH_CLIENT_ID":     "Iv1.0123456789abcdef",
		"PROVIDER_GH_CLIENT_SECRET": "gh-client-secret",
	}
	for _, e := range extra {
		maps.Copy(vars, e)
	}
	return vars
}

// AUTH_PROVIDERS and each provider's PROVIDER_<NAME>_* variables, as the
// contract's table has them: defaults, a hyphenated name, every override.
func TestProviders(t *testing.T) {
	github := func(name, clientID, secret string) config.Provider {
		return config.Provider{Name: name, Type: config.ProviderGitHub, ClientID: clientID, ClientSecret: secret,
			Scopes:  []string{"read:user", "user:email"},
			AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
			APIURL: "https://api.github.com", Signup: true}
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []config.Provider
	}{
		{"unset: no providers", nil, nil},
		{"an OpenID Connect provider by default: OIDC scopes, signup on, no linking by email",
			map[string]string{
				"AUTH_PROVIDERS":            "google",
				"PROVIDER_GOOGLE_ISSUER":    "https://accounts.google.com",
				"PROVIDER_GOOGLE_CLIENT_ID": "1234-web.apps.googleusercontent.com", "PROVIDER_GOOGLE_CLIENT_SECRET": "GOCSPX-secret",
			},
			[]config.Provider{{Name: "google", Type: config.ProviderOIDC, Issuer: "https://accounts.google.com",
				ClientID: "1234-web.apps.googleusercontent.com", ClientSecret: "GOCSPX-secret",
				Scopes: []string{"openid", "email", "profile"}, Signup: true}}},
		{"a public OIDC client (PKCE alone) needs no secret", corp(),
			[]config.Provider{{Name: "corp", Type: config.ProviderOIDC, Issuer: "https://idp.corp.example", ClientID: "authsvc",
				Scopes: []string{"openid", "email", "profile"}, Signup: true}}},
		{"GitHub: github.com's endpoints and GitHub's scopes", gh(),
			[]config.Provider{github("gh", "Iv1.0123456789abcdef", "gh-client-secret")}},
		{"the type in any case; GitHub Enterprise endpoints, the API URL without its trailing slash",
			gh(map[string]string{
				"PROVIDER_GH_TYPE":      "GitHub",
				"PROVIDER_GH_AUTH_URL":  "https://ghe.example.com/login/oauth/authorize",
				"PROVIDER_GH_TOKEN_URL": "https://ghe.example.com/login/oauth/access_token",
				"PROVIDER_GH_API_URL":   "https://ghe.example.com/api/v3/",
			}),
			[]config.Provider{func() config.Provider {
				p := github("gh", "Iv1.0123456789abcdef", "gh-client-secret")
				p.AuthURL, p.TokenURL = "https://ghe.example.com/login/oauth/authorize", "https://ghe.example.com/login/oauth/access_token"
				p.APIURL = "https://ghe.example.com/api/v3"
				return p
			}()}},
		{"a hyphenated name reads PROVIDER_MY_CORP_*; the listed order is kept, spaces and blanks dropped",
			gh(map[string]string{
				"AUTH_PROVIDERS":             " my-corp , gh ,",
				"PROVIDER_MY_CORP_ISSUER":    "https://login.corp.example/realms/staff",
				"PROVIDER_MY_CORP_CLIENT_ID": "authsvc-staff",
				// The variables of a provider that is not listed are not read.
				"PROVIDER_CORP_TYPE": "saml", "PROVIDER_OTHER_ISSUER": "not a url",
			}),
			[]config.Provider{
				{Name: "my-corp", Type: config.ProviderOIDC, Issuer: "https://login.corp.example/realms/staff", ClientID: "authsvc-staff",
					Scopes: []string{"openid", "email", "profile"}, Signup: true},
				github("gh", "Iv1.0123456789abcdef", "gh-client-secret"),
			}},
		{"scopes, native apps' audiences, linking by email, signup off",
			corp(map[string]string{
				"PROVIDER_CORP_SCOPES":        " openid  email ",
				"PROVIDER_CORP_AUDIENCES":     "ios-app, android-app",
				"PROVIDER_CORP_LINK_BY_EMAIL": "true",
				"PROVIDER_CORP_SIGNUP":        "false",
			}),
			[]config.Provider{{Name: "corp", Type: config.ProviderOIDC, Issuer: "https://idp.corp.example", ClientID: "authsvc",
				Scopes: []string{"openid", "email"}, Audiences: []string{"ios-app", "android-app"}, LinkByEmail: true, Signup: false}}},
		{"GitHub's scopes can be changed too", gh(map[string]string{"PROVIDER_GH_SCOPES": "user:email"}),
			[]config.Provider{func() config.Provider {
				p := github("gh", "Iv1.0123456789abcdef", "gh-client-secret")
				p.Scopes = []string{"user:email"}
				return p
			}()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustLoad(t, tc.vars).Providers; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Providers of %v:\n got %+v\nwant %+v", tc.vars, got, tc.want)
			}
		})
	}
}

// providerVar is a PROVIDER_<NAME>_ suffix read in providers.go: v("ISSUER").
var providerVar = regexp.MustCompile(`\bv\("([A-Z_]+)"\)`)

// providerSuffixes are the suffixes of the PROVIDER_<NAME>_* variables
// config.Load reads for each provider.
func providerSuffixes(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("providers.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range providerVar.FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = true
	}
	if len(out) < 10 {
		t.Fatalf("found only %d PROVIDER_<NAME>_* variables in providers.go; has the reader changed? %v", len(out), keys(out))
	}
	return out
}

// providerMention is a per-provider variable in the docs: PROVIDER_<NAME>_ISSUER.
var providerMention = regexp.MustCompile(`PROVIDER_<NAME>_([A-Z_]+)`)

// The per-provider variables are named at run time, so the tests above cannot
// see them: README.md and .env.example must each name every one as
// PROVIDER_<NAME>_SUFFIX, and no other.
func TestProviderVariablesAreDocumented(t *testing.T) {
	suffixes := providerSuffixes(t)
	for _, file := range []string{"README.md", ".env.example"} {
		src, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		mentioned := map[string]bool{}
		for _, m := range providerMention.FindAllStringSubmatch(string(src), -1) {
			mentioned[m[1]] = true
		}
		for _, s := range keys(suffixes) {
			if !mentioned[s] {
				t.Errorf("%s does not name PROVIDER_<NAME>_%s", file, s)
			}
		}
		for _, s := range keys(mentioned) {
			if !suffixes[s] {
				t.Errorf("%s names PROVIDER_<NAME>_%s, which config.Load does not read", file, s)
			}
		}
	}
}

// exampleLine is a commented-out assignment in .env.example: #NAME=value.
var exampleLine = regexp.MustCompile(`(?m)^#([A-Z][A-Z0-9_]*)=(.*)$`)

// The commented-out provider examples in .env.example (Google, GitHub, the
// app's redirect URLs) are a configuration that loads as written.
func TestEnvExampleProviderExamplesLoad(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range exampleLine.FindAllStringSubmatch(string(src), -1) {
		if _, twice := vars[m[1]]; twice {
			t.Errorf(".env.example's examples set %s twice", m[1])
		}
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	c := mustLoad(t, vars)
	var names []string
	for _, p := range c.Providers {
		names = append(names, p.Name+":"+p.Type)
	}
	if !slices.Equal(names, []string{"google:oidc", "github:github"}) || len(c.RedirectURLs) == 0 {
		t.Fatalf(".env.example's examples give providers %v and redirect URLs %v; want google (oidc), github and at least one URL",
			names, c.RedirectURLs)
	}
	if c.Providers[0].Issuer != "https://accounts.google.com" {
		t.Errorf("the Google example's issuer is %q", c.Providers[0].Issuer)
	}
}
