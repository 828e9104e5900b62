// Package verifier checks authsvc access tokens offline, as a gateway or any
// other Go service would: the signature against the published JWKS (cached for
// its Cache-Control max-age, re-fetched on an unknown kid), the header (alg in
// an allow-list and equal to the key's alg, typ at+jwt), iss, aud, exp and nbf,
// and then the signed revocation feed, polled in the background, so that a
// logged-out or banned session is refused within one poll.
//
// It is a Go module of its own and imports nothing of authsvc: only the JWKS,
// the revocation feed and the token format described in the README
// ("Verifying tokens in a gateway"). It depends on jwx alone, so that a service
// importing it gets no web framework, database driver or test tool in its go.sum.
//
// Middleware is plain net/http. Echo takes it as it is, and the claims are
// then on c.Request().Context():
//
//	g := e.Group("/api", echo.WrapMiddleware(v.Middleware))
//	g.GET("/admin", handler, echo.WrapMiddleware(verifier.RequireRole("admin")))
//
// When the feed has not been read successfully for longer than
// Config.MaxFeedStaleness, Verify fails closed with ErrFeedStale.
//
// Service tokens (issued to service clients by authsvc's client credentials
// grant, POST /v1/oauth/token) are access tokens too, and verify the same way:
// their Claims have ClientID and Scope set (IsService), sub equal to the
// client id, no roles, username or email, and a sid that the feed lists when
// the client is disabled or deleted or its secret ends. Personal access tokens
// (authsvc_pat_…) are opaque: they cannot be verified offline, only by
// introspection.
package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Errors Verify returns, wrapped with a detail; test them with errors.Is.
var (
	// ErrMissingToken: the request has no bearer token (middleware only).
	ErrMissingToken = errors.New("verifier: missing token")
	// ErrInvalidToken: malformed, wrongly signed, wrong typ/alg/iss/aud, not yet valid.
	ErrInvalidToken = errors.New("verifier: invalid token")
	// ErrExpired: a genuine token past its exp (plus leeway).
	ErrExpired = errors.New("verifier: token expired")
	// ErrRevoked: a genuine token whose session is in the revocation feed.
	ErrRevoked = errors.New("verifier: session revoked")
	// ErrFeedStale: the revocation feed has not been read for longer than
	// MaxFeedStaleness (or never), so revocations cannot be ruled out.
	ErrFeedStale = errors.New("verifier: revocation feed stale")
)

// AccessTokenType is the typ header of authsvc access tokens.
const AccessTokenType = "at+jwt"

// FeedType is the typ header of the revocation feed's JWS.
const FeedType = "revocations+jwt"

// Config configures a Verifier. Issuer, Audience and JWKSURL are required.
type Config struct {
	// Issuer is the expected iss (the discovery document's issuer, JWT_ISSUER).
	Issuer string
	// Audience must be one of the token's aud values (JWT_AUDIENCE, default "authsvc").
	Audience string
	// JWKSURL is the key set, e.g. https://auth.example.com/.well-known/jwks.json.
	JWKSURL string
	// FeedURL is the revocation feed, e.g. https://auth.example.com/v1/auth/revocations.
	// Empty: no revocation checks and no staleness bound (offline verification only).
	FeedURL string
	// ClientID and ClientSecret are the feed's HTTP Basic credentials
	// (one of authsvc's INTROSPECTION_CLIENTS).
	ClientID     string
	ClientSecret string
	// Algorithms allowed in the header; default ES256, EdDSA, RS256.
	Algorithms []string
	// PollInterval between feed polls; default 5s.
	PollInterval time.Duration
	// MaxFeedStaleness: Verify returns ErrFeedStale when the feed was last read
	// successfully longer ago than this; default 1m.
	MaxFeedStaleness time.Duration
	// MinRefetch is the least time between two JWKS fetches caused by an unknown
	// kid; default 5s.
	MinRefetch time.Duration
	// Leeway is the clock skew allowed on exp and nbf; default 5s.
	Leeway time.Duration
	// HTTPClient for the JWKS and the feed; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock for exp/nbf, the JWKS max-age, MinRefetch and the
	// staleness bound; default time.Now.
	Now func() time.Time
}

// Claims are an access token's claims: a user's, or a service client's
// (IsService).
type Claims struct {
	// Subject is the user's id; for a service token, the client's (ClientID).
	Subject string
	// SessionID is the session's id; for a service token, the id of the
	// client secret it was issued with. The revocation feed lists either.
	SessionID   string
	Roles       []string // none for a service token
	Permissions []string
	Username    string // "" for a service token
	Email       string // "" for a service token
	Resources   []string
	// ClientID is the service client's id (the client_id claim, RFC 9068),
	// set for service tokens only; Verify refuses one that is not the sub.
	ClientID string
	// Scope is what a service token was granted (the scope claim, RFC 9068:
	// space-separated permissions, as in Permissions); "" for a user's token.
	Scope string
	// AMR is how the session was authenticated (RFC 8176): ["pwd"], ["pwd",
	// "otp", "mfa"], ["pwd", "mfa"] or ["hwk", "user"]; none for a service token.
	AMR       []string
	Issuer    string
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	// Raw is every claim as decoded JSON.
	Raw map[string]any
}

