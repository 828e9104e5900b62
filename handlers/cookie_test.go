package handlers_test

// Cookie mode (COOKIE_MODE=true): the refresh token in an HttpOnly cookie,
// CSRF checks on refresh and logout, CORS with credentials.

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

const (
	refreshCookie = "__Host-authsvc_refresh"
	csrfCookie    = "authsvc_csrf"
	appOrigin     = "https://app.example"
)

// cookieVars turns cookie mode on for a SPA on appOrigin; the service itself
// is at https://auth.example (its origin is allowed too).
var cookieVars = apitest.Vars{
	"COOKIE_MODE":  "true",
	"CORS_ORIGINS": appOrigin,
	"PUBLIC_URL":   "https://auth.example",
}

// setCookies returns the cookies a response sets, by name.
func setCookies(t *testing.T, r *apitest.Response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if _, dup := out[c.Name]; dup {
			t.Fatalf("cookie %s set twice: %v", c.Name, r.Header.Values("Set-Cookie"))
		}
		out[c.Name] = c
	}
	return out
}

// browser is the cookie jar of one browser tab talking to the service, and
// everything it received, to check that no body ever held a refresh token.
type browser struct {
	t       *testing.T
	e       *apitest.Env
	refresh string // __Host-authsvc_refresh
	csrf    string // authsvc_csrf
	seen    []string
	bodies  [][]byte
}

// send makes a request with the jar's cookies and headers (name, value pairs).
func (b *browser) send(method, path string, body any, headers ...string) *apitest.Response {
	b.t.Helper()
	var jar []string
	if b.refresh != "" {
		jar = append(jar, refreshCookie+"="+b.refresh)
	}
	if b.csrf != "" {
		jar = append(jar, csrfCookie+"="+b.csrf)
	}
	if len(jar) > 0 {
		headers = append(headers, "Cookie", strings.Join(jar, "; "))
	}
	r := b.e.Request(method, path, body, headers...)
	b.bodies = append(b.bodies, r.Body)
	return r
}

// keep stores the cookies of a successful login or refresh, checking their
// attributes: both Secure, SameSite=Strict, Path=/, expiring with the session.
func (b *browser) keep(r *apitest.Response, sessionTTL time.Duration) {
	t := b.t
	t.Helper()
	cookies := setCookies(t, r)
	rc, cc := cookies[refreshCookie], cookies[csrfCookie]
	if rc == nil || cc == nil {
		t.Fatalf("Set-Cookie %v, want %s and %s", r.Header.Values("Set-Cookie"), refreshCookie, csrfCookie)
	}
	expires := b.e.Clock.Now().Add(sessionTTL)
	for _, c := range []*http.Cookie{rc, cc} {
		if c.Value == "" || c.Path != "/" || c.Domain != "" || !c.Secure || c.SameSite != http.SameSiteStrictMode {
			t.Fatalf("cookie %s: %s, want a value, Path=/, no Domain, Secure, SameSite=Strict", c.Name, c.Raw)
		}
		if c.MaxAge != int(sessionTTL.Seconds()) || !c.Expires.Equal(expires) {
			t.Fatalf("cookie %s: Max-Age %d, Expires %v; want %d and %v (the session's end)", c.Name, c.MaxAge, c.Expires, int(sessionTTL.Seconds()), expires)
		}
	}
	if !rc.HttpOnly {
		t.Fatalf("refresh cookie is not HttpOnly: %s", rc.Raw)
	}
	if cc.HttpOnly {
		t.Fatalf("CSRF cookie is HttpOnly, the page cannot read it: %s", cc.Raw)
	}
	if _, has := r.JSON()["refresh_token"]; has {
		t.Fatalf("body has refresh_token in cookie mode: %s", r.Body)
	}
	b.refresh, b.csrf = rc.Value, cc.Value
	b.seen = append(b.seen, rc.Value)
}

// noTokenInBodies fails if any answer's body held a refresh token.
func (b *browser) noTokenInBodies() {
	b.t.Helper()
	for _, body := range b.bodies {
		for _, tok := range b.seen {
			if bytes.Contains(body, []byte(tok)) {
				b.t.Fatalf("a response body holds a refresh token: %s", body)
			}
		}
	}
}

