package federation

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authsvc/authsvc/config"
)

// rediscoverAfter is how long a failed discovery is trusted before the next
// use of the provider tries again.
const rediscoverAfter = time.Second

// signingAlgs are the ID token algorithms accepted: every asymmetric one
// go-oidc knows, whether or not discovery lists them (many providers list
// none, and go-oidc would then take RS256 alone). Never "none", never HMAC:
// a key must be the provider's public one.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// oidcProvider is an OpenID Connect provider found by discovery.
type oidcProvider struct {
	cfg         config.Provider
	callbackURL string
	client      *http.Client
	now         func() time.Time
	log         *slog.Logger

	found   atomic.Pointer[discovered]
	mu      sync.Mutex // one discovery at a time
	lastTry time.Time
}

// discovered is what discovery gave: endpoints, keys, the verifier of ID tokens.
type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDC(cfg config.Provider, callbackURL string, client *http.Client, now func() time.Time, log *slog.Logger) *oidcProvider {
	return &oidcProvider{cfg: cfg, callbackURL: callbackURL, client: client, now: now, log: log}
}

func (p *oidcProvider) Config() config.Provider { return p.cfg }

// discover fetches the provider's metadata once it can: until then every
// use tries again, at most every rediscoverAfter, and answers ErrUnavailable.
func (p *oidcProvider) discover(ctx context.Context) (*discovered, error) {
	if d := p.found.Load(); d != nil {
		return d, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.found.Load(); d != nil {
		return d, nil
	}
	if now := p.now(); !p.lastTry.IsZero() && now.Sub(p.lastTry) < rediscoverAfter {
		return nil, ErrUnavailable
	} else {
		p.lastTry = now
	}
	// Not the request's context: the provider keeps it to fetch its keys later.
	op, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), p.client), p.cfg.Issuer)
	if err != nil {
		p.log.WarnContext(ctx, "identity provider discovery failed; retried on its next use",
			"provider", p.cfg.Name, "issuer", p.cfg.Issuer, "error", err)
		return nil, ErrUnavailable
	}
	d := &discovered{
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			Endpoint: op.Endpoint(), RedirectURL: p.callbackURL, Scopes: p.cfg.Scopes,
		},
		// The audience is checked here (accepts), against more than one client id.
		verifier: op.Verifier(&oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: signingAlgs, Now: p.now}),
	}
	p.found.Store(d)
	p.log.InfoContext(ctx, "identity provider discovered", "provider", p.cfg.Name, "issuer", p.cfg.Issuer)
	return d, nil
}

func (p *oidcProvider) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return d.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

func (p *oidcProvider) Redeem(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := d.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, callError(err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: the token response holds no id_token", ErrProvider)
	}
	id, err := p.verify(ctx, d, raw, []string{p.cfg.ClientID}, func(got string) bool { return equal(got, nonce) })
	if errors.Is(err, ErrInvalidIDToken) {
		return nil, fmt.Errorf("%w: %v", ErrProvider, err)
	}
	return id, err
}

func (p *oidcProvider) VerifyIDToken(ctx context.Context, raw, nonce string) (*Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	hashed := sha256.Sum256([]byte(nonce))
	return p.verify(ctx, d, raw, append([]string{p.cfg.ClientID}, p.cfg.Audiences...), func(got string) bool {
		if got == "" { // a token without a nonce, unless the app expected one
			return nonce == ""
		}
		// Apple's and Google's SDKs put the app's nonce, or its SHA-256, in the token.
		return nonce != "" && (equal(got, nonce) || equal(got, hex.EncodeToString(hashed[:])))
	})
}

// verify checks raw's signature (the provider's keys), iss and exp (go-oidc),
// that aud holds one of audiences, and that nonceOK accepts its nonce ("" for none).
func (p *oidcProvider) verify(ctx context.Context, d *discovered, raw string, audiences []string, nonceOK func(string) bool) (*Identity, error) {
	if len(raw) > maxIDToken {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidIDToken, maxIDToken)
	}
	tok, err := d.verifier.Verify(oidc.ClientContext(ctx, p.client), raw)
	if err != nil {
		// go-oidc wraps its key fetch's failure as text only.
		if strings.Contains(err.Error(), "fetching keys") {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidIDToken, err)
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, fmt.Errorf("%w: audience %q is not this service's", ErrInvalidIDToken, tok.Audience)
	}
	if !nonceOK(tok.Nonce) {
		return nil, fmt.Errorf("%w: wrong nonce", ErrInvalidIDToken)
	}
	if tok.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalidIDToken)
	}
	var c struct {
		Email             string          `json:"email"`
		EmailVerified     json.RawMessage `json:"email_verified"`
		PreferredUsername string          `json:"preferred_username"`
		GivenName         string          `json:"given_name"`
		FamilyName        string          `json:"family_name"`
		Name              string          `json:"name"`
	}
	if err := tok.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidIDToken, err)
	}
	return &Identity{
		Subject: tok.Subject, Email: c.Email, EmailVerified: trueClaim(c.EmailVerified),
		Username: c.PreferredUsername, GivenName: c.GivenName, FamilyName: c.FamilyName, Name: c.Name,
	}, nil
}

// maxIDToken bounds an ID token worth parsing.
const maxIDToken = 16 << 10

// equal compares a nonce in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// trueClaim reads a boolean claim that some providers (Apple) send as a string.
func trueClaim(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == "true"
}

// callError sorts a failed call to a provider: no answer in time is
// ErrUnavailable, a wrong answer (a refused code, garbage) ErrProvider.
func callError(err error) error {
	var refused *oauth2.RetrieveError
	var netErr net.Error
	switch {
	case errors.As(err, &refused) && refused.Response != nil && refused.Response.StatusCode >= 500:
		return fmt.Errorf("%w: %s", ErrUnavailable, refused.Response.Status)
	case errors.As(err, &refused):
		return fmt.Errorf("%w: %s %s", ErrProvider, refused.ErrorCode, refused.ErrorDescription)
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %v", ErrProvider, err)
}