// IsService reports whether the token was issued to a service client
// (client credentials) rather than to a user: it has a client_id.
func (c *Claims) IsService() bool { return c != nil && c.ClientID != "" }

// HasRole reports whether the token carries the role.
func (c *Claims) HasRole(role string) bool { return c != nil && slices.Contains(c.Roles, role) }

// HasAMR reports whether the session was authenticated by method (an RFC 8176
// value: "mfa" for any second factor, "hwk" for a passkey).
func (c *Claims) HasAMR(method string) bool { return c != nil && slices.Contains(c.AMR, method) }

// HasPermission reports whether the token carries the permission.
func (c *Claims) HasPermission(perm string) bool {
	return c != nil && slices.Contains(c.Permissions, perm)
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *keyCache

	mu       sync.Mutex
	revoked  map[string]time.Time // sid → exp of the session's last token
	cursor   string
	etag     string
	lastOK   time.Time // start of the last successful poll
	lastErr  error
	pollMu   sync.Mutex // one poll at a time
	cancel   context.CancelFunc
	done     chan struct{}
	closeOne sync.Once
}

// New checks the configuration, fetches the JWKS and reads the feed once
// (failures there are not fatal: Verify fails until they succeed; see Ready),
// and starts the background poller, stopped by ctx or Close.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKSURL == "" {
		return nil, errors.New("verifier: Issuer, Audience and JWKSURL are required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"ES256", "EdDSA", "RS256"}
	}
	for _, a := range cfg.Algorithms {
		if a == "none" || strings.HasPrefix(a, "HS") {
			return nil, fmt.Errorf("verifier: algorithm %q cannot verify public-key tokens", a)
		}
		if _, ok := jwa.LookupSignatureAlgorithm(a); !ok {
			return nil, fmt.Errorf("verifier: unknown algorithm %q", a)
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.MaxFeedStaleness <= 0 {
		cfg.MaxFeedStaleness = time.Minute
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = 5 * time.Second
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		cfg:     cfg,
		keys:    &keyCache{url: cfg.JWKSURL, client: cfg.HTTPClient, now: cfg.Now, minRefetch: cfg.MinRefetch},
		revoked: map[string]time.Time{},
		done:    make(chan struct{}),
	}
	_, _ = v.keys.get(ctx, "") // warm the cache; errors surface on use
	if cfg.FeedURL == "" {
		close(v.done)
		return v, nil
	}
	_ = v.Refresh(ctx)
	pollCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v.cancel = cancel
	go v.run(ctx, pollCtx)
	return v, nil
}

// Close stops the poller and waits for it to end.
func (v *Verifier) Close() error {
	v.closeOne.Do(func() {
		if v.cancel != nil {
			v.cancel()
		}
	})
	<-v.done
	return nil
}

func (v *Verifier) run(parent, ctx context.Context) {
	defer close(v.done)
	t := time.NewTicker(v.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-parent.Done():
			return
		case <-ctx.Done():
			return
		case <-t.C:
			_ = v.Refresh(ctx)
		}
	}
}

