package verifiertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/verifier"
)

const issuer = "http://authsvc.test"

// service runs a real authsvc on SQLite behind an HTTP server, and a verifier
// pointed at it with the service's clock.
func service(t *testing.T, mod func(*verifier.Config)) (*apitest.Env, *httptest.Server, *verifier.Verifier) {
	t.Helper()
	e, srv, v, _ := watchedService(t, mod)
	return e, srv, v
}

// watchedService is service that also counts the feed requests the server
// receives, so that a test can wait for the background poller.
func watchedService(t *testing.T, mod func(*verifier.Config)) (*apitest.Env, *httptest.Server, *verifier.Verifier, *feedPolls) {
	t.Helper()
	e := apitest.New(t, "sqlite", apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"})
	polls := &feedPolls{changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/revocations" {
			polls.started()
		}
		e.App.Server.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := verifier.Config{
		Issuer:       issuer,
		Audience:     "authsvc",
		JWKSURL:      srv.URL + "/.well-known/jwks.json",
		FeedURL:      srv.URL + "/v1/auth/revocations",
		ClientID:     "gateway",
		ClientSecret: apitest.GatewaySecret,
		PollInterval: 50 * time.Millisecond,
		HTTPClient:   srv.Client(),
		Now:          e.Clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Ready(); cfg.FeedURL != "" && err != nil {
		t.Fatalf("not ready after New: %v", err)
	}
	return e, srv, v, polls
}

// feedPolls counts the feed requests that have started.
type feedPolls struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced on each request
}

func (p *feedPolls) started() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *feedPolls) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// waitPast waits until more than n feed requests have started.
func (p *feedPolls) waitPast(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		got, changed := p.n, p.changed
		p.mu.Unlock()
		if got > n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d feed requests in 10s; want more than %d", got, n)
		}
	}
}

func expectErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func b64(v any) string {
	data, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(data)
}

func parts(tok string) (header map[string]any, claims map[string]any) {
	p := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(p[0])
	c, _ := base64.RawURLEncoding.DecodeString(p[1])
	_ = json.Unmarshal(h, &header)
	_ = json.Unmarshal(c, &claims)
	return header, claims
}

