package oidctest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authsvc/authsvc/internal/oidctest"
)

const callback = "http://app.test/callback" // never fetched: SignIn stops there

func start(t *testing.T) *oidctest.Provider {
	p := oidctest.Start(t)
	p.AddClient("confidential", "s3cret", callback)
	p.AddClient("public", "", callback)
	p.AddUser(oidctest.User{
		Username: "alice", Password: "correct horse", Email: "alice@example.test", EmailVerified: true,
		GivenName: "Alice", FamilyName: "Liddell",
	})
	p.AddUser(oidctest.User{Username: "bob", Password: "pw", Subject: "bob-1", Email: "bob@example.test"})
	return p
}

type claims struct {
	Nonce             string `json:"nonce"`
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"` // pointer: absent must not pass as false
	PreferredUsername string `json:"preferred_username"`
	Name              string `json:"name"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
}

// codeFlow signs in as a relying party would: discovery, PKCE S256 + nonce,
// the real login form, exchange, ID token verification.
func codeFlow(t *testing.T, p *oidctest.Provider, clientID, secret string, style oauth2.AuthStyle, user, password string) (*oidc.IDToken, claims, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = style
	conf := oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: endpoint, RedirectURL: callback,
		Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	verifier, nonce, state := oauth2.GenerateVerifier(), "nonce-"+t.Name(), "state-"+t.Name()

	jar, _ := cookiejar.New(nil)
	cb := p.SignIn(t, &http.Client{Jar: jar}, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), user, password)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != callback {
		t.Fatalf("SignIn stopped at %s, want %s", cb, callback)
	}
	if cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
		t.Fatalf("callback %s: want code and state %q", cb, state)
	}

	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Nonce != nonce {
		t.Errorf("nonce %q, want %q", c.Nonce, nonce)
	}
	return idt, c, tok
}

func TestCodeFlow(t *testing.T) {
	p := start(t)
	for _, tc := range []struct {
		name, client, secret string
		style                oauth2.AuthStyle
	}{
		{"client_secret_basic", "confidential", "s3cret", oauth2.AuthStyleInHeader},
		{"client_secret_post", "confidential", "s3cret", oauth2.AuthStyleInParams},
		{"public_pkce", "public", "", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idt, c, tok := codeFlow(t, p, tc.client, tc.secret, tc.style, "alice", "correct horse")
			if idt.Subject != "sub-alice" || c.Email != "alice@example.test" || c.EmailVerified == nil || !*c.EmailVerified ||
				c.PreferredUsername != "alice" || c.Name != "Alice Liddell" || c.GivenName != "Alice" || c.FamilyName != "Liddell" {
				t.Errorf("claims: sub %q %+v", idt.Subject, c)
			}
			// The access token works at the userinfo endpoint.
			provider, _ := oidc.NewProvider(context.Background(), p.Issuer)
			ui, err := provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			if err != nil || ui.Email != "alice@example.test" || !ui.EmailVerified {
				t.Errorf("userinfo %+v, %v", ui, err)
			}
		})
	}
	t.Run("email_verified_false_is_explicit", func(t *testing.T) {
		idt, c, _ := codeFlow(t, p, "public", "", oauth2.AuthStyleInParams, "bob", "pw")
		if idt.Subject != "bob-1" || c.EmailVerified == nil || *c.EmailVerified {
			t.Errorf("sub %q email_verified %v, want bob-1 and an explicit false", idt.Subject, c.EmailVerified)
		}
	})
}

func TestTokenEndpointRejects(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(conf oauth2.Config, opts ...oauth2.AuthCodeOption) string {
		return p.SignIn(t, nil, conf.AuthCodeURL("st", opts...), "alice", "correct horse").Query().Get("code")
	}
	conf := oauth2.Config{ClientID: "confidential", ClientSecret: "s3cret", Endpoint: provider.Endpoint(), RedirectURL: callback, Scopes: []string{"openid"}}
	v := oauth2.GenerateVerifier()

	wrong := conf
	wrong.ClientSecret = "nope"
	if _, err := wrong.Exchange(ctx, signIn(conf, oauth2.S256ChallengeOption(v)), oauth2.VerifierOption(v)); err == nil {
		t.Error("wrong client secret accepted")
	}
	if _, err := conf.Exchange(ctx, signIn(conf, oauth2.S256ChallengeOption(v)), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("wrong PKCE verifier accepted")
	}
	code := signIn(conf)
	if _, err := conf.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Exchange(ctx, code); err == nil {
		t.Error("code redeemed twice")
	}
	public := oauth2.Config{ClientID: "public", Endpoint: provider.Endpoint(), RedirectURL: callback, Scopes: []string{"openid"}}
	if _, err := public.Exchange(ctx, signIn(public)); err == nil {
		t.Error("public client without PKCE accepted")
	}
}

// SignIn starts at the relying party's own route, which redirects to the
// provider, and reports a refused password by failing the test.
func TestSignInThroughApp(t *testing.T) {
	p := start(t)
	provider, err := oidc.NewProvider(context.Background(), p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "public", Endpoint: provider.Endpoint(), RedirectURL: callback, Scopes: []string{"openid"}}
	v := oauth2.GenerateVerifier()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "flow", Value: "1", Path: "/"})
		http.Redirect(w, r, conf.AuthCodeURL("xyz", oauth2.S256ChallengeOption(v)), http.StatusFound)
	}))
	defer app.Close()
	appURL, _ := url.Parse(app.URL)

	jar, _ := cookiejar.New(nil)
	cb := p.SignIn(t, &http.Client{Jar: jar}, app.URL+"/login/oidc", "alice", "correct horse")
	if cb.Query().Get("state") != "xyz" || !strings.HasPrefix(cb.String(), callback) {
		t.Errorf("callback %s", cb)
	}
	if cookies := jar.Cookies(appURL); len(cookies) != 1 {
		t.Errorf("the client's jar was not used: %v", cookies)
	}

	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		p.SignIn(ft, nil, app.URL, "alice", "wrong")
	}()
	if !ft.failed || !strings.Contains(ft.msg, "wrong username or password") {
		t.Errorf("wrong password: failed=%v %q", ft.failed, ft.msg)
	}
}

func TestForgedTokens(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "public"})
	now := time.Now().Unix()
	good := map[string]any{"iss": p.Issuer, "sub": "x", "aud": "public", "iat": now, "exp": now + 60, "email_verified": true}
	if _, err := verifier.Verify(ctx, p.IDToken(t, good)); err != nil {
		t.Errorf("provider-signed token rejected: %v", err)
	}
	if _, err := verifier.Verify(ctx, oidctest.ForeignIDToken(t, good)); err == nil {
		t.Error("foreign-signed token accepted")
	}
	for k, v := range map[string]any{"aud": "other", "iss": "http://evil.test", "exp": now - 120} {
		forged := map[string]any{}
		for k, v := range good {
			forged[k] = v
		}
		forged[k] = v
		if _, err := verifier.Verify(ctx, p.IDToken(t, forged)); err == nil {
			t.Errorf("token with %s=%v accepted", k, v)
		}
	}
}

func TestFailureModes(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	p.SetDown(true)
	if _, err := oidc.NewProvider(ctx, p.Issuer); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("down: %v", err)
	}
	p.SetDown(false)
	p.SetGarbage(true)
	if _, err := oidc.NewProvider(ctx, p.Issuer); err == nil {
		t.Error("garbage discovery accepted")
	}
	p.SetGarbage(false)
	p.SetSlow(time.Minute)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := oidc.NewProvider(short, p.Issuer); err == nil {
		t.Error("slow provider answered within the timeout")
	}
	p.SetSlow(0)
	if _, err := oidc.NewProvider(ctx, p.Issuer); err != nil {
		t.Errorf("recovered: %v", err)
	}
}

// fakeT records a Fatalf instead of ending the test, then stops the caller
// the way Fatal does (runtime.Goexit would end this goroutine, so panic).
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(f)
}
func (f *fakeT) Fatal(args ...any) { f.failed = true; panic(f) }
