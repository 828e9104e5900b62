package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/authsvc/authsvc/verifier"
)

// What the stand-in below answers as; the verifier tests expect the same.
const (
	issuer     = "https://auth.test"
	audience   = "authsvc"
	feedClient = "gateway"
	feedSecret = "gateway-secret-0123456789abcdefghij"
)

// clock is the time of the stand-in and of the verifier; tests move it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// signingKey is a key pair as authsvc keeps it: kid the RFC 7638 thumbprint,
// alg fixed per key.
type signingKey struct {
	alg  jwa.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newKey(t *testing.T, alg string) *signingKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, _ := jwa.LookupSignatureAlgorithm(alg)
	k := &signingKey{alg: a, priv: priv}
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	k.kid = base64.RawURLEncoding.EncodeToString(tp)
	return k
}

// publicJWK is the key's public half as the JWKS publishes it.
func (k *signingKey) publicJWK() (jwk.Key, error) {
	pub, err := jwk.Import(k.priv.Public())
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.kid, jwk.AlgorithmKey: k.alg, jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(name, v); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// sign returns a compact JWS of payload (JSON-encoded unless []byte) with the
// key's alg and the given protected header fields (kid defaults to the key's).
func (k *signingKey) sign(t *testing.T, header map[string]any, payload any) string {
	t.Helper()
	raw, err := k.trySign(header, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// trySign is sign for the stand-in's handlers, which must not call t.Fatal.
func (k *signingKey) trySign(header map[string]any, payload any) (string, error) {
	body, ok := payload.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return "", err
		}
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, k.kid); err != nil {
		return "", err
	}
	for name, v := range header {
		if err := h.Set(name, v); err != nil {
			return "", err
		}
	}
	raw, err := jws.Sign(body, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(h)))
	return string(raw), err
}

// revocation is one entry of the feed.
type revocation struct {
	SID string `json:"sid"`
	Exp int64  `json:"exp"`
}

// authsvc stands in for the service over real HTTP: the JWKS at /jwks (with a
// Cache-Control max-age) and the revocation feed at /revocations, paged by a
// cursor, with ETags, signed by the current key. Tests change what it serves
// through its fields, under mu.
type authsvc struct {
	t     *testing.T
	clock *clock
	srv   *httptest.Server

	mu           sync.Mutex
	published    []*signingKey // the JWKS
	signer       *signingKey   // signs tokens and the feed
	cacheControl string        // of the JWKS
	jwksStatus   int           // 0: 200 with the keys
	jwksBody     string        // when set, served instead of the keys
	jwksFetches  int
	revoked      []revocation
	pageSize     int
	feedStatus   int         // 0: serve the feed
	feedIssuer   string      // "": issuer
	feedType     string      // "": revocations+jwt
	feedSigner   *signingKey // nil: signer
	feedAnswers  map[int]int // status → count
	feedQueries  []string    // since of each request that got past the credentials
	feedRequests *counter
}

