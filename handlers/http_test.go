package handlers_test

// Router-level behaviour that every route shares: CORS, the client address
// behind trusted proxies, security headers and caching headers.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// preflight sends a CORS preflight for a POST with JSON and a Bearer token.
func preflight(e *apitest.Env, path, origin string) *apitest.Response {
	e.T.Helper()
	return e.Request("OPTIONS", path, nil, "Origin", origin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
}

// corsHeaders lists the Access-Control-* headers of a response.
func corsHeaders(r *apitest.Response) []string {
	var out []string
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			out = append(out, k+": "+r.Header.Get(k))
		}
	}
	slices.Sort(out)
	return out
}

func TestCORS(t *testing.T) {
	const listed, other, unlisted = "https://app.example", "https://admin.example", "https://evil.example"
	t.Run("CORS_ORIGINS set", func(t *testing.T) {
		e := apitest.New(t, store.SQLite, apitest.Vars{"CORS_ORIGINS": listed + "," + other})
		for _, origin := range []string{listed, other} {
			r := preflight(e, "/v1/auth/login", origin)
			if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
				t.Fatalf("preflight from %s: status %d", origin, r.Status)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Fatalf("preflight from %s: Access-Control-Allow-Origin %q; headers %v", origin, got, corsHeaders(r))
			}
			methods := strings.ToUpper(r.Header.Get("Access-Control-Allow-Methods"))
			headers := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
			if !strings.Contains(methods, "POST") || !strings.Contains(headers, "authorization") || !strings.Contains(headers, "content-type") {
				t.Fatalf("preflight from %s: allows methods %q, headers %q", origin, methods, headers)
			}
			if r.Header.Get("Access-Control-Allow-Origin") == "*" {
				t.Fatal("preflight answered with a wildcard origin")
			}
			// The answer depends on Origin, so caches must key on it.
			if !slices.Contains(r.Header.Values("Vary"), "Origin") && !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
				t.Fatalf("preflight from %s: Vary %q lacks Origin", origin, r.Header.Values("Vary"))
			}
		}
		// The actual request from a listed origin carries the header too.
		r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}, "Origin", listed).Expect(http.StatusOK)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != listed {
			t.Fatalf("login from %s: Access-Control-Allow-Origin %q", listed, got)
		}
		// An unlisted origin gets no Access-Control-Allow-Origin, on the
		// preflight or on the request (which still runs: CORS is the browser's check).
		r = preflight(e, "/v1/auth/login", unlisted)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("preflight from an unlisted origin: Access-Control-Allow-Origin %q", got)
		}
		r = e.Request("GET", "/healthz", nil, "Origin", unlisted).Expect(http.StatusOK)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("GET from an unlisted origin: Access-Control-Allow-Origin %q", got)
		}
		// A listed origin's suffix or prefix is not listed.
		for _, near := range []string{listed + ".evil.example", "https://app.example:8443", "http://app.example", "https://evil.example/https://app.example"} {
			if got := preflight(e, "/v1/auth/login", near).Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("preflight from %s: Access-Control-Allow-Origin %q", near, got)
			}
		}
	})
	t.Run("CORS_ORIGINS unset", func(t *testing.T) {
		e := apitest.New(t, store.SQLite, nil)
		for _, origin := range []string{listed, unlisted} {
			if h := corsHeaders(preflight(e, "/v1/auth/login", origin)); len(h) != 0 {
				t.Fatalf("preflight from %s without CORS_ORIGINS: %v", origin, h)
			}
			r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}, "Origin", origin).Expect(http.StatusOK)
			if h := corsHeaders(r); len(h) != 0 {
				t.Fatalf("login from %s without CORS_ORIGINS: %v", origin, h)
			}
		}
	})
}

