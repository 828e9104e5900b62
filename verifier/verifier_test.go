package verifier_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/authsvc/authsvc/verifier"
)

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

func TestVerifyReadsTheClaims(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	tok := a.token("sid-1", func(c map[string]any) {
		c["roles"] = []string{"user", "admin"}
		c["permissions"] = []string{"users:read"}
		c["resources"] = []string{"org:7"}
		c["amr"] = []string{"pwd", "otp", "mfa"}
		c["aud"] = []string{"billing", audience}
	})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	now := a.clock.Now()
	if c.Subject != "user-ann" || c.SessionID != "sid-1" || c.Username != "ann" || c.Email != "ann@example.com" ||
		c.Issuer != issuer || !slices.Equal(c.Audience, []string{"billing", audience}) ||
		!c.ExpiresAt.Equal(now.Add(15*time.Minute)) || !c.IssuedAt.Equal(now) ||
		!slices.Equal(c.Resources, []string{"org:7"}) || c.Raw["jti"] != "jti-sid-1" {
		t.Errorf("claims %+v", c)
	}
	if !c.HasRole("admin") || c.HasRole("root") || !c.HasPermission("users:read") || c.HasPermission("users:write") ||
		!c.HasAMR("mfa") || c.HasAMR("hwk") {
		t.Errorf("roles %v permissions %v amr %v", c.Roles, c.Permissions, c.AMR)
	}
	var none *verifier.Claims
	if none.HasRole("user") || none.HasPermission("x") || none.HasAMR("pwd") {
		t.Error("nil claims hold something")
	}

	// aud may be a single string.
	tok = a.token("sid-2", func(c map[string]any) { c["aud"] = audience })
	if c, err := v.Verify(context.Background(), tok); err != nil || !slices.Equal(c.Audience, []string{audience}) {
		t.Fatalf("aud as a string: %v %v", c, err)
	}
}

// serviceClaims are those of a service token as authsvc issues them (client
// credentials): sub and client_id the client, sid its secret's, scope and
// permissions what was granted, no roles, username or email.
func serviceClaims(client, sid string) func(map[string]any) {
	return func(c map[string]any) {
		c["sub"], c["client_id"], c["sid"] = client, client, sid
		c["scope"], c["permissions"] = "users:read users:write", []string{"users:read", "users:write"}
		c["roles"], c["amr"] = []string{}, []string{}
		delete(c, "username")
		delete(c, "email")
	}
}