func newAuthsvc(t *testing.T) *authsvc {
	t.Helper()
	key := newKey(t, "ES256")
	a := &authsvc{
		t: t, clock: newClock(),
		published: []*signingKey{key}, signer: key,
		cacheControl: "public, max-age=300",
		pageSize:     1000,
		feedAnswers:  map[int]int{},
		feedRequests: newCounter(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", a.serveJWKS)
	mux.HandleFunc("GET /revocations", a.serveFeed)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *authsvc) serveJWKS(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jwksFetches++
	if a.jwksStatus != 0 {
		http.Error(w, "down", a.jwksStatus)
		return
	}
	body := []byte(a.jwksBody)
	if a.jwksBody == "" {
		set := jwk.NewSet()
		for _, k := range a.published {
			pub, err := k.publicJWK()
			if err == nil {
				err = set.AddKey(pub)
			}
			if err != nil {
				a.t.Error(err)
			}
		}
		var err error
		if body, err = json.Marshal(set); err != nil {
			a.t.Error(err)
		}
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	if a.cacheControl != "" {
		w.Header().Set("Cache-Control", a.cacheControl)
	}
	_, _ = w.Write(body)
}

// serveFeed answers the page after the cursor "c<index>" (the start without
// one); an empty page hands back the cursor it was given.
func (a *authsvc) serveFeed(w http.ResponseWriter, r *http.Request) {
	a.feedRequests.add()
	a.mu.Lock()
	defer a.mu.Unlock()
	answer := func(status int) {
		a.feedAnswers[status]++
		w.WriteHeader(status)
	}
	if id, secret, ok := r.BasicAuth(); !ok || id != feedClient || secret != feedSecret {
		answer(http.StatusUnauthorized)
		return
	}
	since := r.URL.Query().Get("since")
	a.feedQueries = append(a.feedQueries, since)
	if a.feedStatus != 0 {
		answer(a.feedStatus)
		return
	}
	from := 0
	if since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(since, "c"))
		if err != nil || n < 0 || n > len(a.revoked) {
			answer(http.StatusBadRequest)
			return
		}
		from = n
	}
	to := min(from+a.pageSize, len(a.revoked))
	signer := a.signer
	if a.feedSigner != nil {
		signer = a.feedSigner
	}
	etag := fmt.Sprintf(`"%d-%d-%s"`, from, to, signer.kid)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		answer(http.StatusNotModified)
		return
	}
	iss, typ := issuer, verifier.FeedType
	if a.feedIssuer != "" {
		iss = a.feedIssuer
	}
	if a.feedType != "" {
		typ = a.feedType
	}
	page, err := signer.trySign(map[string]any{jws.TypeKey: typ}, map[string]any{
		"iss": iss, "iat": a.clock.Now().Unix(),
		"revocations": append([]revocation{}, a.revoked[from:to]...),
		"next_cursor": "c" + strconv.Itoa(to),
	})
	if err != nil {
		a.t.Error(err)
		answer(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jwt")
	a.feedAnswers[http.StatusOK]++
	_, _ = w.Write([]byte(page))
}

// set changes what the stand-in serves.
func (a *authsvc) set(change func(a *authsvc)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	change(a)
}

// revoke lists the sessions in the feed until exp.
func (a *authsvc) revoke(exp time.Time, sids ...string) {
	a.set(func(a *authsvc) {
		for _, sid := range sids {
			a.revoked = append(a.revoked, revocation{SID: sid, Exp: exp.Unix()})
		}
	})
}

func (a *authsvc) fetches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.jwksFetches
}

// claims are those of a fresh access token of user ann in session sid.
func (a *authsvc) claims(sid string) map[string]any {
	now := a.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": "user-ann", "aud": []string{audience},
		"exp": now.Add(15 * time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		"jti": "jti-" + sid, "sid": sid,
		"roles": []string{"user"}, "permissions": []string{}, "resources": []string{},
		"username": "ann", "email": "ann@example.com", "amr": []string{"pwd"},
	}
}

// token is an access token signed by the current key, with claims changed by edit.
func (a *authsvc) token(sid string, edit func(claims map[string]any)) string {
	a.t.Helper()
	c := a.claims(sid)
	if edit != nil {
		edit(c)
	}
	a.mu.Lock()
	signer := a.signer
	a.mu.Unlock()
	return signer.sign(a.t, map[string]any{jws.TypeKey: verifier.AccessTokenType}, c)
}

// newVerifier points a verifier at the stand-in, on its clock, with no
// background poll unless mod sets a PollInterval.
func (a *authsvc) newVerifier(mod func(*verifier.Config)) *verifier.Verifier {
	a.t.Helper()
	cfg := verifier.Config{
		Issuer: issuer, Audience: audience,
		JWKSURL: a.srv.URL + "/jwks", FeedURL: a.srv.URL + "/revocations",
		ClientID: feedClient, ClientSecret: feedSecret,
		PollInterval: time.Hour, HTTPClient: a.srv.Client(), Now: a.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verifier.New(context.Background(), cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { v.Close() })
	return v
}

// counter counts events and lets a test wait for them instead of sleeping.
type counter struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced on each add
}

func newCounter() *counter { return &counter{changed: make(chan struct{})} }

func (c *counter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitPast waits until the count is above n (failing after 10s).
func (c *counter) waitPast(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got, changed := c.n, c.changed
		c.mu.Unlock()
		if got > n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("count %d after 10s; want more than %d", got, n)
		}
	}
}
