// Package federation speaks to external identity providers: any OpenID
// Connect provider (discovery, the authorization code flow with PKCE, ID
// tokens verified by go-oidc) and GitHub (OAuth 2.0 and its user API). It
// says who signed in; which account that is, is the accounts package's to decide.
package federation

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/authsvc/authsvc/config"
)

var (
	// ErrUnknownProvider: no provider of that name is configured.
	ErrUnknownProvider = errors.New("federation: unknown provider")
	// ErrUnavailable: the provider could not be reached in time, or its
	// discovery has not succeeded yet (503 provider_unavailable).
	ErrUnavailable = errors.New("federation: provider unavailable")
	// ErrProvider: the provider answered, but not as it should: a refused
	// code, garbage, an ID token that does not verify (provider_error).
	ErrProvider = errors.New("federation: provider error")
	// ErrInvalidIDToken: an ID token a native app posted does not verify.
	ErrInvalidIDToken = errors.New("federation: invalid ID token")
	// ErrNoIDTokens: the provider (GitHub) issues no ID tokens.
	ErrNoIDTokens = errors.New("federation: provider issues no ID tokens")
)

// Identity is what a provider says of the person who signed in.
type Identity struct {
	Subject       string // the provider's stable id of the person
	Email         string // "" when the provider gives none
	EmailVerified bool
	Username      string // preferred_username, or GitHub's login
	GivenName     string
	FamilyName    string
	Name          string // the whole name, when given and family names are not
}

// Provider is one configured identity provider.
type Provider interface {
	Config() config.Provider
	// AuthCodeURL is where the browser signs in: the provider's authorization
	// endpoint with state, nonce (OpenID Connect) and the S256 challenge of verifier.
	AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Redeem exchanges the code the provider sent back (with the verifier)
	// and says who signed in; an ID token must carry nonce.
	Redeem(ctx context.Context, code, verifier, nonce string) (*Identity, error)
	// VerifyIDToken checks an ID token a native app got from the provider's
	// own SDK: aud the client id or one of the audiences; when it carries a
	// nonce, nonce must be it or its hex SHA-256 must.
	VerifyIDToken(ctx context.Context, raw, nonce string) (*Identity, error)
}

// Options are what every provider shares.
type Options struct {
	// CallbackURL is where provider name sends the browser back.
	CallbackURL func(name string) string
	// Timeout bounds each call to a provider (default 10 s).
	Timeout time.Duration
	// Transport makes the calls (default http.DefaultTransport): tests trust their servers with it.
	Transport http.RoundTripper
	Now       func() time.Time
	Log       *slog.Logger
}

// DefaultTimeout bounds a call to a provider: a slow one answers 503, it does not hold requests.
const DefaultTimeout = 10 * time.Second

// Set is the configured providers, in the order AUTH_PROVIDERS lists them.
type Set struct {
	list   []Provider
	byName map[string]Provider
}

// New builds the providers of cfgs. Nothing is fetched yet: Start does that.
func New(cfgs []config.Provider, o Options) *Set {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	client := &http.Client{Timeout: o.Timeout, Transport: o.Transport,
		// A provider's API answers; it does not send us elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s := &Set{byName: map[string]Provider{}}
	for _, c := range cfgs {
		var p Provider
		switch c.Type {
		case config.ProviderGitHub:
			p = newGitHub(c, o.CallbackURL(c.Name), client)
		default:
			p = newOIDC(c, o.CallbackURL(c.Name), client, o.Now, o.Log)
		}
		s.list = append(s.list, p)
		s.byName[c.Name] = p
	}
	return s
}

// Start begins each OpenID Connect provider's discovery in the background;
// a provider that cannot be reached yet is tried again when it is next used.
func (s *Set) Start(ctx context.Context) {
	for _, p := range s.list {
		if o, ok := p.(*oidcProvider); ok {
			go func() { _, _ = o.discover(ctx) }()
		}
	}
}

// Get is the provider named name, or ErrUnknownProvider.
func (s *Set) Get(name string) (Provider, error) {
	if s != nil {
		if p, ok := s.byName[name]; ok {
			return p, nil
		}
	}
	return nil, ErrUnknownProvider
}

// List is every provider, in configuration order.
func (s *Set) List() []Provider {
	if s == nil {
		return nil
	}
	return s.list
}