// TestVerifyReadsServiceTokens: a service token verifies offline like a
// user's, with its client and scope; a user's token has neither; the feed
// refuses a service token by its sid as it does a session.
func TestVerifyReadsServiceTokens(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	ctx := context.Background()
	svc := a.token("secret-1", serviceClaims("client-billing", "secret-1"))
	c, err := v.Verify(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsService() || c.ClientID != "client-billing" || c.Subject != c.ClientID || c.SessionID != "secret-1" ||
		c.Scope != "users:read users:write" || !c.HasPermission("users:write") || c.HasPermission("roles:read") ||
		len(c.Roles) != 0 || c.HasRole("user") || c.Username != "" || c.Email != "" || len(c.AMR) != 0 {
		t.Errorf("service claims %+v", c)
	}
	if !slices.Equal(strings.Fields(c.Scope), c.Permissions) || c.Raw["client_id"] != "client-billing" {
		t.Errorf("scope %q, permissions %v, raw %v", c.Scope, c.Permissions, c.Raw)
	}

	user, err := v.Verify(ctx, a.token("sid-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if user.IsService() || user.ClientID != "" || user.Scope != "" {
		t.Errorf("a user's token reads as a service's: %+v", user)
	}
	var none *verifier.Claims
	if none.IsService() {
		t.Error("nil claims are a service's")
	}

	// Disabling the client lists its secret's sid in the feed.
	a.revoke(a.clock.Now().Add(15*time.Minute), "secret-1")
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, svc)
	expectErr(t, err, verifier.ErrRevoked)
	if _, err := v.Verify(ctx, a.token("secret-2", serviceClaims("client-billing", "secret-2"))); err != nil {
		t.Errorf("a token of the client's next secret: %v", err)
	}
}

// TestVerifyRefuses: every token that is not a genuine, current access token
// for this issuer and audience is ErrInvalidToken (or ErrExpired).
func TestVerifyRefuses(t *testing.T) {
	a := newAuthsvc(t)
	ed := newKey(t, "EdDSA")
	a.set(func(a *authsvc) { a.published = append(a.published, ed) })
	v := a.newVerifier(nil)
	es := a.signer
	stranger := newKey(t, "ES256") // never published
	good := a.token("sid-1", nil)
	claims := a.claims("sid-1")
	at := map[string]any{jws.TypeKey: verifier.AccessTokenType}
	edited := func(edit func(map[string]any)) string { return a.token("sid-1", edit) }
	hs256 := func() string {
		// Alg confusion: HMAC keyed with the published public key.
		pub, _ := es.publicJWK()
		secret, _ := json.Marshal(pub)
		input := b64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": es.kid}) + "." + b64(claims)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	dot := strings.LastIndexByte(good, '.')
	first := strings.IndexByte(good, '.')

	for _, tc := range []struct {
		name, raw string
		want      error
		reason    string // in the error
	}{
		{"another key under the published kid", stranger.sign(t, map[string]any{jws.TypeKey: "at+jwt", jws.KeyIDKey: es.kid}, claims), verifier.ErrInvalidToken, "signature"},
		{"unknown kid", stranger.sign(t, at, claims), verifier.ErrInvalidToken, "unknown kid"},
		{"no kid", es.sign(t, map[string]any{jws.TypeKey: "at+jwt", jws.KeyIDKey: ""}, claims), verifier.ErrInvalidToken, "kid"},
		{"alg none", b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": es.kid}) + "." + b64(claims) + ".", verifier.ErrInvalidToken, "none"},
		{"HS256 keyed with the public key", hs256(), verifier.ErrInvalidToken, "HS256"},
		{"EdDSA signature under the ES256 key's kid", ed.sign(t, map[string]any{jws.TypeKey: "at+jwt", jws.KeyIDKey: es.kid}, claims), verifier.ErrInvalidToken, "is not key"},
		{"typ JWT", es.sign(t, map[string]any{jws.TypeKey: "JWT"}, claims), verifier.ErrInvalidToken, "typ"},
		{"no typ", es.sign(t, nil, claims), verifier.ErrInvalidToken, "typ"},
		{"a feed page", es.sign(t, map[string]any{jws.TypeKey: verifier.FeedType}, claims), verifier.ErrInvalidToken, "typ"},
		{"claims swapped under a signature", good[:first] + "." + b64(a.claims("sid-2")) + good[dot:], verifier.ErrInvalidToken, "signature"},
		{"claims not JSON", es.sign(t, at, []byte("not json")), verifier.ErrInvalidToken, "claims"},
		{"other issuer", edited(func(c map[string]any) { c["iss"] = "https://evil.test" }), verifier.ErrInvalidToken, "iss"},
		{"other audience", edited(func(c map[string]any) { c["aud"] = []string{"billing"} }), verifier.ErrInvalidToken, "aud"},
		{"no audience", edited(func(c map[string]any) { delete(c, "aud") }), verifier.ErrInvalidToken, "aud"},
		{"aud a number", edited(func(c map[string]any) { c["aud"] = 7 }), verifier.ErrInvalidToken, "aud"},
		{"no exp", edited(func(c map[string]any) { delete(c, "exp") }), verifier.ErrInvalidToken, "exp"},
		{"no sid", edited(func(c map[string]any) { delete(c, "sid") }), verifier.ErrInvalidToken, "sid"},
		{"no sub", edited(func(c map[string]any) { delete(c, "sub") }), verifier.ErrInvalidToken, "sub"},
		{"client_id not the sub", edited(func(c map[string]any) { c["client_id"] = "client-other" }), verifier.ErrInvalidToken, "client_id"},
		{"client_id not a string", edited(func(c map[string]any) { c["client_id"] = 7 }), verifier.ErrInvalidToken, "claims"},
		{"scope not a string", edited(func(c map[string]any) { c["client_id"], c["scope"] = "user-ann", []string{"users:read"} }), verifier.ErrInvalidToken, "claims"},
		{"empty", "", verifier.ErrInvalidToken, "compact"},
		{"two parts", "a.b", verifier.ErrInvalidToken, "compact"},
		{"five parts (JWE)", "a.b.c.d.e", verifier.ErrInvalidToken, "compact"},
		{"junk", "a.b.c", verifier.ErrInvalidToken, ""},
		{"trailing junk", good + "x", verifier.ErrInvalidToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.raw)
			expectErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("refused for %v; want the reason %q", err, tc.reason)
			}
		})
	}

	// The same keys still verify a genuine token of either algorithm.
	for _, raw := range []string{good, ed.sign(t, at, claims)} {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Errorf("genuine token refused: %v", err)
		}
	}
}