// fromPeer sends a request from a given remote address with X-Forwarded-For.
func fromPeer(e *apitest.Env, method, path string, body any, remoteAddr, xff string, headers ...string) *apitest.Response {
	e.T.Helper()
	var req *http.Request
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			e.T.Fatal(err)
		}
		req = httptest.NewRequest(method, path, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if remoteAddr != "" {
		req.RemoteAddr = remoteAddr
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return e.Do(req)
}

// sessionIPs maps session id to the ip GET /v1/me/sessions shows.
func sessionIPs(e *apitest.Env, tok string) map[string]string {
	e.T.Helper()
	var out struct {
		Sessions []struct {
			ID string `json:"id"`
			IP string `json:"ip"`
		} `json:"sessions"`
	}
	e.As(tok, "GET", "/v1/me/sessions", nil).Expect(http.StatusOK).Decode(&out)
	m := map[string]string{}
	for _, s := range out.Sessions {
		m[s.ID] = s.IP
	}
	return m
}

func TestTrustedProxies(t *testing.T) {
	const (
		proxy     = "192.0.2.1:1234" // httptest's default peer, inside TRUSTED_PROXIES
		stranger  = "198.51.100.9:5555"
		client    = "203.0.113.7"
		client2   = "203.0.113.8"
		spoofed   = "6.6.6.6"
		innerProx = "192.0.2.200" // a second trusted hop
	)
	login := map[string]any{"login": "root", "password": apitest.AdminPassword}
	apitest.Each(t, apitest.Vars{"TRUSTED_PROXIES": "192.0.2.0/24"}, func(t *testing.T, e *apitest.Env) {
		var viaProxy, viaTwo, spoof, direct apitest.Tokens
		fromPeer(e, "POST", "/v1/auth/login", login, proxy, client).Expect(http.StatusOK).Decode(&viaProxy)
		// Only the hops we trust are peeled off, from the right: what the
		// client wrote itself at the left is not believed.
		fromPeer(e, "POST", "/v1/auth/login", login, proxy, client2+", "+innerProx).Expect(http.StatusOK).Decode(&viaTwo)
		fromPeer(e, "POST", "/v1/auth/login", login, proxy, spoofed+", "+client).Expect(http.StatusOK).Decode(&spoof)
		// From a peer we do not trust, X-Forwarded-For is ignored.
		fromPeer(e, "POST", "/v1/auth/login", login, stranger, client).Expect(http.StatusOK).Decode(&direct)

		ips := sessionIPs(e, viaProxy.AccessToken)
		want := map[string]string{viaProxy.SessionID: client, viaTwo.SessionID: client2, spoof.SessionID: client, direct.SessionID: "198.51.100.9"}
		for sid, ip := range want {
			if ips[sid] != ip {
				t.Errorf("session %s: ip %q, want %q (all: %v)", sid, ips[sid], ip, ips)
			}
		}

		// A refresh records the address it came from.
		var refreshed apitest.Tokens
		fromPeer(e, "POST", "/v1/auth/refresh", map[string]any{"refresh_token": viaProxy.RefreshToken}, proxy, client2).Expect(http.StatusOK).Decode(&refreshed)
		if ip := sessionIPs(e, refreshed.AccessToken)[viaProxy.SessionID]; ip != client2 {
			t.Errorf("after a refresh via the proxy for %s: ip %q", client2, ip)
		}

		// The audit log records the same addresses.
		got := map[string]int{}
		for _, ev := range auditEvents(t, e, viaProxy.AccessToken, "type=login_succeeded") {
			got[ev["ip"].(string)]++
		}
		if got[client] != 2 || got[client2] != 1 || got["198.51.100.9"] != 1 || got[spoofed] != 0 || got["192.0.2.1"] != 0 {
			t.Errorf("login_succeeded ips = %v", got)
		}
		// A failed login too.
		fromPeer(e, "POST", "/v1/auth/login", map[string]any{"login": "root", "password": "wrong-password-1"}, proxy, client).Expect(http.StatusUnauthorized)
		failed := auditEvents(t, e, viaProxy.AccessToken, "type=login_failed")
		if len(failed) != 1 || failed[0]["ip"] != client {
			t.Errorf("login_failed events = %v", failed)
		}
	})

	t.Run("TRUSTED_PROXIES unset", func(t *testing.T) {
		e := apitest.New(t, store.SQLite, nil)
		var tk apitest.Tokens
		fromPeer(e, "POST", "/v1/auth/login", login, proxy, client).Expect(http.StatusOK).Decode(&tk)
		if ip := sessionIPs(e, tk.AccessToken)[tk.SessionID]; ip != "192.0.2.1" {
			t.Fatalf("without TRUSTED_PROXIES, X-Forwarded-For was believed: ip %q", ip)
		}
		ev := auditEvents(t, e, tk.AccessToken, "type=login_succeeded")
		if len(ev) != 1 || ev[0]["ip"] != "192.0.2.1" {
			t.Fatalf("audit = %v", ev)
		}
	})
}

// expectSecurityHeaders checks the headers every answer carries.
func expectSecurityHeaders(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s (status %d): %s %q, want %q", what, r.Status, name, got, want)
		}
	}
}