func (b *browser) login(remember bool) apitest.Tokens {
	b.t.Helper()
	r := b.send("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword, "remember": remember}).Expect(http.StatusOK)
	ttl := 168 * time.Hour
	if remember {
		ttl = 720 * time.Hour
	}
	b.keep(r, ttl)
	var tk apitest.Tokens
	r.Decode(&tk)
	return tk
}

func TestCookieMode(t *testing.T) {
	apitest.Each(t, cookieVars, func(t *testing.T, e *apitest.Env) {
		b := &browser{t: t, e: e}
		tk := b.login(false)
		if tk.AccessToken == "" || tk.SessionID == "" {
			t.Fatalf("login body lacks the access token or session: %+v", tk)
		}
		first, csrf := b.refresh, b.csrf

		// Refresh is refused without the CSRF header, with a wrong one, with
		// the header but no CSRF cookie, and from a foreign origin.
		b.send("POST", "/v1/auth/refresh", nil).ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf+"x").ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", "", "Origin", appOrigin).ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf, "Origin", "https://evil.example").ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf, "Origin", "null").ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.csrf = ""
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf).ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.csrf = csrf
		// None of the refusals used up the refresh token.
		if b.refresh != first {
			t.Fatal("the refresh cookie changed without a successful refresh")
		}

		// A refresh token in the body is refused: the cookie alone carries it.
		b.send("POST", "/v1/auth/refresh", map[string]any{"refresh_token": first}, "X-CSRF-Token", csrf).
			ExpectProblem(http.StatusBadRequest, "validation_failed")

		// With the header, from the SPA's origin: a new refresh cookie, the same CSRF token.
		r := b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf, "Origin", appOrigin).Expect(http.StatusOK)
		b.keep(r, 168*time.Hour)
		if b.refresh == first {
			t.Fatal("refresh did not rotate the refresh cookie")
		}
		if b.csrf != csrf {
			t.Fatal("refresh changed the CSRF token; other tabs would fail")
		}
		var refreshed apitest.Tokens
		r.Decode(&refreshed)
		if refreshed.AccessToken == "" || refreshed.SessionID != tk.SessionID {
			t.Fatalf("refresh body %s", r.Body)
		}

		// From the service's own origin (PUBLIC_URL), and without Origin, an
		// empty JSON body is fine too.
		b.keep(b.send("POST", "/v1/auth/refresh", map[string]any{}, "X-CSRF-Token", csrf, "Origin", "https://auth.example").Expect(http.StatusOK), 168*time.Hour)
		b.keep(b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf).Expect(http.StatusOK), 168*time.Hour)

		// Without the refresh cookie there is nothing to refresh.
		saved := b.refresh
		b.refresh = ""
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf).ExpectProblem(http.StatusUnauthorized, "invalid_refresh_token")
		b.refresh = saved

		// Logout needs the CSRF header as well.
		b.send("POST", "/v1/auth/logout", nil).ExpectProblem(http.StatusForbidden, "csrf_failed")
		b.send("POST", "/v1/auth/logout", nil, "X-CSRF-Token", csrf, "Origin", "https://evil.example").ExpectProblem(http.StatusForbidden, "csrf_failed")
		e.As(refreshed.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK) // still logged in

		// Logout by the cookie alone (no access token) ends the session and clears both cookies.
		r = b.send("POST", "/v1/auth/logout", nil, "X-CSRF-Token", csrf, "Origin", appOrigin).Expect(http.StatusOK)
		cleared := setCookies(t, r)
		for _, name := range []string{refreshCookie, csrfCookie} {
			c := cleared[name]
			if c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != "/" || !c.Secure {
				t.Fatalf("logout does not clear %s: %v", name, r.Header.Values("Set-Cookie"))
			}
		}
		e.As(refreshed.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", csrf).ExpectProblem(http.StatusUnauthorized, "invalid_refresh_token")

		// Logout with an access token and the cookie; a remembered session
		// lives longer, and its cookies say so.
		b.login(true)
		tk2 := b.login(false)
		r = b.send("POST", "/v1/auth/logout", nil, append(apitest.Bearer(tk2.AccessToken), "X-CSRF-Token", b.csrf)...).Expect(http.StatusOK)
		if c := setCookies(t, r)[refreshCookie]; c == nil || c.MaxAge >= 0 {
			t.Fatalf("logout does not clear the refresh cookie: %v", r.Header.Values("Set-Cookie"))
		}
		e.As(tk2.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", b.csrf).ExpectProblem(http.StatusUnauthorized, "invalid_refresh_token")

		b.noTokenInBodies()
	})
}