// TestVerifyTyp: typ compares case-insensitively, with or without "application/".
func TestVerifyTyp(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt"} {
		raw := a.signer.sign(t, map[string]any{jws.TypeKey: typ}, a.claims("sid-1"))
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

func TestVerifyAlgorithmAllowList(t *testing.T) {
	a := newAuthsvc(t)
	es, ed := a.signer, newKey(t, "EdDSA")
	a.set(func(a *authsvc) { a.published = append(a.published, ed); a.signer = ed })
	v := a.newVerifier(func(c *verifier.Config) { c.Algorithms = []string{"EdDSA"} })
	_, err := v.Verify(context.Background(), es.sign(t, map[string]any{jws.TypeKey: "at+jwt"}, a.claims("sid-1")))
	expectErr(t, err, verifier.ErrInvalidToken)
	if !strings.Contains(err.Error(), `"ES256" not allowed`) {
		t.Errorf("refused for %v; want the allow-list", err)
	}
	if _, err := v.Verify(context.Background(), a.token("sid-1", nil)); err != nil {
		t.Errorf("EdDSA, allowed: %v", err)
	}
}

// TestVerifyTimes: exp and nbf hold with Leeway of clock skew, no more.
func TestVerifyTimes(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" }) // no staleness bound
	ctx := context.Background()
	tok := a.token("sid-1", nil)
	early := a.token("sid-2", func(c map[string]any) { c["nbf"] = a.clock.Now().Add(5 * time.Second).Unix() })
	tooEarly := a.token("sid-3", func(c map[string]any) { c["nbf"] = a.clock.Now().Add(6 * time.Second).Unix() })
	if _, err := v.Verify(ctx, early); err != nil {
		t.Errorf("nbf within the leeway: %v", err)
	}
	_, err := v.Verify(ctx, tooEarly)
	expectErr(t, err, verifier.ErrInvalidToken)

	a.clock.Advance(15*time.Minute + 4*time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("4s past exp, within the leeway: %v", err)
	}
	a.clock.Advance(time.Second)
	_, err = v.Verify(ctx, tok)
	expectErr(t, err, verifier.ErrExpired)

	strict := a.newVerifier(func(c *verifier.Config) { c.FeedURL = ""; c.Leeway = time.Millisecond })
	_, err = strict.Verify(ctx, a.token("sid-4", func(c map[string]any) { c["exp"] = a.clock.Now().Add(-time.Second).Unix() }))
	expectErr(t, err, verifier.ErrExpired)
}

func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []verifier.Config{
		{Audience: "a", JWKSURL: "http://x"},
		{Issuer: "i", JWKSURL: "http://x"},
		{Issuer: "i", Audience: "a"},
		{Issuer: "i", Audience: "a", JWKSURL: "http://x", Algorithms: []string{"HS256"}},
		{Issuer: "i", Audience: "a", JWKSURL: "http://x", Algorithms: []string{"none"}},
		{Issuer: "i", Audience: "a", JWKSURL: "http://x", Algorithms: []string{"ES257"}},
	} {
		if _, err := verifier.New(ctx, cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
