package token_test

import (
	"crypto"
	"encoding/base64"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/token"
)

// TestGatewayVerifiesWithJWKSOnly checks tokens the way an API gateway would: with
// nothing but the published JWKS document and an independent JOSE library.
func TestGatewayVerifiesWithJWKSOnly(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			clock := testdb.NewClock(time.Now())
			signer, other := newKey(t, alg), newKey(t, token.ES256)
			ks, err := token.NewKeySet(&signer, []token.Key{other, signer})
			testdb.Must(t, err)
			s := subject()
			tok, _, err := token.NewIssuer(fixed(ks), cfg, clock.Now).Issue(s)
			testdb.Must(t, err)

			set, err := jwk.Parse(ks.JWKS())
			testdb.Must(t, err)
			if set.Len() != 2 {
				t.Fatalf("JWKS holds %d keys; want 2", set.Len())
			}
			parsed, err := jwt.Parse([]byte(tok),
				jwt.WithKeySet(set),
				jwt.WithIssuer(cfg.Issuer),
				jwt.WithAudience(cfg.Audience),
				jwt.WithClock(jwt.ClockFunc(clock.Now)),
			)
			testdb.Must(t, err)
			if sub, _ := parsed.Subject(); sub != s.UserID.String() {
				t.Fatalf("sub = %q", sub)
			}
			var sid string
			testdb.Must(t, parsed.Get("sid", &sid))
			if sid != s.SessionID.String() {
				t.Fatalf("sid = %q", sid)
			}

			// The kid must be what jwx computes as the RFC 7638 thumbprint.
			k, ok := set.LookupKeyID(signer.KID)
			if !ok {
				t.Fatal("signing kid not in JWKS")
			}
			tp, err := k.Thumbprint(crypto.SHA256)
			testdb.Must(t, err)
			if got := base64.RawURLEncoding.EncodeToString(tp); got != signer.KID {
				t.Fatalf("jwx thumbprint %s != kid %s", got, signer.KID)
			}

			// And the gateway rejects what it should.
			if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithAudience("someone-else"),
				jwt.WithClock(jwt.ClockFunc(clock.Now))); err == nil {
				t.Fatal("gateway accepted a token for another audience")
			}
			clock.Advance(cfg.TTL + time.Minute)
			if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(clock.Now))); err == nil {
				t.Fatal("gateway accepted an expired token")
			}
		})
	}
}