func TestVerifyAcceptsAndRefuses(t *testing.T) {
	e, _, v := service(t, nil)
	ctx := context.Background()
	tk := e.SignupLogin("ann")

	c, err := v.Verify(ctx, tk.AccessToken)
	if err != nil {
		t.Fatalf("a fresh token is refused: %v", err)
	}
	if c.Subject != tk.User["id"] || c.SessionID != tk.SessionID || c.Username != "ann" || c.Email != "ann@example.com" {
		t.Errorf("claims %+v; want ann's", c)
	}
	if !c.HasRole("user") || c.HasRole("admin") || c.Raw["sid"] != tk.SessionID {
		t.Errorf("roles %v raw %v", c.Roles, c.Raw)
	}
	if !c.HasAMR("pwd") || c.HasAMR("mfa") || len(c.AMR) != 1 {
		t.Errorf("amr %v; want [pwd] for a password login", c.AMR)
	}
	if want := e.Clock.Now().Add(15 * time.Minute); !c.ExpiresAt.Equal(want.Truncate(time.Second)) {
		t.Errorf("exp %s, want %s", c.ExpiresAt, want)
	}

	header, claims := parts(tk.AccessToken)

	t.Run("forged", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		forged := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
		forged.Header["kid"] = header["kid"]
		forged.Header["typ"] = "at+jwt"
		raw, _ := forged.SignedString(key)
		_, err := v.Verify(ctx, raw)
		expectErr(t, err, verifier.ErrInvalidToken)

		forged.Header["kid"] = "unknown-kid"
		raw, _ = forged.SignedString(key)
		_, err = v.Verify(ctx, raw)
		expectErr(t, err, verifier.ErrInvalidToken)

		// Another token's signature on these claims.
		other := e.Login("ann", apitest.StrongPassword).AccessToken
		swapped := tk.AccessToken[:strings.LastIndexByte(tk.AccessToken, '.')] + other[strings.LastIndexByte(other, '.'):]
		_, err = v.Verify(ctx, swapped)
		expectErr(t, err, verifier.ErrInvalidToken)
	})

	t.Run("alg none", func(t *testing.T) {
		h := map[string]any{"alg": "none", "typ": "at+jwt", "kid": header["kid"]}
		_, err := v.Verify(ctx, b64(h)+"."+b64(claims)+".")
		expectErr(t, err, verifier.ErrInvalidToken)
		h["alg"] = "HS256"
		_, err = v.Verify(ctx, b64(h)+"."+b64(claims)+".c2ln")
		expectErr(t, err, verifier.ErrInvalidToken)
	})

	t.Run("garbage", func(t *testing.T) {
		for _, raw := range []string{"", "a.b", "a.b.c", tk.AccessToken + "x"} {
			if _, err := v.Verify(ctx, raw); !errors.Is(err, verifier.ErrInvalidToken) {
				t.Errorf("%q: %v", raw, err)
			}
		}
	})

	t.Run("wrong audience and issuer", func(t *testing.T) {
		for _, mod := range []func(*verifier.Config){
			func(c *verifier.Config) { c.Audience = "another-service" },
			func(c *verifier.Config) { c.Issuer = "http://evil.test"; c.FeedURL = "" },
		} {
			_, _, other := service(t, mod)
			_, err := other.Verify(ctx, tk.AccessToken)
			expectErr(t, err, verifier.ErrInvalidToken)
		}
	})

	t.Run("feed JWS is no access token", func(t *testing.T) {
		_, srv, _ := service(t, nil)
		req, _ := http.NewRequest("GET", srv.URL+"/v1/auth/revocations", nil)
		req.SetBasicAuth(apitest.GatewayClient, apitest.GatewaySecret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("feed: %d %s", resp.StatusCode, body)
		}
		// The other service signs with other keys: use its own verifier.
		_, err = v.Verify(ctx, string(body))
		expectErr(t, err, verifier.ErrInvalidToken)
	})

	t.Run("expired", func(t *testing.T) {
		e.Clock.Advance(15*time.Minute + 6*time.Second)
		_, err := v.Verify(ctx, tk.AccessToken)
		expectErr(t, err, verifier.ErrExpired)
	})
}

