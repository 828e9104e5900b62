package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/verifier"
)

// stack is a real authsvc, an upstream that reports what reached it, and the
// gateway in front of the upstream.
type stack struct {
	e       *apitest.Env
	v       *verifier.Verifier
	gateway *httptest.Server
	hits    atomic.Int32
	seen    atomic.Value // http.Header of the last request upstream
}

func newStack(t *testing.T, audience string) *stack {
	t.Helper()
	s := &stack{e: apitest.New(t, "sqlite", apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"})}
	auth := httptest.NewServer(s.e.App.Server)
	t.Cleanup(auth.Close)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.seen.Store(r.Header.Clone())
		w.Write([]byte("upstream " + r.URL.Path))
	}))
	t.Cleanup(upstream.Close)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: "http://authsvc.test", Audience: audience,
		JWKSURL: auth.URL + "/.well-known/jwks.json", FeedURL: auth.URL + "/v1/auth/revocations",
		ClientID: apitest.GatewayClient, ClientSecret: apitest.GatewaySecret,
		PollInterval: time.Hour, // the test refreshes the feed itself
		HTTPClient:   auth.Client(), Now: s.e.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	s.v = v
	up, _ := url.Parse(upstream.URL)
	s.gateway = httptest.NewServer(New(v, up))
	t.Cleanup(s.gateway.Close)
	return s
}

func (s *stack) get(t *testing.T, token string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.gateway.URL+"/orders/42", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct{ Code string }
	if res.StatusCode >= 400 {
		if ct := res.Header.Get("Content-Type"); ct != verifier.ProblemContentType {
			t.Errorf("refusal with Content-Type %q", ct)
		}
		json.NewDecoder(res.Body).Decode(&p)
	}
	return res.StatusCode, p.Code
}

// TestGateway: authorised requests reach the upstream with the identity the
// gateway sets (a spoofed one is dropped); forged, expired, wrong-audience and
// revoked tokens, and none at all, are refused with problem JSON and never
// reach it.
func TestGateway(t *testing.T) {
	s := newStack(t, "authsvc")
	tk := s.e.SignupLogin("ada")
	if st, _ := s.get(t, tk.AccessToken, HeaderUserID, "someone-else", HeaderRoles, "admin"); st != 200 {
		t.Fatalf("authorised request: %d", st)
	}
	seen := s.seen.Load().(http.Header)
	if seen.Get(HeaderUserID) != tk.User["id"] || seen.Get(HeaderRoles) != "user" || seen.Get(HeaderUsername) != "ada" {
		t.Fatalf("upstream saw identity %q %q %q; want the token's", seen.Get(HeaderUserID), seen.Get(HeaderRoles), seen.Get(HeaderUsername))
	}
	if len(seen.Values(HeaderUserID)) != 1 || len(seen.Values(HeaderRoles)) != 1 {
		t.Fatalf("spoofed identity headers reached the upstream: %v", seen)
	}

	hits := s.hits.Load()
	forged := tk.AccessToken[:len(tk.AccessToken)-4] + "AAAA"
	for name, tc := range map[string]struct {
		token, code string
	}{
		"none":   {"", "missing_token"},
		"forged": {forged, "invalid_token"},
		"junk":   {"not.a.token", "invalid_token"},
	} {
		if st, code := s.get(t, tc.token); st != 401 || code != tc.code {
			t.Errorf("%s: %d %s; want 401 %s", name, st, code, tc.code)
		}
	}

	// Revoked: refused once the feed says so.
	other := s.e.SignupLogin("bob")
	s.e.As(other.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	if err := s.v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, code := s.get(t, other.AccessToken); st != 401 || code != "session_revoked" {
		t.Errorf("revoked: %d %s", st, code)
	}
	// Expired.
	s.e.Clock.Advance(16 * time.Minute)
	if err := s.v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, code := s.get(t, tk.AccessToken); st != 401 || code != "token_expired" {
		t.Errorf("expired: %d %s", st, code)
	}
	if s.hits.Load() != hits {
		t.Errorf("refused requests reached the upstream (%d → %d)", hits, s.hits.Load())
	}
}

// TestGatewayWrongAudience: a gateway for another audience refuses authsvc's tokens.
func TestGatewayWrongAudience(t *testing.T) {
	s := newStack(t, "billing")
	tk := s.e.SignupLogin("ada")
	if st, code := s.get(t, tk.AccessToken); st != 401 || !strings.Contains(code, "invalid") {
		t.Fatalf("wrong audience: %d %s; want 401 invalid_token", st, code)
	}
	if s.hits.Load() != 0 {
		t.Fatal("a wrong-audience request reached the upstream")
	}
}

// TestGatewayDropsSmuggledIdentityHeaders: identity headers a client sends in
// any spelling that a CGI or WSGI upstream reads as the gateway's own (case,
// "_" for "-") are dropped, so the upstream sees only the gateway's values.
func TestGatewayDropsSmuggledIdentityHeaders(t *testing.T) {
	s := newStack(t, "authsvc")
	tk := s.e.SignupLogin("ada")
	req, _ := http.NewRequest("GET", s.gateway.URL+"/orders/42", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	// Assigned to the map, the names go on the wire exactly as written.
	for name, value := range map[string]string{
		"X_User_Roles": "admin",
		"x-user-roles": "admin",
		"X_USER_ROLES": "admin",
		"X-User_Id":    "someone-else",
		"x_user_id":    "someone-else",
		"X-USER-ID":    "someone-else",
		"X_User-Name":  "root",
		"x-user-name":  "root",
	} {
		req.Header[name] = []string{value}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("authorised request: %d", res.StatusCode)
	}

	want := map[string]string{
		headerKey(HeaderUserID):   tk.User["id"].(string),
		headerKey(HeaderRoles):    "user",
		headerKey(HeaderUsername): "ada",
	}
	seen := s.seen.Load().(http.Header)
	got := map[string][]string{}
	for name, values := range seen {
		if _, identity := want[headerKey(name)]; identity {
			got[name] = values
		}
	}
	if len(got) != len(want) {
		t.Errorf("upstream saw identity headers %q; want only the gateway's three", got)
	}
	for _, name := range []string{HeaderUserID, HeaderRoles, HeaderUsername} {
		if values := got[name]; len(values) != 1 || values[0] != want[headerKey(name)] {
			t.Errorf("upstream saw %s: %q; want only %q", name, values, want[headerKey(name)])
		}
	}
}
