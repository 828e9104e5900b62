package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/token"
)

var algs = token.Algorithms

var cfg = token.Config{Issuer: "https://auth.example.com", Audience: "authsvc", TTL: 15 * time.Minute}

// newKey makes a signing key for alg with its thumbprint as kid.
func newKey(t testing.TB, alg string) token.Key {
	t.Helper()
	priv, err := token.GenerateKey(alg)
	testdb.Must(t, err)
	kid, err := token.Thumbprint(priv.Public())
	testdb.Must(t, err)
	return token.Key{KID: kid, Alg: alg, Public: priv.Public(), Private: priv}
}

// singleKeySet is a set whose only key signs.
func singleKeySet(t testing.TB, k token.Key) *token.KeySet {
	t.Helper()
	ks, err := token.NewKeySet(&k, []token.Key{k})
	testdb.Must(t, err)
	return ks
}

func fixed(ks *token.KeySet) func() *token.KeySet { return func() *token.KeySet { return ks } }

func subject() token.Subject {
	return token.Subject{
		UserID:    uuid.Must(uuid.NewV7()),
		SessionID: uuid.Must(uuid.NewV7()),
		Username:  "alice",
		Email:     "alice@example.com",
		Roles:     []string{"user"},
	}
}

// goodClaims are valid claims at now, for hand-built tokens.
func goodClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": cfg.Issuer,
		"aud": cfg.Audience,
		"sub": uuid.NewString(),
		"sid": uuid.NewString(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"jti": uuid.NewString(),
	}
}

// sign builds a token with golang-jwt directly, with full control over header and claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	testdb.Must(t, err)
	return s
}

func method(alg string) jwt.SigningMethod { return jwt.GetSigningMethod(alg) }

func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	testdb.Must(t, err)
	var m map[string]any
	testdb.Must(t, json.Unmarshal(raw, &m))
	return m
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			clock := testdb.NewClock(time.Now())
			k := newKey(t, alg)
			ks := singleKeySet(t, k)
			iss := token.NewIssuer(fixed(ks), cfg, clock.Now)
			ver := token.NewVerifier(fixed(ks), cfg, clock.Now, nil)
			s := subject()
			tok, exp, err := iss.Issue(s)
			testdb.Must(t, err)

			h := segment(t, tok, 0)
			if h["kid"] != k.KID || h["typ"] != "at+jwt" || h["alg"] != alg {
				t.Fatalf("header = %v", h)
			}
			p := segment(t, tok, 1)
			for _, name := range []string{"iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti", "roles", "permissions", "username", "email", "resources"} {
				if _, ok := p[name]; !ok {
					t.Errorf("claim %q missing from %v", name, p)
				}
			}
			// nil lists are written as [], never null.
			if perms, ok := p["permissions"].([]any); !ok || len(perms) != 0 {
				t.Errorf("permissions = %#v; want []", p["permissions"])
			}
			if want := clock.Now().Truncate(time.Second).Add(cfg.TTL); !exp.Equal(want) {
				t.Errorf("expiresAt = %v; want %v", exp, want)
			}

			c, err := ver.Verify(tok)
			testdb.Must(t, err)
			if c.Subject != s.UserID.String() || c.SessionID != s.SessionID.String() || c.Username != "alice" ||
				c.Email != "alice@example.com" || len(c.Roles) != 1 || c.Roles[0] != "user" || c.ID == "" {
				t.Fatalf("claims = %+v", c)
			}
			if !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(c.NotBefore.Time) {
				t.Fatalf("times: exp %v iat %v nbf %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
			}
			tok2, _, err := iss.Issue(s)
			testdb.Must(t, err)
			c2, err := ver.Verify(tok2)
			testdb.Must(t, err)
			if c2.ID == c.ID {
				t.Fatal("two tokens share a jti")
			}
		})
	}
}

