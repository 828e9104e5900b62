package verifier_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/authsvc/authsvc/verifier"
)

// TestJWKSCachedForMaxAge: the key set is fetched again only once its
// Cache-Control max-age has passed; without a usable one, after 5 minutes.
func TestJWKSCachedForMaxAge(t *testing.T) {
	for _, tc := range []struct {
		cacheControl string
		maxAge       time.Duration
	}{
		{"public, max-age=300", 300 * time.Second},
		{"max-age=60, must-revalidate", time.Minute},
		{`max-age="30"`, 30 * time.Second},
		{"no-cache", 5 * time.Minute},
		{"", 5 * time.Minute},
		{"max-age=soon", 5 * time.Minute},
	} {
		t.Run(tc.cacheControl, func(t *testing.T) {
			a := newAuthsvc(t)
			a.set(func(a *authsvc) { a.cacheControl = tc.cacheControl })
			v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
			ctx := context.Background()
			verify := func() {
				t.Helper()
				// A token fresh at the current time: only the cache is tested.
				if _, err := v.Verify(ctx, a.token("sid-1", nil)); err != nil {
					t.Fatal(err)
				}
			}
			verify()
			if n := a.fetches(); n != 1 {
				t.Fatalf("%d fetches after New and a Verify; want 1", n)
			}
			a.clock.Advance(tc.maxAge - time.Second)
			verify()
			if n := a.fetches(); n != 1 {
				t.Fatalf("%d fetches within max-age; want 1", n)
			}
			a.clock.Advance(2 * time.Second)
			verify()
			if n := a.fetches(); n != 2 {
				t.Fatalf("%d fetches after max-age; want 2", n)
			}
		})
	}
}

// TestKeyRotationRefetchesOnUnknownKID: a token of a key published after the
// last fetch is refused until MinRefetch has passed since then, and accepted
// after one more fetch; the retiring key, still published, goes on verifying.
func TestKeyRotationRefetchesOnUnknownKID(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
	ctx := context.Background()
	old := a.token("sid-old", nil)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	next := newKey(t, "ES256")
	a.set(func(a *authsvc) { a.published = append(a.published, next); a.signer = next })
	fresh := a.token("sid-new", nil)

	// Within MinRefetch (5s) of the fetch in New: refused, and not fetched.
	for range 3 {
		_, err := v.Verify(ctx, fresh)
		expectErr(t, err, verifier.ErrInvalidToken)
	}
	if n := a.fetches(); n != 1 {
		t.Fatalf("%d fetches within MinRefetch; want 1", n)
	}
	a.clock.Advance(5 * time.Second)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token of the new key after MinRefetch: %v", err)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token of the retiring key: %v", err)
	}
	if n := a.fetches(); n != 2 {
		t.Fatalf("%d fetches; want 2", n)
	}

	// A kid nobody publishes costs one fetch per MinRefetch, however many tokens carry it.
	stranger := newKey(t, "ES256")
	forged := stranger.sign(t, map[string]any{"typ": "at+jwt"}, a.claims("sid-x"))
	a.clock.Advance(5 * time.Second)
	for range 5 {
		_, err := v.Verify(ctx, forged)
		expectErr(t, err, verifier.ErrInvalidToken)
	}
	if n := a.fetches(); n != 3 {
		t.Fatalf("%d fetches for an unknown kid; want one more (3)", n)
	}
}

// TestKeyRotationWithFeed: the feed, once signed by a key the verifier has
// not seen, is read after one fetch of the JWKS.
func TestKeyRotationWithFeed(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	next := newKey(t, "ES256")
	a.set(func(a *authsvc) { a.published = append(a.published, next); a.signer = next })
	a.revoke(a.clock.Now().Add(time.Hour), "sid-gone")
	a.clock.Advance(5 * time.Second)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatalf("feed signed by the new key: %v", err)
	}
	_, err := v.Verify(context.Background(), a.token("sid-gone", nil))
	expectErr(t, err, verifier.ErrRevoked)
}

func TestJWKSDownRefetchIsRateLimited(t *testing.T) {
	a := newAuthsvc(t)
	a.set(func(a *authsvc) { a.jwksStatus = http.StatusBadGateway })
	v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
	tok := a.token("sid-1", nil)
	for range 5 {
		_, err := v.Verify(context.Background(), tok)
		expectErr(t, err, verifier.ErrInvalidToken)
	}
	if n := a.fetches(); n != 1 {
		t.Errorf("%d JWKS fetches; want 1 within MinRefetch", n)
	}
	// Back up: the next fetch, MinRefetch later, brings the keys.
	a.set(func(a *authsvc) { a.jwksStatus = 0 })
	a.clock.Advance(5 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the JWKS is back: %v", err)
	}
}

// TestJWKSFailureKeepsKeys: a failed fetch after max-age keeps the keys it had.
func TestJWKSFailureKeepsKeys(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
	a.set(func(a *authsvc) { a.jwksStatus = http.StatusInternalServerError })
	a.clock.Advance(301 * time.Second)
	if _, err := v.Verify(context.Background(), a.token("sid-1", nil)); err != nil {
		t.Fatalf("with the JWKS down after max-age: %v", err)
	}
	if n := a.fetches(); n != 2 {
		t.Fatalf("%d fetches; want a second one after max-age", n)
	}
}

// TestJWKSRefused: a key set with a private key in it, or no keys, or not a
// key set at all, is not used.
func TestJWKSRefused(t *testing.T) {
	a := newAuthsvc(t)
	private, err := jwk.Import(a.signer.priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = private.Set(jwk.KeyIDKey, a.signer.kid)
	_ = private.Set(jwk.AlgorithmKey, a.signer.alg)
	withPrivate, _ := json.Marshal(map[string]any{"keys": []any{private}})

	for name, tc := range map[string]struct{ body, reason string }{
		"private key": {string(withPrivate), "private"},
		"no keys":     {`{"keys":[]}`, "no keys"},
		"not JSON":    {`<html>`, "JWKS"},
		"not a set":   {`{"kty":7}`, "JWKS"},
	} {
		t.Run(name, func(t *testing.T) {
			a.set(func(a *authsvc) { a.jwksBody = tc.body })
			v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
			_, err := v.Verify(context.Background(), a.token("sid-1", nil))
			expectErr(t, err, verifier.ErrInvalidToken)
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("refused for %v; want %q", err, tc.reason)
			}
		})
	}
}
