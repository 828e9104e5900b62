// Package githubtest fakes github.com's OAuth App web flow and the bits of
// api.github.com a sign-in needs, on httptest, for golang.org/x/oauth2 and
// plain HTTP clients:
//
//	GET  /login/oauth/authorize     → 302 to redirect_uri with code and state, as
//	                                  the user set with SetUser (already signed in
//	                                  and having authorized the app); 404 page for
//	                                  an unknown client_id, like GitHub.
//	POST /login/oauth/access_token  → access_token, scope, token_type; JSON if
//	                                  Accept: application/json, else form-encoded.
//	                                  Client secret by form or HTTP Basic; PKCE
//	                                  (S256 or plain) checked when a challenge was
//	                                  sent. Errors are 200 with error=..., as GitHub
//	                                  does (incorrect_client_credentials,
//	                                  bad_verification_code, redirect_uri_mismatch).
//	GET  /user                      → {"id", "login", "name", "email", ...}
//	GET  /user/emails               → [{"email","primary","verified","visibility"}],
//	                                  404 unless the token has scope user:email or user.
//
// Usage:
//
//	g := githubtest.Start(t)
//	g.AddClient("app", "s3cret")
//	g.SetUser(githubtest.User{ID: 1, Login: "alice", Emails: []githubtest.Email{{Email: "a@x.test", Primary: true, Verified: true}}})
//	conf := oauth2.Config{ClientID: "app", ClientSecret: "s3cret", Endpoint: g.Endpoint(), Scopes: []string{"read:user", "user:email"}}
//	cb := g.SignIn(t, browser, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(v)))
//	// API calls go to g.APIURL + "/user"; SetDown, SetSlow, SetGarbage break it.
//
// The default user is octocat (ID 12345) with one primary verified email.
package githubtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authsvc/authsvc/internal/faults"
)

// User is the GitHub account that signs in. PublicEmail is what /user shows
// as "email" (null when empty, the common case: GitHub users hide it).
type User struct {
	ID          int64
	Login, Name string
	PublicEmail string
	Emails      []Email
}

// Email is one entry of /user/emails.
type Email struct {
	Email             string
	Primary, Verified bool
}

// GitHub is a running fake. URL is its base; AuthURL and TokenURL are the
// OAuth endpoints and APIURL stands for https://api.github.com (no trailing
// slash: APIURL + "/user").
type GitHub struct {
	URL, AuthURL, TokenURL, APIURL string

	faults.Faults // SetDown, SetSlow, SetGarbage (the token endpoint and the API)
	denied        atomic.Bool

	mu      sync.Mutex
	clients map[string]string // id → secret
	user    User
	codes   map[string]grant
	tokens  map[string]grant
}

// grant is what an authorization code, then its access token, stands for.
type grant struct {
	clientID, redirectURI string
	challenge, method     string
	scopes                []string
	user                  User
	expires               time.Time
}

// Start runs a fake GitHub until the test ends.
func Start(t testing.TB) *GitHub {
	t.Helper()
	g := &GitHub{
		clients: map[string]string{}, codes: map[string]grant{}, tokens: map[string]grant{},
		user: User{ID: 12345, Login: "octocat", Name: "The Octocat",
			Emails: []Email{{Email: "octocat@github.com", Primary: true, Verified: true}}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.accessToken)
	mux.HandleFunc("GET /user", g.api(g.getUser))
	mux.HandleFunc("GET /user/emails", g.api(g.getEmails))
	srv := httptest.NewServer(g.Wrap(mux, func(path string) bool { return path != "/login/oauth/authorize" }))
	t.Cleanup(srv.Close)
	g.URL, g.APIURL = srv.URL, srv.URL
	g.AuthURL, g.TokenURL = srv.URL+"/login/oauth/authorize", srv.URL+"/login/oauth/access_token"
	return g
}

// Endpoint is the oauth2 endpoint, as golang.org/x/oauth2/github's but here.
func (g *GitHub) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: g.AuthURL, TokenURL: g.TokenURL}
}

// AddClient registers an OAuth App. GitHub also checks redirect_uri against
// the app's callback URL; this fake takes any, but the token request must
// repeat the one given at authorize.
func (g *GitHub) AddClient(id, secret string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clients[id] = secret
}

// SetUser chooses who signs in from now on. Codes and tokens already issued
// keep the user they were issued for.
func (g *GitHub) SetUser(u User) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.user = u
}

