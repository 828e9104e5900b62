package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// Sign-in with an external identity provider, in the contract's steps: the
// app asks to authorize (with its redirect URI and PKCE challenge), the
// provider sends the browser back to the callback, the callback gives the app
// a one-time code, and the app exchanges it (with its verifier) for tokens.
// Native apps post the provider's ID token instead. States and codes live in
// the database as MACs, so any instance finishes a flow.

// How long each step may take.
const (
	ProviderStateTTL = 10 * time.Minute // authorize → callback
	ProviderCodeTTL  = 5 * time.Minute  // callback → exchange
)

// MAC purposes of the flow's secrets: the state and the code are stored as
// MACs; the nonce and the PKCE verifier sent to the provider are MACs of the
// state, so nothing of them is stored at all.
const (
	providerStatePurpose    = "provider-state"
	providerNoncePurpose    = "provider-nonce"
	providerVerifierPurpose = "provider-pkce-verifier"
	providerCodePurpose     = "provider-code"
)

// maxFlowToken is the longest state, code or verifier worth looking up.
const maxFlowToken = 256

// WithProviders turns sign-in with external identity providers on: set's
// providers, sending apps back only to redirectURLs.
func WithProviders(set *federation.Set, redirectURLs []string) Option {
	return func(s *Service) { s.providers, s.redirectURLs = set, redirectURLs }
}

// AppRedirect is where an app asks to be sent back after the provider, with
// its PKCE challenge (S256), which the one-time code is bound to.
type AppRedirect struct {
	URI, CodeChallenge string
}

// Providers lists the configured providers.
func (s *Service) Providers() []federation.Provider { return s.providers.List() }

func (s *Service) provider(name string) (federation.Provider, error) {
	return s.providers.Get(name)
}

// ProviderConfig is the configuration of provider name, or
// federation.ErrUnknownProvider: handlers ask first, so an unknown provider
// is 404 before any input is read.
func (s *Service) ProviderConfig(name string) (config.Provider, error) {
	p, err := s.provider(name)
	if err != nil {
		return config.Provider{}, err
	}
	return p.Config(), nil
}

func (s *Service) checkRedirect(app AppRedirect) error {
	if !slices.Contains(s.redirectURLs, app.URI) {
		return ErrInvalidRedirectURI
	}
	return nil
}

// ProviderAuthorize starts a sign-in with the provider name: the URL to send
// the browser to.
func (s *Service) ProviderAuthorize(ctx context.Context, name string, app AppRedirect, client audit.Client) (string, error) {
	p, err := s.provider(name)
	if err != nil {
		return "", err
	}
	if err := s.checkRedirect(app); err != nil {
		return "", err
	}
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return "", err
	}
	return s.startFlow(ctx, p, app, nil)
}

// startFlow records a flow with p (for linking: to the account userID) and
// returns the provider's URL for it. A provider out of reach writes nothing.
func (s *Service) startFlow(ctx context.Context, p federation.Provider, app AppRedirect, userID *uuid.UUID) (string, error) {
	state := secret.Token()
	to, err := p.AuthCodeURL(ctx, state, s.flowSecret(providerNoncePurpose, state), s.flowSecret(providerVerifierPurpose, state))
	if err != nil {
		return "", err
	}
	now := s.now()
	err = s.store.CreateProviderFlow(ctx, &models.ProviderFlow{
		ID: uuid.Must(uuid.NewV7()), StateHash: s.secret.MAC(providerStatePurpose, []byte(state)),
		Provider: p.Config().Name, UserID: userID, RedirectURI: app.URI, CodeChallenge: app.CodeChallenge,
		CreatedAt: now, ExpiresAt: now.Add(ProviderStateTTL),
	})
	return to, err
}

// flowSecret derives a secret of the flow from its state (43 characters of
// base64url: a valid PKCE verifier, and a nonce).
func (s *Service) flowSecret(purpose, state string) string {
	return base64.RawURLEncoding.EncodeToString(s.secret.MAC(purpose, []byte(state)))
}

// Callback is what the provider sent the browser back with: a code and the
// state, or an error (OAuth 2.0's error parameter).
type Callback struct {
	Code, State, Error string
}

