// Package apitest builds the whole service on a real, fresh database with a test
// clock, and sends requests through its real router, middleware and error handler.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/app"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/logging"
)

// TestSecretKey is SECRET_KEY in tests.
const TestSecretKey = "8d1f0a4c3b2e5d6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"

// Env is one service instance under test.
type Env struct {
	T     testing.TB
	App   *app.App
	Clock *testdb.Clock
	URL   string // the DATABASE_URL
}

// Vars are environment variables for config.Load; tests override some.
type Vars map[string]string

// BaseVars is the test configuration: cheap hashing, fixed secret, no rotation.
func BaseVars(databaseURL string) Vars {
	return Vars{
		"DATABASE_URL":             databaseURL,
		"SECRET_KEY":               TestSecretKey,
		"PASSWORD_HASH_MEMORY_KIB": "1024",
		"PASSWORD_HASH_ITERATIONS": "1",
		"KEY_ROTATION_INTERVAL":    "0",
		"PUBLIC_URL":               "http://authsvc.test",
		"ADMIN_EMAIL":              "root@example.com",
		"ADMIN_USERNAME":           "root",
		"ADMIN_PASSWORD":           AdminPassword,
		"INTROSPECTION_CLIENTS":    GatewayClient + ":" + GatewaySecret,
		"LOG_LEVEL":                "error",
		// Every test request comes from one address: limits and lockout are on only in the tests of them.
		"LOGIN_RATE_LIMIT":  "0",
		"SIGNUP_RATE_LIMIT": "0",
		"MAIL_RATE_LIMIT":   "0",
		"LOCKOUT_THRESHOLD": "0",
		// Tests send wrong client credentials on purpose.
		"INTROSPECTION_FAILURE_RATE_LIMIT": "0",
		// No verification mails beside the ones a test is about; the tests of
		// verified email turn it on.
		"EMAIL_VERIFICATION": "off",
	}
}

// GatewayClient and GatewaySecret are the introspection client in BaseVars
// (INTROSPECTION_CLIENTS, whose secrets have at least 32 characters).
const (
	GatewayClient = "gateway"
	GatewaySecret = "gateway-secret-0123456789abcdef01"
)

// AdminPassword is the bootstrap admin's password in tests.
const AdminPassword = "Root-pass-for-tests-9481!"

// Option changes how New and NewOn build the service.
type Option func(*options)

type options struct {
	logs io.Writer
}

// LogBuffer collects log output for LogTo; the logger may write from other goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// LogTo also writes the service's log to w, as JSON lines (the production
// format), for tests that inspect what is logged. Writes are serialised.
func LogTo(w io.Writer) Option {
	return func(o *options) { o.logs = w }
}

// New starts a service on a fresh database of the dialect; vars override BaseVars.
func New(t testing.TB, dialect string, vars Vars, opts ...Option) *Env {
	t.Helper()
	return NewOn(t, testdb.URL(t, dialect), vars, opts...)
}

// Each runs fn against a fresh service on every database (testdb.EachDialect:
// parallel subtests named "db=<dialect>"); vars override BaseVars.
func Each(t *testing.T, vars Vars, fn func(t *testing.T, e *Env), opts ...Option) {
	t.Helper()
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		fn(t, New(t, dialect, vars, opts...))
	})
}