func TestExpired(t *testing.T) {
	clock := testdb.NewClock(time.Now())
	ks := singleKeySet(t, newKey(t, token.ES256))
	iss := token.NewIssuer(fixed(ks), cfg, clock.Now)
	ver := token.NewVerifier(fixed(ks), cfg, clock.Now, nil)
	tok, _, err := iss.Issue(subject())
	testdb.Must(t, err)

	clock.Advance(cfg.TTL) // within the leeway
	if _, err := ver.Verify(tok); err != nil {
		t.Fatalf("at exp, within leeway: %v", err)
	}
	clock.Advance(token.Leeway + time.Second)
	if _, err := ver.Verify(tok); !errors.Is(err, token.ErrExpired) || errors.Is(err, token.ErrInvalid) {
		t.Fatalf("after exp: err = %v; want ErrExpired", err)
	}
}

// An expired token that is also wrong in another way is invalid, not merely expired:
// refreshing would not help the client.
func TestExpiredAndWrongAudienceIsInvalid(t *testing.T) {
	now := time.Now()
	k := newKey(t, token.ES256)
	ver := token.NewVerifier(fixed(singleKeySet(t, k)), cfg, func() time.Time { return now }, nil)
	c := goodClaims(now.Add(-time.Hour))
	c["aud"] = "other"
	tok := sign(t, method(k.Alg), k.Private, map[string]any{"kid": k.KID, "typ": "at+jwt"}, c)
	if _, err := ver.Verify(tok); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("err = %v; want ErrInvalid", err)
	}
}

func TestRejects(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	k := newKey(t, token.ES256)
	ks := singleKeySet(t, k)
	other := newKey(t, token.ES256)
	rsaKey := newKey(t, token.RS256)
	edKey := newKey(t, token.EdDSA)
	hdr := func(kv ...any) map[string]any {
		h := map[string]any{"kid": k.KID, "typ": "at+jwt"}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i].(string)] = kv[i+1]
		}
		return h
	}
	with := func(name string, v any) jwt.MapClaims {
		c := goodClaims(now)
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public)
	testdb.Must(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := sign(t, method(k.Alg), k.Private, hdr(), goodClaims(now))
	parts := strings.Split(valid, ".")
	forged := goodClaims(now)
	forged["roles"] = []string{"admin"}
	forgedPayload, _ := json.Marshal(forged)

	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr(), goodClaims(now))

	cases := map[string]string{
		"nbf in future":         sign(t, method(k.Alg), k.Private, hdr(), with("nbf", now.Add(time.Minute).Unix())),
		"iat in future":         sign(t, method(k.Alg), k.Private, hdr(), with("iat", now.Add(time.Minute).Unix())),
		"no exp":                sign(t, method(k.Alg), k.Private, hdr(), with("exp", nil)),
		"wrong aud":             sign(t, method(k.Alg), k.Private, hdr(), with("aud", "other-service")),
		"no aud":                sign(t, method(k.Alg), k.Private, hdr(), with("aud", nil)),
		"wrong iss":             sign(t, method(k.Alg), k.Private, hdr(), with("iss", "https://evil.example.com")),
		"no iss":                sign(t, method(k.Alg), k.Private, hdr(), with("iss", nil)),
		"no sid":                sign(t, method(k.Alg), k.Private, hdr(), with("sid", nil)),
		"sid not uuid":          sign(t, method(k.Alg), k.Private, hdr(), with("sid", "abc")),
		"no sub":                sign(t, method(k.Alg), k.Private, hdr(), with("sub", nil)),
		"sub not uuid":          sign(t, method(k.Alg), k.Private, hdr(), with("sub", "alice")),
		"sub nil uuid":          sign(t, method(k.Alg), k.Private, hdr(), with("sub", uuid.Nil.String())),
		"alg none":              noneTok,
		"alg none no sig":       strings.Join(strings.Split(noneTok, ".")[:2], ".") + ".",
		"HS256 public PEM":      sign(t, jwt.SigningMethodHS256, pubPEM, hdr(), goodClaims(now)),
		"HS256 JWKS":            sign(t, jwt.SigningMethodHS256, ks.JWKS(), hdr(), goodClaims(now)),
		"HS256 JWK x":           sign(t, jwt.SigningMethodHS256, []byte(k.KID), hdr(), goodClaims(now)),
		"RS256 under ES256 kid": sign(t, method(token.RS256), rsaKey.Private, hdr(), goodClaims(now)),
		"EdDSA under ES256 kid": sign(t, method(token.EdDSA), edKey.Private, hdr(), goodClaims(now)),
		"ES384":                 sign(t, jwt.SigningMethodES256, k.Private, hdr("alg", "ES384"), goodClaims(now)),
		"missing kid":           sign(t, method(k.Alg), k.Private, hdr("kid", nil), goodClaims(now)),
		"empty kid":             sign(t, method(k.Alg), k.Private, hdr("kid", ""), goodClaims(now)),
		"kid not string":        sign(t, method(k.Alg), k.Private, hdr("kid", 7), goodClaims(now)),
		"other key, our kid":    sign(t, method(other.Alg), other.Private, hdr(), goodClaims(now)),
		"typ revocations":       sign(t, method(k.Alg), k.Private, hdr("typ", "revocations+jwt"), goodClaims(now)),
		"typ JWT":               sign(t, method(k.Alg), k.Private, hdr("typ", "JWT"), goodClaims(now)),
		"no typ":                sign(t, method(k.Alg), k.Private, hdr("typ", nil), goodClaims(now)),
		"crit header":           sign(t, method(k.Alg), k.Private, hdr("crit", []string{"exp"}), goodClaims(now)),
		"tampered payload":      parts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + parts[2],
		"tampered sig":          parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("not a signature at all, no")),
		"two segments":          parts[0] + "." + parts[1],
		"empty":                 "",
		"garbage":               "a.b.c",
	}
	ver := token.NewVerifier(fixed(ks), cfg, clock, func() { t.Error("onUnknownKID called for a known kid") })
	if _, err := ver.Verify(valid); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	for name, tok := range cases {
		c, err := ver.Verify(tok)
		if err == nil {
			t.Errorf("%s: accepted, claims %+v", name, c)
			continue
		}
		if !errors.Is(err, token.ErrInvalid) || errors.Is(err, token.ErrExpired) {
			t.Errorf("%s: err = %v; want ErrInvalid", name, err)
		}
	}
}

