package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/authsvc/authsvc/internal/apitest"
)

// jwksGateway is what an API gateway knows: the discovery document and the JWKS
// fetched from it, and nothing of authsvc's code.
type jwksGateway struct {
	issuer string
	set    jwk.Set
}

// discoverJWKS reads the discovery document and the JWKS through the router.
func discoverJWKS(t *testing.T, e *apitest.Env) jwksGateway {
	t.Helper()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	e.Request("GET", "/.well-known/openid-configuration", nil).Expect(http.StatusOK).Decode(&doc)
	path, ok := strings.CutPrefix(doc.JWKSURI, "http://authsvc.test")
	if !ok || doc.Issuer != "http://authsvc.test" {
		t.Fatalf("discovery document %+v does not point at PUBLIC_URL", doc)
	}
	r := e.Request("GET", path, nil).Expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("JWKS Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control %q has no max-age", cc)
	}
	set, err := jwk.Parse(r.Body)
	if err != nil {
		t.Fatalf("jwk.Parse: %v\n%s", err, r.Body)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if _, err := k.PublicKey(); err != nil {
			t.Fatalf("JWKS key %d: %v", i, err)
		}
		if _, isPrivate := k.(interface{ D() ([]byte, bool) }); isPrivate {
			t.Fatalf("JWKS publishes a private key: %s", r.Body)
		}
	}
	return jwksGateway{issuer: doc.Issuer, set: set}
}

// verify checks a token as a gateway does: signature by kid from the JWKS,
// then iss, aud, exp and nbf against the given clock.
func (g jwksGateway) verify(tok string, now func() time.Time, audience string) (jwt.Token, error) {
	return jwt.Parse([]byte(tok),
		jwt.WithKeySet(g.set),
		jwt.WithValidate(true),
		jwt.WithIssuer(g.issuer),
		jwt.WithAudience(audience),
		jwt.WithClock(jwt.ClockFunc(now)),
	)
}

// header returns a compact JWS's kid and alg.
func jwsHeader(t *testing.T, tok string) (kid, alg string) {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	kid, _ = h.KeyID()
	a, _ := h.Algorithm()
	return kid, a.String()
}

func TestGatewayVerifiesAccessTokensWithJWKS(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run("alg="+alg, func(t *testing.T) {
			apitest.Each(t, apitest.Vars{"JWT_ALG": alg}, func(t *testing.T, e *apitest.Env) {
				tk := e.SignupLogin("gwen")
				g := discoverJWKS(t, e)

				kid, hdrAlg := jwsHeader(t, tk.AccessToken)
				if hdrAlg != alg {
					t.Fatalf("token alg %s, want %s", hdrAlg, alg)
				}
				key, ok := g.set.LookupKeyID(kid)
				if !ok {
					t.Fatalf("kid %s is not in the JWKS", kid)
				}
				if ka, ok := key.Algorithm(); !ok || ka.String() != alg {
					t.Fatalf("JWKS key %s has alg %v, want %s", kid, ka, alg)
				}

				parsed, err := g.verify(tk.AccessToken, e.Clock.Now, "authsvc")
				if err != nil {
					t.Fatalf("gateway rejects a fresh token: %v", err)
				}
				if sub, _ := parsed.Subject(); sub != tk.User["id"] {
					t.Errorf("sub = %q, want %v", sub, tk.User["id"])
				}
				var sid string
				if err := parsed.Get("sid", &sid); err != nil || sid != tk.SessionID {
					t.Errorf("sid = %q (%v), want %s", sid, err, tk.SessionID)
				}

				if _, err := g.verify(tk.AccessToken, e.Clock.Now, "another-service"); err == nil {
					t.Error("gateway accepts a token for another audience")
				}
				wrongIssuer := jwksGateway{issuer: "http://evil.test", set: g.set}
				if _, err := wrongIssuer.verify(tk.AccessToken, e.Clock.Now, "authsvc"); err == nil {
					t.Error("gateway accepts a token from another issuer")
				}
				tampered := tk.AccessToken[:strings.LastIndexByte(tk.AccessToken, '.')+1] + jwsSignature(e.Login("gwen", apitest.StrongPassword).AccessToken)
				if _, err := g.verify(tampered, e.Clock.Now, "authsvc"); err == nil {
					t.Error("gateway accepts a token with another token's signature")
				}
				e.Clock.Advance(15*time.Minute + 2*time.Minute)
				if _, err := g.verify(tk.AccessToken, e.Clock.Now, "authsvc"); err == nil {
					t.Error("gateway accepts an expired token")
				}
			})
		})
	}
}

func TestGatewayAcrossKeyRotation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		old := e.SignupLogin("rosa")
		oldKID, _ := jwsHeader(t, old.AccessToken)
		before := discoverJWKS(t, e)
		if _, err := before.verify(old.AccessToken, e.Clock.Now, "authsvc"); err != nil {
			t.Fatal(err)
		}

		cur, err := e.App.Keys.Rotate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cur.KID == oldKID {
			t.Fatalf("rotation kept kid %s signing", cur.KID)
		}
		// The key that signs now was published before it signed anything.
		if _, ok := before.set.LookupKeyID(cur.KID); !ok {
			t.Errorf("new signing key %s was not in the JWKS before rotation", cur.KID)
		}

		after := discoverJWKS(t, e)
		if _, ok := after.set.LookupKeyID(oldKID); !ok {
			t.Fatalf("retiring key %s left the JWKS while its tokens live", oldKID)
		}
		if _, err := after.verify(old.AccessToken, e.Clock.Now, "authsvc"); err != nil {
			t.Fatalf("token signed before rotation fails against the new JWKS: %v", err)
		}

		fresh := e.Login("rosa", apitest.StrongPassword)
		newKID, _ := jwsHeader(t, fresh.AccessToken)
		if newKID != cur.KID {
			t.Fatalf("token after rotation has kid %s, want %s", newKID, cur.KID)
		}
		if _, err := after.verify(fresh.AccessToken, e.Clock.Now, "authsvc"); err != nil {
			t.Fatalf("token signed after rotation fails: %v", err)
		}
		// A gateway still holding the old document cannot know a key published
		// after it fetched, which is why keys are published one rotation ahead.
		if _, err := before.verify(fresh.AccessToken, e.Clock.Now, "authsvc"); err != nil {
			t.Fatalf("gateway with the JWKS from before rotation rejects the new token: %v", err)
		}
	})
}