// Redirect errors: what the app reads in ?error= after a callback.
const (
	RedirectAccessDenied     = "access_denied"
	RedirectProviderError    = "provider_error"
	RedirectIdentityConflict = "identity_conflict"
	RedirectIdentityTaken    = "identity_taken"
	RedirectSignupDisabled   = "signup_disabled"
	RedirectEmailRequired    = "email_required"
	RedirectAccountDisabled  = "account_disabled"
	RedirectAccountPending   = "account_pending"
	RedirectEmailUnverified  = "email_unverified"
	RedirectSignupDenied     = "signup_denied" // the signup hook said no; error_description is its reason
)

// redirectErrors are the domain errors a callback reports to the app rather than to the browser.
var redirectErrors = []struct {
	err  error
	code string
}{
	{ErrIdentityConflict, RedirectIdentityConflict},
	{ErrIdentityTaken, RedirectIdentityTaken},
	{ErrSignupDisabled, RedirectSignupDisabled},
	{ErrEmailRequired, RedirectEmailRequired},
	{ErrAccountDisabled, RedirectAccountDisabled},
	{ErrAccountPending, RedirectAccountPending},
	{ErrEmailUnverified, RedirectEmailUnverified},
	{ErrCallerGone, RedirectAccessDenied},
	{federation.ErrProvider, RedirectProviderError},
	{federation.ErrUnavailable, RedirectProviderError},
}

// ProviderCallback finishes the provider's part of a flow and says where the
// browser goes next: the app's redirect URI with ?code= (a sign-in),
// ?linked=<name> (a link) or ?error=<code>. ErrInvalidState when the state is
// unknown, used or expired: there is nowhere to send the browser.
func (s *Service) ProviderCallback(ctx context.Context, name string, cb Callback, client audit.Client) (string, error) {
	p, err := s.provider(name)
	if err != nil {
		return "", err
	}
	if cb.State == "" || len(cb.State) > maxFlowToken {
		return "", ErrInvalidState
	}
	f, err := s.store.UseProviderFlow(ctx, s.secret.MAC(providerStatePurpose, []byte(cb.State)), s.now())
	if err != nil {
		return "", notFound(err, ErrInvalidState)
	}
	if f.Provider != name {
		return "", ErrInvalidState
	}
	back, err := s.callback(ctx, p, f, cb, client)
	if denied := (*SignupDeniedError)(nil); errors.As(err, &denied) { // the signup hook's refusal, and why
		s.log.InfoContext(ctx, "provider sign-up denied by the signup hook", "provider", name)
		why := denied.Reason
		if why == "" {
			why = redirectDescriptions[RedirectSignupDenied]
		}
		return appURL(f.RedirectURI, url.Values{"error": {RedirectSignupDenied}, "error_description": {why}}), nil
	}
	for _, row := range redirectErrors {
		if errors.Is(err, row.err) {
			s.log.InfoContext(ctx, "provider sign-in refused", "provider", name, "error", err)
			return appURL(f.RedirectURI, url.Values{"error": {row.code}, "error_description": {redirectDescriptions[row.code]}}), nil
		}
	}
	if err != nil {
		return "", err
	}
	return appURL(f.RedirectURI, back), nil
}

// callback is ProviderCallback once the flow is known: the query to send the app.
func (s *Service) callback(ctx context.Context, p federation.Provider, f *models.ProviderFlow, cb Callback, client audit.Client) (url.Values, error) {
	name := p.Config().Name
	switch {
	case cb.Error == RedirectAccessDenied:
		return url.Values{"error": {RedirectAccessDenied}, "error_description": {redirectDescriptions[RedirectAccessDenied]}}, nil
	case cb.Error != "" || cb.Code == "":
		return nil, federation.ErrProvider
	}
	id, err := p.Redeem(ctx, cb.Code, s.flowSecret(providerVerifierPurpose, cb.State), s.flowSecret(providerNoncePurpose, cb.State))
	if err != nil {
		return nil, err
	}
	if f.UserID != nil {
		if err := s.linkIdentity(ctx, *f.UserID, name, id, client); err != nil {
			return nil, err
		}
		return url.Values{"linked": {name}}, nil
	}
	u, identityID, err := s.resolveIdentity(ctx, p.Config(), id, client)
	if err != nil {
		return nil, err
	}
	if err := s.loginAllowed(u); err != nil {
		return nil, err
	}
	code := secret.Token()
	now := s.now()
	err = s.store.CreateProviderCode(ctx, &models.ProviderCode{
		ID: uuid.Must(uuid.NewV7()), CodeHash: s.secret.MAC(providerCodePurpose, []byte(code)),
		UserID: u.ID, IdentityID: identityID, CodeChallenge: f.CodeChallenge,
		CreatedAt: now, ExpiresAt: now.Add(ProviderCodeTTL),
	})
	return url.Values{"code": {code}}, err
}

