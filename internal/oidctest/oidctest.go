// Package oidctest runs a real OpenID Connect provider (zitadel/oidc's op
// package over an in-memory storage) on httptest, for tests of relying
// parties. It serves discovery, JWKS, an authorization endpoint with an HTML
// username/password login form, a token endpoint (authorization_code, PKCE
// plain and S256, client_secret_basic, client_secret_post, or none for public
// clients), userinfo, introspection and revocation. ID tokens are ES256 and
// carry nonce, plus email and email_verified (scope email) and name,
// given_name, family_name, preferred_username (scope profile).
//
//	p := oidctest.Start(t)                        // plain http; issuer p.Issuer
//	p.AddClient("app", "s3cret", appURL+"/callback") // "" secret: public client
//	p.AddUser(oidctest.User{Username: "alice", Password: "pw", Email: "a@x.test", EmailVerified: true})
//	cb := p.SignIn(t, browser, appURL+"/login/oidc", "alice", "pw") // → callback URL with code, state
//	tok := p.IDToken(t, map[string]any{"iss": p.Issuer, "aud": "other"}) // forged but validly signed
//	bad := oidctest.ForeignIDToken(t, claims)     // signed by a key in no JWKS
//	p.SetDown(true); p.SetSlow(time.Second); p.SetGarbage(true) // failure modes
//
// Each Provider is independent (own key, clients, users); nothing is global.
// There is no session: every authorization request shows the login form.
// prompt=none answers login_required. Refresh tokens are not supported.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/authsvc/authsvc/internal/faults"
)

// User is an account on the provider. Subject defaults to "sub-"+Username and
// PreferredUsername to Username; name is "GivenName FamilyName".
type User struct {
	Username, Password string
	Subject            string
	Email              string
	EmailVerified      bool
	GivenName          string
	FamilyName         string
	PreferredUsername  string
}

func (u User) name() string { return strings.TrimSpace(u.GivenName + " " + u.FamilyName) }

// Provider is a running OpenID provider. Issuer is its issuer URL (also its
// base URL, http://127.0.0.1:port, no trailing slash).
type Provider struct {
	Issuer string

	store         *store
	op            *op.Provider
	faults.Faults // SetDown, SetSlow, SetGarbage (discovery, JWKS, token, userinfo, introspection)
}

const loginPath = "/login"

// Start runs a provider until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{store: &store{
		key: key, kid: rand.Text(),
		clients: map[string]*client{}, users: map[string]User{},
		requests: map[string]*authRequest{}, codes: map[string]string{},
		tokens: map[string]accessToken{},
	}}
	// Unstarted, so the URL (and so the issuer) is known before the handler
	// exists, and no request can race with building it.
	srv := httptest.NewUnstartedServer(p.Wrap(http.HandlerFunc(p.serveHTTP), p.isAPI))
	p.Issuer = "http://" + srv.Listener.Addr().String()

	config := &op.Config{
		CodeMethodS256: true, // advertise and accept S256
		AuthMethodPost: true, // advertise client_secret_post beside client_secret_basic
	}
	if _, err := rand.Read(config.CryptoKey[:]); err != nil { // encrypts opaque access tokens and codes
		t.Fatal(err)
	}
	// zitadel refuses a plain-http issuer unless told it is a dev setup.
	p.op, err = op.NewProvider(config, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// AddClient registers a relying party. With secret "" it is a public client
// (token_endpoint_auth_method none, PKCE required); otherwise confidential,
// authenticating with client_secret_basic or client_secret_post.
func (p *Provider) AddClient(id, secret string, redirectURIs ...string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.clients[id] = &client{id: id, secret: secret, redirectURIs: redirectURIs}
}

// AddUser adds (or, by Username, replaces) an account.
func (p *Provider) AddUser(u User) {
	if u.Subject == "" {
		u.Subject = "sub-" + u.Username
	}
	if u.PreferredUsername == "" {
		u.PreferredUsername = u.Username
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[u.Username] = u
}

// IDToken returns a JWT with exactly these claims, signed by the provider's
// own key (the kid in its JWKS): it verifies, so a relying party must reject
// it on the claims alone (wrong aud, iss, exp, nonce...).
func (p *Provider) IDToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	return sign(t, p.store.key, p.store.kid, claims)
}

// ForeignIDToken returns a JWT with these claims signed by a fresh key that no
// JWKS holds, under a kid header of its own.
func ForeignIDToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, key, "foreign-"+rand.Text(), claims)
}

func sign(t testing.TB, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := op.SignerFromKey(signingKey{key, kid}) // the same header zitadel writes: alg, kid, typ JWT
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *Provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == loginPath {
		// The interceptor puts the issuer in the context, which
		// op.AuthCallbackURL needs to build the callback's absolute URL.
		op.NewIssuerInterceptor(p.op.IssuerFromRequest).HandlerFunc(p.login)(w, r)
		return
	}
	p.op.ServeHTTP(w, r)
}

func (p *Provider) isAPI(path string) bool {
	switch path {
	case oidc.DiscoveryEndpoint, p.op.KeysEndpoint().Relative(), p.op.TokenEndpoint().Relative(),
		p.op.UserinfoEndpoint().Relative(), p.op.IntrospectionEndpoint().Relative():
		return true
	}
	return false
}