// Ready is nil once the feed has been read within MaxFeedStaleness (always
// nil without a FeedURL), else the reason Verify would fail closed.
func (v *Verifier) Ready() error {
	if v.cfg.FeedURL == "" {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.staleLocked(v.cfg.Now())
}

func (v *Verifier) staleLocked(now time.Time) error {
	if v.lastOK.IsZero() {
		if v.lastErr != nil {
			return fmt.Errorf("%w: never read: %v", ErrFeedStale, v.lastErr)
		}
		return fmt.Errorf("%w: never read", ErrFeedStale)
	}
	if age := now.Sub(v.lastOK); age > v.cfg.MaxFeedStaleness {
		if v.lastErr != nil {
			return fmt.Errorf("%w: last read %s ago: %v", ErrFeedStale, age, v.lastErr)
		}
		return fmt.Errorf("%w: last read %s ago", ErrFeedStale, age)
	}
	return nil
}

// header is what Verify reads from the protected header.
type header struct {
	alg, kid, typ string
}

// verifyJWS checks a compact JWS: alg allowed, typ as wanted, kid known, the
// key's alg equal to the header's, the signature. It returns the payload.
func (v *Verifier) verifyJWS(ctx context.Context, raw, wantTyp string) ([]byte, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 || sigs[0].ProtectedHeaders() == nil {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	ph := sigs[0].ProtectedHeaders()
	var h header
	if a, ok := ph.Algorithm(); ok {
		h.alg = a.String()
	}
	h.kid, _ = ph.KeyID()
	h.typ, _ = ph.Type()
	if !slices.Contains(v.cfg.Algorithms, h.alg) {
		return nil, fmt.Errorf("%w: alg %q not allowed", ErrInvalidToken, h.alg)
	}
	if !typeIs(h.typ, wantTyp) {
		return nil, fmt.Errorf("%w: typ %q, want %s", ErrInvalidToken, h.typ, wantTyp)
	}
	if h.kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	key, err := v.keys.get(ctx, h.kid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	ka, ok := key.Algorithm()
	if !ok || ka.String() != h.alg {
		return nil, fmt.Errorf("%w: alg %s is not key %s's alg", ErrInvalidToken, h.alg, h.kid)
	}
	alg, _ := jwa.LookupSignatureAlgorithm(h.alg)
	payload, err := jws.Verify([]byte(raw), jws.WithKey(alg, key))
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrInvalidToken, err)
	}
	return payload, nil
}

// typeIs compares typ values as RFC 8725 suggests: case-insensitively, with
// or without the "application/" prefix.
func typeIs(got, want string) bool {
	got = strings.ToLower(got)
	return got == want || got == "application/"+want
}

// tokenClaims is the wire form of the claims Verify reads.
type tokenClaims struct {
	Iss         string          `json:"iss"`
	Sub         string          `json:"sub"`
	Aud         json.RawMessage `json:"aud"`
	Exp         *float64        `json:"exp"`
	Nbf         *float64        `json:"nbf"`
	Iat         *float64        `json:"iat"`
	SID         string          `json:"sid"`
	Roles       []string        `json:"roles"`
	Permissions []string        `json:"permissions"`
	Username    string          `json:"username"`
	Email       string          `json:"email"`
	Resources   []string        `json:"resources"`
	AMR         []string        `json:"amr"`
	ClientID    string          `json:"client_id"`
	Scope       string          `json:"scope"`
}

func numericDate(f *float64) time.Time {
	if f == nil {
		return time.Time{}
	}
	sec := int64(*f)
	return time.Unix(sec, int64((*f-float64(sec))*1e9)).UTC()
}

func audience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// Verify checks an access token (a user's or a service client's) and returns
// its claims: the signature by the kid's key from the JWKS, alg, typ at+jwt,
// iss, aud, exp and nbf with leeway, a client_id equal to the sub, then that
// its session (or client secret) is not revoked and the feed is fresh.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	payload, err := v.verifyJWS(ctx, raw, AccessTokenType)
	if err != nil {
		return nil, err
	}
	var tc tokenClaims
	if err := json.Unmarshal(payload, &tc); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	aud, err := audience(tc.Aud)
	if err != nil {
		return nil, fmt.Errorf("%w: aud: %v", ErrInvalidToken, err)
	}
	if tc.Iss != v.cfg.Issuer {
		return nil, fmt.Errorf("%w: iss %q", ErrInvalidToken, tc.Iss)
	}
	if !slices.Contains(aud, v.cfg.Audience) {
		return nil, fmt.Errorf("%w: aud %q does not contain %q", ErrInvalidToken, aud, v.cfg.Audience)
	}
	now := v.cfg.Now()
	if tc.Exp == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	exp := numericDate(tc.Exp)
	if !now.Before(exp.Add(v.cfg.Leeway)) {
		return nil, fmt.Errorf("%w: at %s", ErrExpired, exp.Format(time.RFC3339))
	}
	if tc.Nbf != nil && now.Add(v.cfg.Leeway).Before(numericDate(tc.Nbf)) {
		return nil, fmt.Errorf("%w: not valid before %s", ErrInvalidToken, numericDate(tc.Nbf).Format(time.RFC3339))
	}
	if tc.Sub == "" || tc.SID == "" {
		return nil, fmt.Errorf("%w: no sub or sid", ErrInvalidToken)
	}
	// A service token's sub is its client (authsvc's own check too): one
	// whose client_id names another is not authsvc's.
	if tc.ClientID != "" && tc.ClientID != tc.Sub {
		return nil, fmt.Errorf("%w: client_id %q is not the sub", ErrInvalidToken, tc.ClientID)
	}
	if v.cfg.FeedURL != "" {
		v.mu.Lock()
		stale := v.staleLocked(now)
		_, revoked := v.revoked[tc.SID]
		v.mu.Unlock()
		if revoked {
			return nil, fmt.Errorf("%w: session %s", ErrRevoked, tc.SID)
		}
		if stale != nil {
			return nil, stale
		}
	}
	return &Claims{
		Subject: tc.Sub, SessionID: tc.SID, Roles: tc.Roles, Permissions: tc.Permissions,
		Username: tc.Username, Email: tc.Email, Resources: tc.Resources, AMR: tc.AMR,
		ClientID: tc.ClientID, Scope: tc.Scope, Issuer: tc.Iss, Audience: aud, ExpiresAt: exp, IssuedAt: numericDate(tc.Iat), Raw: all,
	}, nil
}