// redirectDescriptions explain each redirect error to the app's developer.
var redirectDescriptions = map[string]string{
	RedirectSignupDenied:     "The sign-up was refused.",
	RedirectAccessDenied:     "The sign-in was cancelled at the provider, or the account is gone.",
	RedirectProviderError:    "The provider could not be reached or gave an answer that does not verify.",
	RedirectIdentityConflict: "An account with this email address exists; sign in to it and link the provider from the account.",
	RedirectIdentityTaken:    "That identity is linked to another account.",
	RedirectSignupDisabled:   "No account is linked to this identity, and sign-up through this provider is off.",
	RedirectEmailRequired:    "The provider gave no usable email address.",
	RedirectAccountDisabled:  "The account is disabled.",
	RedirectAccountPending:   "The account awaits approval by an administrator.",
	RedirectEmailUnverified:  "Confirm the account's email address first.",
}

// appURL is the app's redirect URI with q added to its query.
func appURL(redirectURI string, q url.Values) string {
	u, err := url.Parse(redirectURI) // one of REDIRECT_URLS: validated at start-up
	if err != nil {
		return redirectURI
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	return u.String()
}

// ProviderExchange spends a callback's one-time code, with the verifier of
// the app's code challenge, for a login: tokens, or the second step of an
// account with TOTP on. ErrInvalidGrant for an unknown, used or expired code
// or a verifier that does not match (the code is spent either way).
func (s *Service) ProviderExchange(ctx context.Context, code, verifier string, client audit.Client) (*Session, error) {
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	if code == "" || len(code) > maxFlowToken || len(verifier) > maxFlowToken {
		return nil, ErrInvalidGrant
	}
	c, err := s.store.UseProviderCode(ctx, s.secret.MAC(providerCodePurpose, []byte(code)), s.now())
	if err != nil {
		return nil, notFound(err, ErrInvalidGrant)
	}
	sum := sha256.Sum256([]byte(verifier))
	if !secret.Equal(c.CodeChallenge, base64.RawURLEncoding.EncodeToString(sum[:])) {
		return nil, ErrInvalidGrant
	}
	return s.federatedLogin(ctx, c.UserID, c.IdentityID, ErrInvalidGrant, client)
}

// ProviderIDToken is a native app's sign-in with an ID token it got from the
// provider's own SDK (and the nonce it gave the SDK, if any).
func (s *Service) ProviderIDToken(ctx context.Context, name, idToken, nonce string, client audit.Client) (*Session, error) {
	p, err := s.provider(name)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	id, err := p.VerifyIDToken(ctx, idToken, nonce)
	if err != nil {
		if errors.Is(err, federation.ErrInvalidIDToken) {
			s.log.InfoContext(ctx, "ID token refused", "provider", name, "error", err)
		}
		return nil, err
	}
	u, identityID, err := s.resolveIdentity(ctx, p.Config(), id, client)
	if err != nil {
		return nil, err
	}
	return s.federatedLogin(ctx, u.ID, identityID, federation.ErrInvalidIDToken, client)
}

// federatedLogin completes a sign-in with the user's identity: the account's
// status, its lockout, approval and TOTP apply as for a password. gone is
// the error when the account or the identity went away meanwhile.
func (s *Service) federatedLogin(ctx context.Context, userID, identityID uuid.UUID, gone error, client audit.Client) (*Session, error) {
	now := s.now()
	out := &Session{}
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, userID)
		if err != nil {
			return notFound(err, gone)
		}
		ident, err := tx.Identity(ctx, userID, identityID)
		if err != nil {
			return notFound(err, gone) // unlinked meanwhile
		}
		if err := lockedError(lockoutOf(&cur.User), now); err != nil {
			return err
		}
		if err := s.loginAllowed(&cur.User); err != nil {
			return err
		}
		how := method{AMR: []string{models.AMRFederated}, FactorID: ident.ID, IDP: ident.Provider}
		if cur.TOTPEnabled() {
			out.SecondStep, err = s.startSecondStep(ctx, tx, userID, false, how, now)
			return err
		}
		out, err = s.startSession(ctx, tx, userID, false, how, client, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