// A logout whose access token and refresh cookie name different sessions ends both.
func TestCookieLogoutEndsTheCookieSessionToo(t *testing.T) {
	apitest.Each(t, cookieVars, func(t *testing.T, e *apitest.Env) {
		b := &browser{t: t, e: e}
		other := b.login(false)
		mine := b.login(false)
		b.send("POST", "/v1/auth/logout", nil, append(apitest.Bearer(other.AccessToken), "X-CSRF-Token", b.csrf)...).Expect(http.StatusOK)
		e.As(other.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		e.As(mine.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		b.noTokenInBodies()
	})
}

func TestCookieModeCORS(t *testing.T) {
	e := apitest.New(t, store.SQLite, cookieVars)
	preflight := func(origin string) *apitest.Response {
		return e.Request("OPTIONS", "/v1/auth/refresh", nil, "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-csrf-token")
	}
	r := preflight(appOrigin)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Fatalf("preflight from %s: Access-Control-Allow-Origin %q; headers %v", appOrigin, got, corsHeaders(r))
	}
	if r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from %s does not allow credentials: %v", appOrigin, corsHeaders(r))
	}
	if h := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "x-csrf-token") {
		t.Fatalf("preflight from %s: Access-Control-Allow-Headers %q lacks X-CSRF-Token", appOrigin, h)
	}
	for _, origin := range []string{"https://evil.example", "https://app.example.evil.example", "null"} {
		r := preflight(origin)
		if got := corsHeaders(r); len(got) != 0 {
			t.Fatalf("preflight from %s: %v, want no Access-Control-* headers", origin, got)
		}
	}
	// The login itself, from the listed origin, allows credentials, so the
	// browser keeps the cookies.
	r = e.Request("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}, "Origin", appOrigin).Expect(http.StatusOK)
	if r.Header.Get("Access-Control-Allow-Origin") != appOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("login from %s: %v", appOrigin, corsHeaders(r))
	}
}

// Without COOKIE_MODE nothing changes: tokens in bodies, no cookies, CORS
// without credentials.
func TestCookieModeOff(t *testing.T) {
	e := apitest.New(t, store.SQLite, apitest.Vars{"CORS_ORIGINS": appOrigin})
	r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}, "Origin", appOrigin).Expect(http.StatusOK)
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("login sets cookies without COOKIE_MODE: %v", sc)
	}
	if r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("CORS allows credentials without COOKIE_MODE: %v", corsHeaders(r))
	}
	var tk apitest.Tokens
	r.Decode(&tk)
	if tk.RefreshToken == "" {
		t.Fatalf("login body lacks refresh_token: %s", r.Body)
	}
	// Refresh and logout need no CSRF header; the body carries the token.
	r = e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(http.StatusOK)
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("refresh sets cookies without COOKIE_MODE: %v", sc)
	}
	r.Decode(&tk)
	e.As(tk.AccessToken, "POST", "/v1/auth/logout", nil).Expect(http.StatusOK)
}

// Cookies are Secure, so the service warns once at start when PUBLIC_URL is
// plain http and not loopback, and not at all when it is https.
func TestCookieModeWarnsOnPlainHTTP(t *testing.T) {
	for url, warnings := range map[string]int{"http://auth.example": 1, "https://auth.example": 0, "http://localhost:8080": 0} {
		var logs bytes.Buffer
		apitest.New(t, store.SQLite, apitest.Vars{"COOKIE_MODE": "true", "PUBLIC_URL": url, "LOG_LEVEL": "warn"}, apitest.LogTo(&logs))
		if got := strings.Count(logs.String(), "COOKIE_MODE"); got != warnings {
			t.Fatalf("PUBLIC_URL=%s: %d warnings naming COOKIE_MODE, want %d; log:\n%s", url, got, warnings, logs.String())
		}
	}
}

// The second step of a login sets the cookies as login does; the password
// step sets none.
func TestCookieModeSecondStep(t *testing.T) {
	apitest.Each(t, cookieVars, func(t *testing.T, e *apitest.Env) {
		_, secret, _ := mfaUser(e, "ada")
		r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).Expect(200)
		if sc := setCookies(t, r); len(sc) != 0 {
			t.Errorf("the password step set cookies: %v", sc)
		}
		tok := r.JSON()["mfa_token"].(string)
		r = secondStep(e, tok, map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).Expect(200)
		sc := setCookies(t, r)
		if sc[refreshCookie] == nil || sc[refreshCookie].Value == "" || !sc[refreshCookie].HttpOnly || sc[csrfCookie] == nil {
			t.Errorf("second step cookies %v; want the refresh and CSRF cookies", sc)
		}
		if body := r.JSON(); body["refresh_token"] != nil || body["access_token"] == nil {
			t.Errorf("second step body %v; want an access token and no refresh token", body)
		}
	})
}