func expectNoStore(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	if got := r.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("%s (status %d): Cache-Control %q, want no-store", what, r.Status, got)
	}
}

func expectPublicMaxAge(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	cc := r.Header.Get("Cache-Control")
	if !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-store") ||
		len(r.Header.Values("Cache-Control")) != 1 {
		t.Errorf("%s (status %d): Cache-Control %q, want public, max-age=…", what, r.Status, r.Header.Values("Cache-Control"))
	}
}

// TestResponseHeaders: security headers on every answer, errors included;
// Cache-Control: no-store on everything personal, errors included; the public
// key set and discovery document keep their own public max-age.
func TestResponseHeaders(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		u := e.Login("ursula", apitest.StrongPassword)

		loginR := e.Request("POST", "/v1/auth/login", map[string]any{"login": "ursula", "password": apitest.StrongPassword}).Expect(http.StatusOK)
		refreshR := e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": u.RefreshToken}).Expect(http.StatusOK)
		private := []struct {
			what string
			r    *apitest.Response
		}{
			{"login", loginR},
			{"refresh", refreshR},
			{"GET /v1/me", e.As(a, "GET", "/v1/me", nil).Expect(http.StatusOK)},
			{"GET /v1/users", e.As(a, "GET", "/v1/users", nil).Expect(http.StatusOK)},
			{"GET /v1/users/{id}", e.As(a, "GET", "/v1/users/"+f.uID, nil).Expect(http.StatusOK)},
			{"GET /v1/audit", e.As(a, "GET", "/v1/audit", nil).Expect(http.StatusOK)},
			{"GET /v1/me/sessions", e.As(a, "GET", "/v1/me/sessions", nil).Expect(http.StatusOK)},
			{"GET /v1/users/{id}/sessions", e.As(a, "GET", "/v1/users/"+f.uID+"/sessions", nil).Expect(http.StatusOK)},
			{"401 problem", e.Request("GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "missing_token")},
			{"401 problem, bad token", e.As("not-a-token", "GET", "/v1/users", nil).ExpectProblem(http.StatusUnauthorized, "invalid_token")},
			{"401 problem, wrong password", e.Request("POST", "/v1/auth/login", map[string]any{"login": "ursula", "password": "wrong-password-1"}).ExpectProblem(http.StatusUnauthorized, "invalid_credentials")},
			{"403 problem", e.As(u.AccessToken, "GET", "/v1/audit", nil).Expect(http.StatusForbidden)},
			{"404 problem", e.Request("GET", "/no/such/route", nil).ExpectProblem(http.StatusNotFound, "not_found")},
			{"405 problem", e.Request("DELETE", "/v1/auth/login", nil).ExpectProblem(http.StatusMethodNotAllowed, "method_not_allowed")},
			{"400 problem", e.Request("POST", "/v1/auth/login", `{"login":`).Expect(http.StatusBadRequest)},
		}
		for _, p := range private {
			expectNoStore(t, p.what, p.r)
			expectSecurityHeaders(t, p.what, p.r)
		}
		for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
			r := e.Request("GET", path, nil).Expect(http.StatusOK)
			expectPublicMaxAge(t, path, r)
			expectSecurityHeaders(t, path, r)
		}
	})
}