func TestUnknownKID(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ours := singleKeySet(t, newKey(t, token.ES256))
	theirs := singleKeySet(t, newKey(t, token.ES256))
	tok, _, err := token.NewIssuer(fixed(theirs), cfg, clock).Issue(subject())
	testdb.Must(t, err)
	calls := 0
	ver := token.NewVerifier(fixed(ours), cfg, clock, func() { calls++ })
	if _, err := ver.Verify(tok); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("err = %v; want ErrInvalid", err)
	}
	if calls != 1 {
		t.Fatalf("onUnknownKID called %d times; want 1", calls)
	}
	// A nil callback is allowed.
	if _, err := token.NewVerifier(fixed(ours), cfg, clock, nil).Verify(tok); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("nil callback: err = %v", err)
	}
}

// A token signed by a key that is only published (next) or only verifying
// (retiring) verifies; the signer of the set is a different key.
func TestVerifyWithAnyKeyOfTheSet(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	cur, old := newKey(t, token.ES256), newKey(t, token.EdDSA)
	oldTok, _, err := token.NewIssuer(fixed(singleKeySet(t, old)), cfg, clock).Issue(subject())
	testdb.Must(t, err)
	ks, err := token.NewKeySet(&cur, []token.Key{cur, {KID: old.KID, Alg: old.Alg, Public: old.Public}})
	testdb.Must(t, err)
	if ks.Signing().KID != cur.KID {
		t.Fatalf("signing = %s", ks.Signing().KID)
	}
	if _, err := token.NewVerifier(fixed(ks), cfg, clock, nil).Verify(oldTok); err != nil {
		t.Fatal(err)
	}
}

