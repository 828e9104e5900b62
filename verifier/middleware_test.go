package verifier_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/verifier"
)

// ok answers 200 with the subject of the claims on the request's context.
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c := verifier.ClaimsFrom(r.Context())
	if c == nil {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, c.Subject)
})

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get sends GET / with the token as a bearer token ("" for none).
func get(t *testing.T, srv *httptest.Server, token string) *http.Response {
	t.Helper()
	authz := ""
	if token != "" {
		authz = "Bearer " + token
	}
	return getWith(t, srv, authz)
}

// getWith sends GET / with the Authorization header ("" for none); the body is
// read into the response's Body again.
func getWith(t *testing.T, srv *httptest.Server, authz string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func expectProblem(t *testing.T, res *http.Response, status int, code string) {
	t.Helper()
	text := body(t, res)
	if res.StatusCode != status || res.Header.Get("Content-Type") != verifier.ProblemContentType {
		t.Fatalf("%d %q %s; want %d problem JSON", res.StatusCode, res.Header.Get("Content-Type"), text, status)
	}
	var p verifier.Problem
	if err := json.Unmarshal([]byte(text), &p); err != nil || p.Code != code || p.Status != status ||
		p.Title != http.StatusText(status) || p.Type != "about:blank" || p.Detail == "" {
		t.Fatalf("problem %s; want code %s status %d", text, code, status)
	}
}

// TestMiddleware: over HTTP, a valid bearer token reaches the handler with its
// claims; everything else is refused with problem JSON and never reaches it.
func TestMiddleware(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	var reached atomic.Int32
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1); ok(w, r) })
	plain := serve(t, v.Middleware(counted))

	user := a.token("sid-user", nil)
	res := get(t, plain, user)
	if got := body(t, res); res.StatusCode != 200 || got != "user-ann" {
		t.Fatalf("valid token: %d %s", res.StatusCode, got)
	}
	if res := getWith(t, plain, "bearer "+user); res.StatusCode != 200 {
		t.Fatalf("scheme in lower case: %d", res.StatusCode)
	}
	reached.Store(0)

	for _, tc := range []struct {
		authz, code, challenge string
	}{
		{"", "missing_token", "Bearer"},
		{"Basic Zm9vOmJhcg==", "missing_token", "Bearer"},
		{"Bearer ", "missing_token", "Bearer"},
		{"Bearer nope", "invalid_token", `Bearer error="invalid_token"`},
		{"Bearer " + user + "x", "invalid_token", `Bearer error="invalid_token"`},
	} {
		res := getWith(t, plain, tc.authz)
		expectProblem(t, res, 401, tc.code)
		if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("%q: WWW-Authenticate %q, want %q", tc.authz, got, tc.challenge)
		}
	}

	a.revoke(a.clock.Now().Add(15*time.Minute), "sid-user")
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, get(t, plain, user), 401, "session_revoked")
	a.clock.Advance(16 * time.Minute)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, get(t, plain, a.token("sid-old", func(c map[string]any) {
		c["exp"] = a.clock.Now().Add(-time.Minute).Unix()
	})), 401, "token_expired")
	if n := reached.Load(); n != 0 {
		t.Errorf("the handler ran for %d refused requests", n)
	}
}

func TestRequireRoleAndPermission(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	user := a.token("sid-user", nil)
	admin := a.token("sid-admin", func(c map[string]any) {
		c["roles"] = []string{"user", "admin"}
		c["permissions"] = []string{"users:read"}
	})
	admins := serve(t, v.Middleware(verifier.RequireRole("admin")(ok)))
	readers := serve(t, v.Middleware(verifier.RequirePermission("users:read")(ok)))
	for _, srv := range []*httptest.Server{admins, readers} {
		expectProblem(t, get(t, srv, user), 403, "forbidden")
		if res := get(t, srv, admin); res.StatusCode != 200 {
			t.Errorf("admin: %d %s", res.StatusCode, body(t, res))
		}
		expectProblem(t, get(t, srv, ""), 401, "missing_token")
	}
	// Without Middleware in front there are no claims: 401, not a pass.
	expectProblem(t, get(t, serve(t, verifier.RequireRole("admin")(ok)), admin), 401, "missing_token")
	expectProblem(t, get(t, serve(t, verifier.RequirePermission("users:read")(ok)), admin), 401, "missing_token")
}

func TestClaimsContext(t *testing.T) {
	if verifier.ClaimsFrom(context.Background()) != nil {
		t.Fatal("claims on an empty context")
	}
	c := &verifier.Claims{Subject: "s"}
	if got := verifier.ClaimsFrom(verifier.WithClaims(context.Background(), c)); got != c {
		t.Fatalf("ClaimsFrom(WithClaims(c)) = %v", got)
	}
}