// SetDenied makes the user press "Cancel": authorize redirects with
// error=access_denied.
func (g *GitHub) SetDenied(denied bool) { g.denied.Store(denied) }

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g.mu.Lock()
	_, known := g.clients[q.Get("client_id")]
	user := g.user
	g.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if !known || err != nil || !redirect.IsAbs() {
		// GitHub shows an HTML page rather than redirecting to an unvetted URI.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Page not found</title><p>Unknown client_id or bad redirect_uri."))
		return
	}
	answer := redirect.Query()
	if s := q.Get("state"); s != "" {
		answer.Set("state", s)
	}
	if g.denied.Load() {
		answer.Set("error", "access_denied")
		answer.Set("error_description", "The user has denied your application access.")
		answer.Set("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied")
	} else {
		code := rand.Text()
		g.mu.Lock()
		g.codes[code] = grant{
			clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
			scopes: strings.Fields(q.Get("scope")), user: user, expires: time.Now().Add(10 * time.Minute),
		}
		g.mu.Unlock()
		answer.Set("code", code)
	}
	redirect.RawQuery = answer.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (g *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	fail := func(code, desc, uri string) {
		tokenResponse(w, r, url.Values{"error": {code}, "error_description": {desc},
			"error_uri": {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#" + uri}})
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	want, ok := g.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", "incorrect-client-credentials")
		return
	}
	code := r.PostForm.Get("code")
	gr, ok := g.codes[code]
	if !ok || gr.clientID != id || time.Now().After(gr.expires) || !pkceOK(gr, r.PostForm.Get("code_verifier")) {
		fail("bad_verification_code", "The code passed is incorrect or expired.", "bad-verification-code")
		return
	}
	if ru := r.PostForm.Get("redirect_uri"); ru != "" && ru != gr.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.", "redirect-uri-mismatch")
		return
	}
	delete(g.codes, code) // single use
	token := "gho_" + rand.Text()
	gr.expires = time.Now().Add(8 * time.Hour)
	g.tokens[token] = gr
	// GitHub lists granted scopes comma-separated here, unlike the request.
	tokenResponse(w, r, url.Values{"access_token": {token}, "scope": {strings.Join(gr.scopes, ",")}, "token_type": {"bearer"}})
}

// pkceOK checks the verifier against the challenge sent at authorize (RFC
// 7636). Without a challenge, a verifier is ignored, as GitHub does.
func pkceOK(gr grant, verifier string) bool {
	if gr.challenge == "" {
		return true
	}
	if gr.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		verifier = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return verifier != "" && subtle.ConstantTimeCompare([]byte(verifier), []byte(gr.challenge)) == 1
}

// tokenResponse answers as GitHub does: 200 whatever happened, JSON only when
// asked for, form-encoded otherwise.
func tokenResponse(w http.ResponseWriter, r *http.Request, v url.Values) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		m := map[string]string{}
		for k := range v {
			m[k] = v.Get(k)
		}
		writeJSON(w, http.StatusOK, m)
		return
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	_, _ = w.Write([]byte(v.Encode()))
}

// api authenticates an API request by its "Bearer" or "token" Authorization.
func (g *GitHub) api(h func(http.ResponseWriter, grant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if token == "" || !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
			writeJSON(w, http.StatusUnauthorized, apiError("Requires authentication"))
			return
		}
		g.mu.Lock()
		gr, ok := g.tokens[token]
		g.mu.Unlock()
		if !ok || time.Now().After(gr.expires) {
			writeJSON(w, http.StatusUnauthorized, apiError("Bad credentials"))
			return
		}
		w.Header().Set("X-OAuth-Scopes", strings.Join(gr.scopes, ", "))
		h(w, gr)
	}
}

func (g *GitHub) getUser(w http.ResponseWriter, gr grant) {
	u := gr.user
	var email, name any // null when empty, as GitHub sends them
	if u.PublicEmail != "" {
		email = u.PublicEmail
	}
	if u.Name != "" {
		name = u.Name
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "login": u.Login, "name": name, "email": email, "type": "User",
		"node_id":    base64.StdEncoding.EncodeToString([]byte("04:User" + u.Login)),
		"avatar_url": "https://avatars.githubusercontent.com/u/" + u.Login,
		"html_url":   "https://github.com/" + u.Login,
	})
}

func (g *GitHub) getEmails(w http.ResponseWriter, gr grant) {
	if !slices.Contains(gr.scopes, "user:email") && !slices.Contains(gr.scopes, "user") {
		writeJSON(w, http.StatusNotFound, apiError("Not Found"))
		return
	}
	out := []map[string]any{}
	for _, e := range gr.user.Emails {
		var visibility any // null for all but the primary address
		if e.Primary {
			visibility = "private"
		}
		out = append(out, map[string]any{"email": e.Email, "primary": e.Primary, "verified": e.Verified, "visibility": visibility})
	}
	writeJSON(w, http.StatusOK, out)
}

func apiError(msg string) map[string]string {
	return map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SignIn plays the browser: it GETs authorizeURL (which may be the app's own
// route redirecting to GitHub) and follows redirects, returning without
// fetching it the first redirect target off GitHub's host once GitHub has
// been reached: the app's callback with code and state (or error). client's
// Jar, Transport and Timeout are used (nil: a plain client).
func (g *GitHub) SignIn(t testing.TB, client *http.Client, authorizeURL string) *url.URL {
	t.Helper()
	var c http.Client
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	host := strings.TrimPrefix(g.URL, "http://")
	reached := false
	next, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		reached = reached || next.Host == host
		resp, err := c.Get(next.String())
		if err != nil {
			t.Fatalf("githubtest: GET %s: %v", next, err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			t.Fatalf("githubtest: GET %s: %s, want a redirect", next, resp.Status)
		}
		if next, err = next.Parse(loc); err != nil {
			t.Fatalf("githubtest: bad Location %q: %v", loc, err)
		}
		if reached && next.Host != host {
			return next
		}
	}
	t.Fatalf("githubtest: too many redirects from %s", authorizeURL)
	return nil
}