func TestNewKeySetChecks(t *testing.T) {
	a, b := newKey(t, token.ES256), newKey(t, token.RS256)
	wrongKID := a
	wrongKID.KID = "not-a-thumbprint"
	wrongAlg := a
	wrongAlg.Alg = token.RS256
	mixed := b
	mixed.Private = a.Private
	cases := map[string]func() (*token.KeySet, error){
		"kid not thumbprint": func() (*token.KeySet, error) { return token.NewKeySet(nil, []token.Key{wrongKID}) },
		"alg not key type":   func() (*token.KeySet, error) { return token.NewKeySet(nil, []token.Key{wrongAlg}) },
		"signing not in set": func() (*token.KeySet, error) { return token.NewKeySet(&a, []token.Key{b}) },
		"duplicate kid":      func() (*token.KeySet, error) { return token.NewKeySet(nil, []token.Key{a, a}) },
		"private mismatch":   func() (*token.KeySet, error) { return token.NewKeySet(&mixed, []token.Key{b}) },
		"no private": func() (*token.KeySet, error) {
			return token.NewKeySet(&token.Key{KID: b.KID, Alg: b.Alg, Public: b.Public}, []token.Key{b})
		},
	}
	for name, f := range cases {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ks, err := token.NewKeySet(nil, []token.Key{a, b})
	testdb.Must(t, err)
	if ks.Signing() != nil {
		t.Fatal("verify-only set has a signing key")
	}
	for _, k := range ks.Keys() {
		if k.Private != nil {
			t.Fatal("verification key keeps its private half")
		}
	}
	if _, _, err := token.NewIssuer(fixed(ks), cfg, time.Now).Issue(subject()); err == nil {
		t.Fatal("issued without a signing key")
	}
}

func TestGenerateKey(t *testing.T) {
	if _, err := token.GenerateKey("HS256"); err == nil {
		t.Fatal("HS256 accepted")
	}
	if _, err := token.GenerateKey("none"); err == nil {
		t.Fatal("none accepted")
	}
	k, err := token.GenerateKey(token.ES256)
	testdb.Must(t, err)
	if k.(*ecdsa.PrivateKey).Curve.Params().Name != "P-256" {
		t.Fatal("ES256 key is not P-256")
	}
}

// RFC 7638 section 3.1.
func TestThumbprintRFC7638(t *testing.T) {
	jwkJSON := `{"kty":"RSA","alg":"RS256","kid":"2011-04-29","e":"AQAB","n":"` +
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP" +
		"ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY" +
		"368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f" +
		"M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw" + `"}`
	pub, kid, alg, err := token.ParsePublicJWK([]byte(jwkJSON))
	testdb.Must(t, err)
	if kid != "2011-04-29" || alg != "RS256" {
		t.Fatalf("kid %q alg %q", kid, alg)
	}
	got, err := token.Thumbprint(pub)
	testdb.Must(t, err)
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s; want %s", got, want)
	}
}

// RFC 8037 appendix A.3: the thumbprint of an Ed25519 key.
func TestThumbprintRFC8037(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	testdb.Must(t, err)
	got, err := token.Thumbprint(ed25519.PublicKey(x))
	testdb.Must(t, err)
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("thumbprint = %s; want %s", got, want)
	}
}

// Kids in existing databases were computed by hand from the RFC 7638 canonical
// form; the thumbprint must stay byte for byte what that gave, including EC
// coordinates with leading zero bytes (padded to 32 bytes) and RSA moduli and
// exponents (minimal big-endian).
func TestThumbprintMatchesCanonicalForm(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	canonical := func(pub crypto.PublicKey) string {
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			raw, err := k.Bytes()
			testdb.Must(t, err)
			return `{"crv":"P-256","kty":"EC","x":"` + b64(raw[1:33]) + `","y":"` + b64(raw[33:]) + `"}`
		case ed25519.PublicKey:
			return `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
		case *rsa.PublicKey:
			return `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
		}
		t.Fatalf("unexpected key type %T", pub)
		return ""
	}
	keys := []crypto.PublicKey{}
	for _, alg := range algs {
		for range 3 {
			keys = append(keys, newKey(t, alg).Public)
		}
	}
	// An EC key whose x starts with a zero byte: big.Int would drop it, RFC 7518 keeps it.
	for {
		k := newKey(t, token.ES256).Public.(*ecdsa.PublicKey)
		raw, err := k.Bytes()
		testdb.Must(t, err)
		if raw[1] == 0 {
			keys = append(keys, k)
			break
		}
	}
	for _, pub := range keys {
		sum := sha256.Sum256([]byte(canonical(pub)))
		want := b64(sum[:])
		got, err := token.Thumbprint(pub)
		testdb.Must(t, err)
		if got != want {
			t.Fatalf("%T: thumbprint %s; want %s (%s)", pub, got, want, canonical(pub))
		}
	}
}

