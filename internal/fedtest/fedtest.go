// Package fedtest runs the external identity providers of the sign-in tests
// (a real OpenID Connect provider named "corp", and a fake GitHub named
// "github"), configures authsvc for them, and walks a browser's part of a
// sign-in through authsvc's router.
package fedtest

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/githubtest"
	"github.com/authsvc/authsvc/internal/oidctest"
	"github.com/authsvc/authsvc/secret"
)

// The test configuration: what authsvc is registered as at both providers,
// and the one app it may send back to.
const (
	ClientID     = "authsvc"
	ClientSecret = "authsvc-client-secret"
	NativeID     = "ios-app" // an audience native apps' ID tokens may carry
	AppRedirect  = "https://app.example.com/auth/callback"
	PublicURL    = "http://authsvc.test" // apitest's PUBLIC_URL
)

// Providers are the running providers.
type Providers struct {
	OP     *oidctest.Provider
	GitHub *githubtest.GitHub
}

// Start runs both providers until the test ends, with authsvc registered at each.
func Start(t testing.TB) *Providers {
	t.Helper()
	return StartFor(t, PublicURL)
}

// StartFor is Start for an authsvc whose PUBLIC_URL is publicURL.
func StartFor(t testing.TB, publicURL string) *Providers {
	t.Helper()
	p := &Providers{OP: oidctest.Start(t), GitHub: githubtest.Start(t)}
	p.OP.AddClient(ClientID, ClientSecret, publicURL+"/v1/auth/providers/corp/callback")
	p.GitHub.AddClient(ClientID, ClientSecret)
	return p
}

// Vars configure authsvc for both providers; extra vars win.
func (p *Providers) Vars(extra apitest.Vars) apitest.Vars {
	v := apitest.Vars{
		"AUTH_PROVIDERS":          "corp,github",
		"PROVIDER_CORP_ISSUER":    p.OP.Issuer,
		"PROVIDER_CORP_CLIENT_ID": ClientID, "PROVIDER_CORP_CLIENT_SECRET": ClientSecret,
		"PROVIDER_CORP_AUDIENCES":   NativeID,
		"PROVIDER_GITHUB_TYPE":      "github",
		"PROVIDER_GITHUB_CLIENT_ID": ClientID, "PROVIDER_GITHUB_CLIENT_SECRET": ClientSecret,
		"PROVIDER_GITHUB_AUTH_URL": p.GitHub.AuthURL, "PROVIDER_GITHUB_TOKEN_URL": p.GitHub.TokenURL,
		"PROVIDER_GITHUB_API_URL": p.GitHub.APIURL,
		"REDIRECT_URLS":           AppRedirect,
		"PROVIDER_TIMEOUT":        "2s",
	}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

// PKCE is a fresh code verifier and its S256 challenge, as an app makes them.
func PKCE() (verifier, challenge string) {
	verifier = secret.Token()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// AuthorizePath is authsvc's authorize URL for provider name, for the test app.
func AuthorizePath(name, challenge string) string {
	return "/v1/auth/providers/" + name + "/authorize?" + url.Values{
		"redirect_uri": {AppRedirect}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
}

// Browser is a cookie-keeping client for the providers' pages.
func Browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// ToProvider follows authorize (through e) and returns the provider URL it sends the browser to.
func ToProvider(t testing.TB, e *apitest.Env, name, challenge string) string {
	t.Helper()
	r := e.Request(http.MethodGet, AuthorizePath(name, challenge), nil).Expect(http.StatusFound)
	return r.Header.Get("Location")
}

// Callback delivers the provider's redirect (a URL under PUBLIC_URL) to e
// and returns the query of where authsvc sends the browser next: the app's
// redirect URI with code, linked or error.
func Callback(t testing.TB, e *apitest.Env, cb *url.URL) url.Values {
	t.Helper()
	r := e.Request(http.MethodGet, cb.RequestURI(), nil).Expect(http.StatusFound)
	to, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := to.Scheme + "://" + to.Host + to.Path; got != AppRedirect {
		t.Fatalf("callback sent the browser to %s, want the app's %s", to, AppRedirect)
	}
	return to.Query()
}

// SignInOIDC runs the browser's part of a sign-in at "corp" as username:
// authorize, the provider's real login form, the callback. It returns the
// query the app receives.
func (p *Providers) SignInOIDC(t testing.TB, e *apitest.Env, username, password, challenge string) url.Values {
	t.Helper()
	return Callback(t, e, p.OP.SignIn(t, Browser(t), ToProvider(t, e, "corp", challenge), username, password))
}

// SignInGitHub runs it at "github" as the user GitHub.SetUser chose.
func (p *Providers) SignInGitHub(t testing.TB, e *apitest.Env, challenge string) url.Values {
	t.Helper()
	return Callback(t, e, p.GitHub.SignIn(t, Browser(t), ToProvider(t, e, "github", challenge)))
}

// Exchange spends a callback's code with the verifier.
func Exchange(e *apitest.Env, code, verifier string) *apitest.Response {
	return e.Request(http.MethodPost, "/v1/auth/providers/exchange", map[string]string{"code": code, "code_verifier": verifier})
}