// NewOn starts a service on an existing database URL (a restart, a second instance).
func NewOn(t testing.TB, databaseURL string, vars Vars, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	v := BaseVars(databaseURL)
	for k, val := range vars {
		v[k] = val
	}
	cfg, err := config.Load(func(k string) string { return v[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := testdb.NewClock(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	log := newLogger(t, cfg.LogLevel, o.logs)
	a, err := app.New(ctx, cfg, log, st, clock.Now)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) }) // tracing, when a test turns it on
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	// Other instances' changes reach the cache as in production (PostgreSQL).
	listening, stopListening := context.WithCancel(ctx)
	t.Cleanup(stopListening)
	a.RunCacheListener(listening)
	return &Env{T: t, App: a, Clock: clock, URL: databaseURL}
}

// WithT returns the same service reporting failures on t: for subtests.
func (e *Env) WithT(t testing.TB) *Env {
	c := *e
	c.T = t
	return &c
}

// newLogger logs through t.Log, and as JSON to logs too when it is set.
func newLogger(t testing.TB, level slog.Level, logs io.Writer) *slog.Logger {
	if logs == nil {
		return logging.New(testWriter{t}, level, "text")
	}
	return logging.New(io.MultiWriter(testWriter{t}, logs), level, "json")
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Response is a recorded answer.
type Response struct {
	t      testing.TB
	Status int
	Header http.Header
	Body   []byte
}

// Request sends a request through the router. body may be nil, a string (sent
// as is) or a value (sent as JSON). headers come in name, value pairs.
func (e *Env) Request(method, path string, body any, headers ...string) *Response {
	e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return e.Do(req)
}

// Do sends a request built by the caller through the router: for what Request
// does not set, such as RemoteAddr (httptest's default is 192.0.2.1:1234).
func (e *Env) Do(req *http.Request) *Response {
	e.T.Helper()
	rec := httptest.NewRecorder()
	e.App.Server.ServeHTTP(rec, req)
	return &Response{t: e.T, Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// Bearer is the header pair for an access token.
func Bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// As sends a request with the access token.
func (e *Env) As(tok, method, path string, body any) *Response {
	e.T.Helper()
	return e.Request(method, path, body, Bearer(tok)...)
}

// Expect fails the test unless the status is want.
func (r *Response) Expect(want int) *Response {
	r.t.Helper()
	if r.Status != want {
		r.t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// ExpectProblem fails unless the answer is problem JSON with this status and code.
func (r *Response) ExpectProblem(status int, code string) *Response {
	r.t.Helper()
	r.Expect(status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		r.t.Fatalf("Content-Type %q, want application/problem+json; body: %s", ct, r.Body)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	r.Decode(&p)
	if p.Code != code || p.Status != status {
		r.t.Fatalf("problem code %q status %d, want %q %d; body: %s", p.Code, p.Status, code, status, r.Body)
	}
	return r
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// JSON returns the body as a generic map.
func (r *Response) JSON() map[string]any {
	r.t.Helper()
	var m map[string]any
	r.Decode(&m)
	return m
}

// Tokens is a token response.
type Tokens struct {
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type"`
	ExpiresIn    int            `json:"expires_in"`
	RefreshToken string         `json:"refresh_token"`
	SessionID    string         `json:"session_id"`
	User         map[string]any `json:"user"`
}

// StrongPassword passes the default password policy.
const StrongPassword = "violet-Harbor-tunnel-58!"

// Signup creates an account and fails the test if it cannot.
func (e *Env) Signup(username string) map[string]any {
	e.T.Helper()
	r := e.Request("POST", "/v1/auth/signup", map[string]any{
		"email": username + "@example.com", "username": username, "password": StrongPassword,
	}).Expect(http.StatusCreated)
	return r.JSON()["user"].(map[string]any)
}

// Login logs in and returns the tokens.
func (e *Env) Login(login, password string) Tokens {
	e.T.Helper()
	var tk Tokens
	e.Request("POST", "/v1/auth/login", map[string]any{"login": login, "password": password}).Expect(http.StatusOK).Decode(&tk)
	return tk
}

// SignupLogin creates an account and logs it in.
func (e *Env) SignupLogin(username string) Tokens {
	e.T.Helper()
	e.Signup(username)
	return e.Login(username, StrongPassword)
}

// AdminLogin logs in as the bootstrap admin.
func (e *Env) AdminLogin() Tokens {
	e.T.Helper()
	return e.Login("root", AdminPassword)
}
