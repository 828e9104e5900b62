package token_test

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/token"
)

// fuzzNow is the verifier's clock in FuzzVerify: 2026-01-02T15:04:05Z, so seeds
// can hold literal exp, nbf and iat values (1767366245 is now).
var fuzzNow = time.Unix(1767366245, 0)

// FuzzVerify: Verify returns an error or valid claims, never panics, for
// arbitrary strings and for real tokens (one per algorithm) mutated in ways
// the fuzzer steers, some of them re-signed with the real key so that their
// header and claims get past the signature. The input's mode picks the way:
//
//	0  s as the token
//	1  a real token with the byte at pos/3 set to b
//	2  a real token cut at pos/3, then s
//	3  a real token with s inserted at pos/3
//	4  a real token with segment pos/3%3 replaced by s (base64url-encoded when b is odd)
//	5  claims s, signed with the real key under the key's own header
//	6  header s, signed with the real key over valid claims
//
// pos%3 picks the algorithm (ES256, EdDSA, RS256). In s, @@KID@@ is that key's
// kid and @@OTHER_KID@@ another algorithm's.
//
//	go test -run='^$' -fuzz='^FuzzVerify$' -fuzztime=1m ./token/
func FuzzVerify(f *testing.F) {
	cfg := token.Config{Issuer: "https://auth.example.com", Audience: "authsvc", TTL: 15 * time.Minute}
	now := func() time.Time { return fuzzNow }
	var (
		keys []token.Key
		real []string // a token per key
	)
	for _, alg := range token.Algorithms {
		priv, err := token.GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		kid, err := token.Thumbprint(priv.Public())
		if err != nil {
			f.Fatal(err)
		}
		k := token.Key{KID: kid, Alg: alg, Public: priv.Public(), Private: priv}
		ks, err := token.NewKeySet(&k, []token.Key{k})
		if err != nil {
			f.Fatal(err)
		}
		tok, _, err := token.NewIssuer(func() *token.KeySet { return ks }, cfg, now).Issue(token.Subject{
			UserID: uuid.MustParse("01a209a1-7e86-7281-8bdd-d7a9864f3b29"), SessionID: uuid.MustParse("01a209a1-7ec5-7647-803b-3110bdadb2be"),
			Username: "ada", Email: "ada@example.com", Roles: []string{"user"},
		})
		if err != nil {
			f.Fatal(err)
		}
		keys, real = append(keys, k), append(real, tok)
	}
	verifySet, err := token.NewKeySet(nil, keys)
	if err != nil {
		f.Fatal(err)
	}
	v := token.NewVerifier(func() *token.KeySet { return verifySet }, cfg, now, func() {})
	for _, tok := range real {
		if _, err := v.Verify(tok); err != nil {
			f.Fatalf("a real token does not verify: %v", err)
		}
	}
	signedPart := func(tok string) string {
		if i := strings.LastIndexByte(tok, '.'); i >= 0 {
			return tok[:i]
		}
		return tok
	}
	genuine := map[string]bool{}
	for _, tok := range real {
		genuine[signedPart(tok)] = true
	}
	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(k token.Key, header, claims string) string {
		s := b64([]byte(header)) + "." + b64([]byte(claims))
		sig, err := jwt.GetSigningMethod(k.Alg).Sign(s, k.Private)
		if err != nil {
			f.Fatal(err)
		}
		return s + "." + b64(sig)
	}
	const goodClaims = `{"iss":"https://auth.example.com","aud":["authsvc"],"sub":"01a209a1-7e86-7281-8bdd-d7a9864f3b29",` +
		`"sid":"01a209a1-7ec5-7647-803b-3110bdadb2be","exp":1767367145,"nbf":1767366245,"iat":1767366245,"jti":"x","roles":["user"]}`

	f.Add(uint8(0), "", uint16(0), byte(0))
	for i, tok := range real {
		f.Add(uint8(0), tok, uint16(i), byte(0))
		f.Add(uint8(0), tok+"=", uint16(i), byte(0))
		f.Add(uint8(0), strings.ReplaceAll(tok, ".", ". "), uint16(i), byte(0))
		f.Add(uint8(1), "", uint16(3*(len(tok)-1)+i), byte('A'))
		f.Add(uint8(2), "", uint16(3*strings.IndexByte(tok, '.')+i), byte(0))
		f.Add(uint8(3), "\x00", uint16(3*10+i), byte(0))
		f.Add(uint8(5), goodClaims, uint16(i), byte(0))
		f.Add(uint8(6), `{"alg":"`+keys[i].Alg+`","kid":"@@KID@@","typ":"at+jwt"}`, uint16(i), byte(0))
	}
	f.Add(uint8(4), `{"alg":"none","kid":"@@KID@@","typ":"at+jwt"}`, uint16(0), byte(1))
	f.Add(uint8(6), `{"alg":"RS256","kid":"@@OTHER_KID@@","typ":"at+jwt"}`, uint16(0), byte(0))
	f.Add(uint8(6), `{"alg":"HS256","kid":"@@KID@@","typ":"at+jwt"}`, uint16(0), byte(0))

	f.Fuzz(func(t *testing.T, mode uint8, s string, pos uint16, b byte) {
		k, orig := keys[int(pos)%3], real[int(pos)%3]
		p := int(pos) / 3
		s = strings.NewReplacer("@@KID@@", k.KID, "@@OTHER_KID@@", keys[(int(pos)+1)%3].KID).Replace(s)
		var tok string
		switch mode % 7 {
		case 0:
			tok = s
		case 1:
			buf := []byte(orig)
			buf[p%len(buf)] = b
			tok = string(buf)
		case 2:
			tok = orig[:p%(len(orig)+1)] + s
		case 3:
			i := p % (len(orig) + 1)
			tok = orig[:i] + s + orig[i:]
		case 4:
			parts := strings.Split(orig, ".")
			if b%2 == 1 {
				s = b64([]byte(s))
			}
			parts[p%3] = s
			tok = strings.Join(parts, ".")
		case 5:
			tok = sign(k, `{"alg":"`+k.Alg+`","kid":"`+k.KID+`","typ":"at+jwt"}`, s)
		case 6:
			tok = sign(k, s, goodClaims)
		}
		resigned := mode%7 >= 5

		c, err := v.Verify(tok)
		switch {
		case (c == nil) == (err == nil):
			t.Fatalf("Verify(%q) = %v, %v: want claims or an error", tok, c, err)
		case err != nil:
			if !errors.Is(err, token.ErrExpired) && !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Verify(%q): error %v is neither ErrExpired nor ErrInvalid", tok, err)
			}
			if errors.Is(err, token.ErrExpired) && !resigned {
				t.Fatalf("Verify(%q) = ErrExpired, but only tokens this test signed can be genuine and none of them is expired", tok)
			}
			return
		}
		if !resigned && !genuine[signedPart(tok)] {
			t.Fatalf("Verify(%q) accepted a token whose header or claims this test never signed", tok)
		}
		if id, err := uuid.Parse(c.Subject); err != nil || id == uuid.Nil {
			t.Fatalf("Verify(%q): sub %q is not a user id", tok, c.Subject)
		}
		if id, err := uuid.Parse(c.SessionID); err != nil || id == uuid.Nil {
			t.Fatalf("Verify(%q): sid %q is not a session id", tok, c.SessionID)
		}
		if c.Issuer != cfg.Issuer || !slices.Contains(c.Audience, cfg.Audience) {
			t.Fatalf("Verify(%q): iss %q, aud %q", tok, c.Issuer, c.Audience)
		}
		if c.ExpiresAt == nil || !fuzzNow.Before(c.ExpiresAt.Add(token.Leeway+time.Second)) {
			t.Fatalf("Verify(%q): exp %v at %v", tok, c.ExpiresAt, fuzzNow)
		}
		if c.NotBefore != nil && c.NotBefore.After(fuzzNow.Add(token.Leeway+time.Second)) {
			t.Fatalf("Verify(%q): nbf %v at %v", tok, c.NotBefore, fuzzNow)
		}
		if c.IssuedAt != nil && c.IssuedAt.After(fuzzNow.Add(token.Leeway+time.Second)) {
			t.Fatalf("Verify(%q): iat %v at %v", tok, c.IssuedAt, fuzzNow)
		}
	})
}