// TestFeedJWSRefusedAsToken: the feed, signed by the very key that signs
// tokens, still does not pass as an access token (typ).
func TestFeedJWSRefusedAsToken(t *testing.T) {
	e, srv, v := service(t, nil)
	tk := e.SignupLogin("fay")
	e.As(tk.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/auth/revocations", nil)
	req.SetBasicAuth(apitest.GatewayClient, apitest.GatewaySecret)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = v.Verify(context.Background(), string(body))
	expectErr(t, err, verifier.ErrInvalidToken)
	if !strings.Contains(err.Error(), "typ") {
		t.Errorf("refused for %v; want the typ", err)
	}
}

func TestLogoutRefusedWithinAPoll(t *testing.T) {
	e, _, v, polls := watchedService(t, nil)
	ctx := context.Background()
	gone := e.SignupLogin("bob")
	live := e.Login("bob", apitest.StrongPassword)
	for _, tok := range []string{gone.AccessToken, live.AccessToken} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	e.As(gone.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)

	// The first feed request that starts after the logout reads it; once the
	// one after it has started, the poller has applied that page.
	polls.waitPast(t, polls.count()+1)
	if _, err := v.Verify(ctx, gone.AccessToken); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("logged-out token: %v; want ErrRevoked within a poll", err)
	}
	if c, err := v.Verify(ctx, live.AccessToken); err != nil || c.SessionID != live.SessionID {
		t.Fatalf("the other session's token: %v", err)
	}

	// Refresh applies a revocation at once; unchanged feed pages are 304.
	e.As(live.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(ctx, live.AccessToken)
	expectErr(t, err, verifier.ErrRevoked)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStaleFeedFailsClosed(t *testing.T) {
	e, srv, v := service(t, func(c *verifier.Config) { c.MaxFeedStaleness = 2 * time.Second })
	ctx := context.Background()
	tk := e.SignupLogin("cyd")
	if _, err := v.Verify(ctx, tk.AccessToken); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	e.Clock.Advance(time.Second)
	if _, err := v.Verify(ctx, tk.AccessToken); err != nil {
		t.Fatalf("within the staleness bound: %v", err)
	}
	e.Clock.Advance(2 * time.Second)
	_, err := v.Verify(ctx, tk.AccessToken)
	expectErr(t, err, verifier.ErrFeedStale)
	expectErr(t, v.Ready(), verifier.ErrFeedStale)

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	v.Middleware(http.NotFoundHandler()).ServeHTTP(rec, req)
	expectProblem(t, rec, 503, "unavailable")
}

func TestKeyRotationRefetchesOnUnknownKID(t *testing.T) {
	// No feed: the feed poller would otherwise refetch the JWKS itself.
	e, _, v := service(t, func(c *verifier.Config) { c.FeedURL = "" })
	ctx := context.Background()
	old := e.SignupLogin("rosa")
	if _, err := v.Verify(ctx, old.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Two rotations: the key that signs now was published after the verifier
	// fetched the JWKS (one rotation ahead would already be known).
	for range 2 {
		if _, err := e.App.Keys.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fresh := e.Login("rosa", apitest.StrongPassword)
	oldH, _ := parts(old.AccessToken)
	freshH, _ := parts(fresh.AccessToken)
	if oldH["kid"] == freshH["kid"] {
		t.Fatal("rotation kept the kid")
	}
	// Within MinRefetch of the last fetch the unknown kid is refused...
	_, err := v.Verify(ctx, fresh.AccessToken)
	expectErr(t, err, verifier.ErrInvalidToken)
	// ...then fetched once.
	e.Clock.Advance(6 * time.Second)
	if _, err := v.Verify(ctx, fresh.AccessToken); err != nil {
		t.Fatalf("token from the new key after refetch: %v", err)
	}
	if _, err := v.Verify(ctx, old.AccessToken); err != nil {
		t.Fatalf("token from the retiring key: %v", err)
	}
}

func TestKeyRotationWithFeed(t *testing.T) {
	e, _, v := service(t, nil)
	ctx := context.Background()
	for range 2 {
		if _, err := e.App.Keys.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tk := e.SignupLogin("uma")
	e.Clock.Advance(6 * time.Second)
	if err := v.Refresh(ctx); err != nil {
		t.Fatalf("feed signed by the new key: %v", err)
	}
	if _, err := v.Verify(ctx, tk.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func expectProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %q %s; want %d problem JSON", rec.Code, rec.Header().Get("Content-Type"), rec.Body, status)
	}
	var p verifier.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != code || p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %s; want code %s status %d", rec.Body, code, status)
	}
}

func TestMiddleware(t *testing.T) {
	e, _, v := service(t, nil)
	user := e.SignupLogin("dan")
	admin := e.AdminLogin()

	var seen *verifier.Claims
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = verifier.ClaimsFrom(r.Context())
		w.WriteHeader(204)
	})
	call := func(h http.Handler, authz string) *httptest.ResponseRecorder {
		seen = nil
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		h.ServeHTTP(rec, req)
		return rec
	}

	plain := v.Middleware(ok)
	if rec := call(plain, "Bearer "+user.AccessToken); rec.Code != 204 || seen == nil || seen.SessionID != user.SessionID {
		t.Fatalf("valid token: %d %s, claims %+v", rec.Code, rec.Body, seen)
	}
	expectProblem(t, call(plain, ""), 401, "missing_token")
	expectProblem(t, call(plain, "Basic Zm9vOmJhcg=="), 401, "missing_token")
	expectProblem(t, call(plain, "Bearer nope"), 401, "invalid_token")
	if seen != nil {
		t.Fatal("the handler ran for a refused request")
	}

	adminOnly := v.Middleware(verifier.RequireRole("admin")(ok))
	expectProblem(t, call(adminOnly, "Bearer "+user.AccessToken), 403, "forbidden")
	if rec := call(adminOnly, "Bearer "+admin.AccessToken); rec.Code != 204 || !seen.HasRole("admin") {
		t.Fatalf("admin: %d %s", rec.Code, rec.Body)
	}
	readers := v.Middleware(verifier.RequirePermission("users:read")(ok))
	expectProblem(t, call(readers, "Bearer "+user.AccessToken), 403, "forbidden")
	if rec := call(readers, "Bearer "+admin.AccessToken); rec.Code != 204 {
		t.Fatalf("admin with users:read: %d %s", rec.Code, rec.Body)
	}
	expectProblem(t, call(verifier.RequireRole("admin")(ok), ""), 401, "missing_token")

	// Revoked and expired.
	e.As(user.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, call(plain, "Bearer "+user.AccessToken), 401, "session_revoked")
	e.Clock.Advance(16 * time.Minute)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, call(plain, "Bearer "+admin.AccessToken), 401, "token_expired")
}

func TestEchoMiddleware(t *testing.T) {
	e, _, v := service(t, nil)
	user := e.SignupLogin("eve")
	admin := e.AdminLogin()

	// Echo takes the net/http middleware as it is.
	r := echo.New()
	g := r.Group("", echo.WrapMiddleware(v.Middleware))
	g.GET("/me", func(c echo.Context) error {
		return c.String(200, verifier.ClaimsFrom(c.Request().Context()).Username)
	})
	g.GET("/admin", func(c echo.Context) error { return c.NoContent(204) }, echo.WrapMiddleware(verifier.RequireRole("admin")))
	g.GET("/users", func(c echo.Context) error { return c.NoContent(204) }, echo.WrapMiddleware(verifier.RequirePermission("users:read")))

	call := func(path, tok string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		r.ServeHTTP(rec, req)
		return rec
	}
	if rec := call("/me", user.AccessToken); rec.Code != 200 || rec.Body.String() != "eve" {
		t.Fatalf("/me: %d %s", rec.Code, rec.Body)
	}
	expectProblem(t, call("/me", ""), 401, "missing_token")
	expectProblem(t, call("/me", "x.y.z"), 401, "invalid_token")
	expectProblem(t, call("/admin", user.AccessToken), 403, "forbidden")
	expectProblem(t, call("/users", user.AccessToken), 403, "forbidden")
	if rec := call("/admin", admin.AccessToken); rec.Code != 204 {
		t.Fatalf("/admin as admin: %d %s", rec.Code, rec.Body)
	}
	if rec := call("/users", admin.AccessToken); rec.Code != 204 {
		t.Fatalf("/users as admin: %d %s", rec.Code, rec.Body)
	}
}

// TestFeedConditionalPolls: the poller sends the last ETag back, and an
// unchanged feed answers 304; a failing JWKS is not fetched more than once per
// MinRefetch.
func TestFeedConditionalPolls(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"})
	var mu sync.Mutex
	statuses := map[int]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		e.App.Server.ServeHTTP(rec, r)
		if r.URL.Path == "/v1/auth/revocations" {
			mu.Lock()
			statuses[rec.Code]++
			mu.Unlock()
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: issuer, Audience: "authsvc",
		JWKSURL: srv.URL + "/.well-known/jwks.json", FeedURL: srv.URL + "/v1/auth/revocations",
		ClientID: "gateway", ClientSecret: apitest.GatewaySecret,
		PollInterval: time.Hour, HTTPClient: srv.Client(), Now: e.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	for range 3 {
		if err := v.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if statuses[http.StatusNotModified] < 2 {
		t.Errorf("feed answers %v; want 304s for the unchanged polls", statuses)
	}
	mu.Unlock()

	tk := e.SignupLogin("gil")
	e.As(tk.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, tk.AccessToken)
	expectErr(t, err, verifier.ErrRevoked)
	mu.Lock()
	if statuses[http.StatusOK] < 3 {
		t.Errorf("feed answers %v; want a 200 for the new revocation", statuses)
	}
	mu.Unlock()

	// Once its token has expired, the revocation is forgotten, and the
	// (expired) token is refused as expired.
	e.Clock.Advance(16 * time.Minute)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, tk.AccessToken)
	expectErr(t, err, verifier.ErrExpired)
}
