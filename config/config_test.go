package config_test

import (
	"log/slog"
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

		SMTPURL:  "",
		MailFrom: "",

		EmailVerification: config.EmailVerifyOptional,

		WebAuthnRPID:    "localhost",
		WebAuthnRPName:  "authsvc",
		WebAuthnOrigins: []string{"http://localhost:8080"},

		CORSOrigins:    nil,
		CookieMode:     false,
		TrustedProxies: nil,

		LogLevel:  slog.LevelInfo,
		LogFormat: "json",
	}
}

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
		{"SMTP with MAIL_FROM", map[string]string{"SMTP_URL": "smtps://u:p@mail.example.com:465", "MAIL_FROM": "auth@example.com"},
			func(c config.Config) bool { return c.SMTPURL != "" && c.MailFrom == "auth@example.com" }},
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

// readVariables finds every variable config.Load reads by reading config.go.
func readVariables(t *testing.T) map[string]variable {
	t.Helper()
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]variable{}
	for _, m := range loadCall.FindAllStringSubmatch(string(src), -1) {
		vars[m[2]] = variable{name: m[2], method: m[1], def: strings.TrimSpace(m[3])}
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
