package token_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/token"
)

// Extra claims (the token hook's) are signed beside the others; reserved
// names never overwrite them, even those left out of the token (idp,
// client_id); the verifier reads the token as before.
func TestExtraClaims(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ks := singleKeySet(t, newKey(t, token.ES256))
	s := subject()
	s.AMR = []string{"pwd"}
	s.Extra = map[string]any{
		"tenant": "t1", "plan": map[string]any{"tier": "gold"}, "n": json.Number("12345678901234567890"),
		"sub": "evil", "roles": []string{"admin"}, "amr": []string{"hwk"}, "exp": 1, "idp": "evil", "client_id": "evil", "scope": "users:write",
	}
	tok, _, err := token.NewIssuer(fixed(ks), cfg, clock).Issue(s)
	testdb.Must(t, err)
	raw := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(tok, raw)
	testdb.Must(t, err)
	if raw["tenant"] != "t1" || raw["plan"].(map[string]any)["tier"] != "gold" || raw["n"] != 12345678901234567890.0 {
		t.Fatalf("extras missing: %v", raw)
	}
	if raw["sub"] != s.UserID.String() || raw["roles"].([]any)[0] != "user" || raw["amr"].([]any)[0] != "pwd" {
		t.Fatalf("an extra overwrote a claim: %v", raw)
	}
	for _, k := range []string{"idp", "client_id", "scope"} {
		if _, ok := raw[k]; ok {
			t.Errorf("reserved %s written from Extra: %v", k, raw)
		}
	}
	if exp := raw["exp"].(float64); exp < float64(now.Unix()) {
		t.Fatalf("exp overwritten: %v", exp)
	}
	c, err := token.NewVerifier(fixed(ks), cfg, clock, nil).Verify(tok)
	testdb.Must(t, err)
	if c.Subject != s.UserID.String() || c.IsService() || c.Extra != nil {
		t.Fatalf("verified claims: %+v", c)
	}
}

// Claims then Sign is Issue, and the claims shown are the ones signed.
func TestClaimsThenSign(t *testing.T) {
	now := time.Now()
	ks := singleKeySet(t, newKey(t, token.EdDSA))
	iss := token.NewIssuer(fixed(ks), cfg, func() time.Time { return now })
	c, err := iss.Claims(subject())
	testdb.Must(t, err)
	c.Extra = map[string]any{"tenant": "t1"}
	tok, exp, err := iss.Sign(c)
	testdb.Must(t, err)
	got, err := token.NewVerifier(fixed(ks), cfg, func() time.Time { return now }, nil).Verify(tok)
	testdb.Must(t, err)
	if got.ID != c.ID || !exp.Equal(c.ExpiresAt.Time) {
		t.Fatalf("signed %+v, shown %+v", got, c)
	}
	if _, _, err := iss.Sign(nil); err == nil {
		t.Fatal("Sign(nil) succeeded")
	}
}
