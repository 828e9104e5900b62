package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/config"
)

// fuzzVars are the variables FuzzConfig sets, in the order of its arguments.
var fuzzVars = []string{
	"ACCESS_TOKEN_TTL", "SESSION_TTL", "REFRESH_REUSE_GRACE", "KEY_ROTATION_INTERVAL",
	"LOGIN_RATE_LIMIT", "CORS_ORIGINS", "TRUSTED_PROXIES", "DATABASE_URL", "INTROSPECTION_CLIENTS",
}

// lifetimes are checked against each other: an error about one may come from
// another's value.
var lifetimes = []string{"ACCESS_TOKEN_TTL", "SESSION_TTL", "REMEMBER_SESSION_TTL", "KEY_ROTATION_INTERVAL"}

// FuzzConfig: for arbitrary values of a few variables, Load returns a
// configuration that holds together, or an error that starts with the name of
// the variable at fault; it never panics.
//
//	go test -run='^$' -fuzz='^FuzzConfig$' -fuzztime=1m ./config/
func FuzzConfig(f *testing.F) {
	f.Add("15m", "168h", "10s", "720h", "10/m", "https://a.example, https://b.example", "10.0.0.0/8,::1/128",
		"sqlite://authsvc.db", "gateway:secret-0123456789abcdef0123456789,other:s2-0123456789abcdef0123456789ab")
	f.Add("", "", "", "", "", "", "", "", "")
	f.Add("1h", "30m", "0", "1h", "0/m", "*", "10.0.0.1", "postgresql://db.internal:5432/x?sslmode=require", "a:")

	f.Fuzz(func(t *testing.T, access, session, grace, rotation, loginRate, cors, proxies, dbURL, clients string) {
		values := []string{access, session, grace, rotation, loginRate, cors, proxies, dbURL, clients}
		env := map[string]string{"SECRET_KEY": strings.Repeat("5a", 32)} // so that postgres:// needs nothing more
		for i, name := range fuzzVars {
			env[name] = values[i]
		}
		set := func(name string) bool { return strings.TrimSpace(env[name]) != "" }

		c, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			name, _, _ := strings.Cut(err.Error(), ":")
			switch {
			case slices.Contains(lifetimes, name):
				if !set("ACCESS_TOKEN_TTL") && !set("SESSION_TTL") && !set("KEY_ROTATION_INTERVAL") {
					t.Fatalf("%v: but no lifetime was set", err)
				}
			case slices.Contains(fuzzVars, name):
				if !set(name) {
					t.Fatalf("%v: but %s was not set", err, name)
				}
			default:
				t.Fatalf("error %q does not start with the name of a variable that was set", err)
			}
			return
		}

		durations := map[string]time.Duration{
			"ACCESS_TOKEN_TTL": c.AccessTokenTTL, "SESSION_TTL": c.SessionTTL,
			"REFRESH_REUSE_GRACE": c.RefreshReuseGrace, "KEY_ROTATION_INTERVAL": c.KeyRotationInterval,
		}
		for name, got := range durations {
			if !set(name) {
				continue
			}
			if want, err := time.ParseDuration(strings.TrimSpace(env[name])); err != nil || got != want {
				t.Fatalf("%s=%q loaded as %v; ParseDuration gives %v, %v", name, env[name], got, want, err)
			}
		}
		if c.AccessTokenTTL <= 0 || c.SessionTTL <= 0 || c.RefreshReuseGrace < 0 || c.KeyRotationInterval < 0 ||
			c.AccessTokenTTL > c.SessionTTL || c.RememberSessionTTL < c.SessionTTL ||
			(c.KeyRotationInterval != 0 && c.KeyRotationInterval < 2*c.AccessTokenTTL) {
			t.Fatalf("accepted inconsistent lifetimes: access %v, session %v, remember %v, grace %v, rotation %v",
				c.AccessTokenTTL, c.SessionTTL, c.RememberSessionTTL, c.RefreshReuseGrace, c.KeyRotationInterval)
		}

		if r := c.LoginRateLimit; r.Count < 0 || (r.Count == 0) != (r.Period == 0) ||
			!slices.Contains([]time.Duration{0, time.Second, time.Minute, time.Hour}, r.Period) {
			t.Fatalf("LOGIN_RATE_LIMIT=%q loaded as %+v", loginRate, r)
		}

		fields := 0 // non-blank comma-separated items
		for _, p := range strings.Split(cors, ",") {
			if strings.TrimSpace(p) != "" {
				fields++
			}
		}
		if len(c.CORSOrigins) != fields {
			t.Fatalf("CORS_ORIGINS=%q loaded as %q", cors, c.CORSOrigins)
		}
		for _, o := range c.CORSOrigins {
			if o == "" || o != strings.TrimSpace(o) || strings.Contains(o, ",") {
				t.Fatalf("CORS_ORIGINS=%q: origin %q", cors, o)
			}
		}

		fields = 0
		for _, p := range strings.Split(proxies, ",") {
			if strings.TrimSpace(p) != "" {
				fields++
			}
		}
		if len(c.TrustedProxies) != fields || slices.Contains(c.TrustedProxies, nil) {
			t.Fatalf("TRUSTED_PROXIES=%q loaded as %v", proxies, c.TrustedProxies)
		}

		for id, sec := range c.IntrospectionClients {
			if id == "" || sec == "" || strings.Contains(id, ",") || strings.Contains(sec, ",") {
				t.Fatalf("INTROSPECTION_CLIENTS=%q loaded as %q", clients, c.IntrospectionClients)
			}
		}

		if want := strings.TrimSpace(dbURL); want != "" && c.DatabaseURL != want {
			t.Fatalf("DATABASE_URL=%q loaded as %q", dbURL, c.DatabaseURL)
		}
	})
}