// JWKs stored before jwx wrote them (members in struct order) must still load.
func TestParseStoredJWK(t *testing.T) {
	for _, tc := range []struct{ alg, jwk, kid string }{
		{token.ES256, `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"K","alg":"ES256","use":"sig"}`, "K"},
		{token.EdDSA, `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","alg":"EdDSA","use":"sig"}`, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	} {
		pub, kid, alg, err := token.ParsePublicJWK([]byte(tc.jwk))
		testdb.Must(t, err)
		if kid != tc.kid || alg != tc.alg || pub == nil {
			t.Fatalf("%s: kid %q alg %q", tc.alg, kid, alg)
		}
		j, err := token.PublicJWK(pub, kid, alg)
		testdb.Must(t, err)
		var a, b map[string]any
		testdb.Must(t, json.Unmarshal([]byte(tc.jwk), &a))
		testdb.Must(t, json.Unmarshal(j, &b))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: written again as %s; want the members of %s", tc.alg, j, tc.jwk)
		}
	}
}

func TestParsePublicJWKRefuses(t *testing.T) {
	ec := newKey(t, token.ES256)
	priv := ec.Private.(*ecdsa.PrivateKey)
	pubJWK, err := token.PublicJWK(ec.Public, ec.KID, ec.Alg)
	testdb.Must(t, err)
	var m map[string]any
	testdb.Must(t, json.Unmarshal(pubJWK, &m))
	d, err := priv.Bytes()
	testdb.Must(t, err)
	withD := maps.Clone(m)
	withD["d"] = base64.RawURLEncoding.EncodeToString(d)
	noAlg := maps.Clone(m)
	delete(noAlg, "alg")
	otherAlg := maps.Clone(m)
	otherAlg["alg"] = token.RS256
	p384 := maps.Clone(m)
	p384["crv"] = "P-384"
	cases := map[string]any{
		"private key":     withD,
		"no alg":          noAlg,
		"alg of another":  otherAlg,
		"other curve":     p384,
		"symmetric":       map[string]any{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
		"unknown kty":     map[string]any{"kty": "XYZ", "alg": token.ES256},
		"not JSON object": []any{m},
	}
	for name, v := range cases {
		b, err := json.Marshal(v)
		testdb.Must(t, err)
		if _, _, _, err := token.ParsePublicJWK(b); err == nil {
			t.Errorf("%s accepted: %s", name, b)
		}
	}
}

func TestPublicJWKRoundTrip(t *testing.T) {
	for _, alg := range algs {
		k := newKey(t, alg)
		j, err := token.PublicJWK(k.Public, k.KID, k.Alg)
		testdb.Must(t, err)
		var m map[string]any
		testdb.Must(t, json.Unmarshal(j, &m))
		if m["use"] != "sig" || m["kid"] != k.KID || m["alg"] != alg {
			t.Fatalf("%s: JWK = %s", alg, j)
		}
		if _, ok := m["d"]; ok {
			t.Fatalf("%s: JWK carries a private member: %s", alg, j)
		}
		pub, kid, gotAlg, err := token.ParsePublicJWK(j)
		testdb.Must(t, err)
		if kid != k.KID || gotAlg != alg || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
			t.Fatalf("%s: round trip lost the key", alg)
		}
		if _, err := token.PublicJWK(k.Public, k.KID, "HS256"); err == nil {
			t.Fatalf("%s: JWK with alg HS256 accepted", alg)
		}
	}
}

func TestClaimsMarshalEmptyLists(t *testing.T) {
	b, err := json.Marshal(token.Claims{})
	testdb.Must(t, err)
	for _, name := range []string{"roles", "permissions", "resources"} {
		if !strings.Contains(string(b), `"`+name+`":[]`) {
			t.Errorf("%s not written as []: %s", name, b)
		}
	}
	b, err = json.Marshal(&token.Claims{Roles: []string{"admin"}})
	testdb.Must(t, err)
	if !strings.Contains(string(b), `"roles":["admin"]`) {
		t.Errorf("pointer marshal: %s", b)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			k := newKey(b, alg)
			ks := singleKeySet(b, k)
			now := time.Now()
			clock := func() time.Time { return now }
			tok, _, err := token.NewIssuer(fixed(ks), cfg, clock).Issue(subject())
			testdb.Must(b, err)
			ver := token.NewVerifier(fixed(ks), cfg, clock, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ver.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
