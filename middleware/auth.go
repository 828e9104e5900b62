// Package middleware holds authsvc's Echo middleware: authentication, permission
// checks, request ids and the access log.
package middleware

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/pat"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

const (
	credentialKey = "authsvc.credential"
	principalKey  = "authsvc.principal"
	liveKey       = "authsvc.live"
)

// Verifier checks an access token's signature and claims.
type Verifier interface {
	Verify(tok string) (*token.Claims, error)
}

// BearerToken returns the token of an "Authorization: Bearer" header, or "".
// Tokens are read from this header only: never from a query or a cookie.
func BearerToken(c echo.Context) string {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Kind is what a bearer token is.
type Kind int

const (
	// SessionToken: a user's access token, live while its session is.
	SessionToken Kind = iota
	// ServiceToken: a service client's access token (client credentials),
	// live while the client is enabled and the secret it was issued with good.
	ServiceToken
	// PersonalToken: a user's personal access token (opaque, authsvc_pat_…).
	PersonalToken
)

// Credential is what a live bearer token proves.
type Credential struct {
	Kind Kind
	// Claims are the access token's; a personal token's are made from it: sub
	// its user, sid its id, amr ["pat"], iat and exp its creation and expiry.
	Claims *token.Claims
	// Granted limits a service or personal token to these permissions (still
	// to be met by its holder's current ones); nil for a session.
	Granted []string
	// Client is a service token's client, as it is now.
	Client *store.ServiceClient
}

// Live checks bearer tokens — access tokens and their sessions, service
// tokens and their clients, personal access tokens — and loads accounts:
// through the cache when there is one (authcache), else from the database
// each time.
type Live struct {
	Verifier Verifier
	Store    *store.Store
	Cache    *authcache.Cache // nil: no caching
	Secret   *secret.Key      // keys the MACs of personal access tokens
	// Issuer and Audience go into the claims made from a personal token.
	Issuer, Audience string
	Now              func() time.Time
}

// Authenticate verifies the bearer token, or fails with 401.
func (l *Live) Authenticate(c echo.Context) (*Credential, error) {
	raw := BearerToken(c)
	if raw == "" {
		return nil, problem.ErrMissingToken
	}
	return l.Verify(c.Request().Context(), raw)
}

// Verify checks a bearer token. An access token's signature and claims are
// checked, then its session (or, for a service token, its client): a revoked
// or expired session, or a disabled or deleted client, refuses its tokens at
// once, whatever their exp. A personal access token is looked up by its MAC.
// Errors are problems (401) for the token, and the database's own.
func (l *Live) Verify(ctx context.Context, raw string) (*Credential, error) {
	if pat.Is(raw) {
		return l.personal(ctx, raw)
	}
	claims, err := l.claims(raw)
	if err != nil {
		return nil, err
	}
	sid, err1 := uuid.Parse(claims.SessionID)
	sub, err2 := uuid.Parse(claims.Subject)
	if err1 != nil || err2 != nil {
		return nil, problem.ErrInvalidToken
	}
	if claims.IsService() {
		return l.service(ctx, claims, sub, sid)
	}
	sess, err := l.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrRevoked
	}
	if err != nil {
		return nil, err
	}
	if sess.UserID != sub || sess.RevokedAt != nil || !l.Now().Before(sess.ExpiresAt) {
		return nil, problem.ErrRevoked
	}
	return &Credential{Kind: SessionToken, Claims: claims}, nil
}

// service checks a service token's client: it exists, is enabled, and the
// secret the token was issued with (its sid) is still good.
func (l *Live) service(ctx context.Context, claims *token.Claims, clientID, sid uuid.UUID) (*Credential, error) {
	sc, err := l.Client(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrRevoked
	}
	if err != nil {
		return nil, err
	}
	if sc.Disabled || !sc.LiveSecret(sid, l.Now()) {
		return nil, problem.ErrRevoked
	}
	return &Credential{Kind: ServiceToken, Claims: claims, Granted: orNone(claims.Permissions), Client: sc}, nil
}

// personal checks a personal access token: it exists and has not expired.
// Its use is recorded at most once a minute.
func (l *Live) personal(ctx context.Context, raw string) (*Credential, error) {
	var gen uint64 // before the read: a put after an invalidation is dropped
	if l.Cache != nil {
		gen = l.Cache.Generation()
	}
	pt, err := l.personalToken(ctx, gen, raw)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	now := l.Now()
	if !now.Before(pt.ExpiresAt) {
		return nil, problem.ErrExpiredToken
	}
	if pt.LastUsedAt == nil || now.Sub(*pt.LastUsedAt) >= time.Minute {
		if _, err := l.Store.TouchPersonalToken(ctx, pt.ID, now); err != nil {
			return nil, err
		}
		if l.Cache != nil { // this instance need not try again for a minute
			pt.LastUsedAt = &now
			l.Cache.PutPersonalToken(gen, raw, pt)
		}
	}
	claims := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: l.Issuer, Audience: jwt.ClaimStrings{l.Audience}, Subject: pt.UserID.String(), ID: pt.ID.String(),
			IssuedAt: jwt.NewNumericDate(pt.CreatedAt), NotBefore: jwt.NewNumericDate(pt.CreatedAt),
			ExpiresAt: jwt.NewNumericDate(pt.ExpiresAt),
		},
		SessionID: pt.ID.String(), AMR: []string{models.AMRPAT},
	}
	return &Credential{Kind: PersonalToken, Claims: claims, Granted: orNone(strings.Fields(pt.Permissions))}, nil
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// personalToken reads the personal access token raw stands for, caching
// what it read at generation gen; the result is a copy.
func (l *Live) personalToken(ctx context.Context, gen uint64, raw string) (models.PersonalToken, error) {
	if l.Cache != nil {
		if pt, ok := l.Cache.PersonalToken(raw); ok {
			return pt, nil
		}
	}
	pt, err := l.Store.PersonalTokenByHash(ctx, pat.MAC(l.Secret, raw))
	if err != nil {
		return models.PersonalToken{}, err
	}
	if l.Cache != nil {
		l.Cache.PutPersonalToken(gen, raw, *pt)
	}
	return *pt, nil
}

// Client loads a service client with its secrets; the result is shared, read-only.
func (l *Live) Client(ctx context.Context, id uuid.UUID) (*store.ServiceClient, error) {
	if l.Cache != nil {
		if sc, ok := l.Cache.Client(id); ok {
			return sc, nil
		}
	}
	var gen uint64
	if l.Cache != nil {
		gen = l.Cache.Generation()
	}
	sc, err := l.Store.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.Cache != nil {
		l.Cache.PutClient(gen, sc)
	}
	return sc, nil
}

// claims verifies the token's signature and claims, once per token while it lasts.
func (l *Live) claims(raw string) (*token.Claims, error) {
	if l.Cache != nil {
		if claims, ok := l.Cache.Token(raw); ok {
			return claims, nil
		}
	}
	claims, err := l.Verifier.Verify(raw)
	if errors.Is(err, token.ErrExpired) {
		return nil, problem.ErrExpiredToken
	}
	if err != nil {
		return nil, problem.ErrInvalidToken
	}
	if l.Cache != nil {
		l.Cache.PutToken(raw, claims)
	}
	return claims, nil
}

// Session reads a session; the result is a copy.
func (l *Live) Session(ctx context.Context, id uuid.UUID) (models.Session, error) {
	if l.Cache == nil {
		s, err := l.Store.SessionByID(ctx, id)
		if err != nil {
			return models.Session{}, err
		}
		return *s, nil
	}
	if s, ok := l.Cache.Session(id); ok {
		return s, nil
	}
	gen := l.Cache.Generation()
	s, err := l.Store.SessionByID(ctx, id)
	if err != nil {
		return models.Session{}, err
	}
	l.Cache.PutSession(gen, *s)
	return *s, nil
}

// Account loads a user with its grants; the result is shared, read-only.
func (l *Live) Account(ctx context.Context, id uuid.UUID) (*store.Account, error) {
	if l.Cache != nil {
		if a, ok := l.Cache.Account(id); ok {
			return a, nil
		}
	}
	var gen uint64
	if l.Cache != nil {
		gen = l.Cache.Generation()
	}
	a, err := l.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.Cache != nil {
		l.Cache.PutAccount(gen, a)
	}
	return a, nil
}

// RequireAuth admits requests with a live bearer token: an access token of a
// live session, a service token, or a personal access token.
func RequireAuth(l *Live) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cred, err := l.Authenticate(c)
			if err != nil {
				return err
			}
			c.Set(credentialKey, cred)
			c.Set(liveKey, l)
			return next(c)
		}
	}
}

// CredentialOf returns the credential RequireAuth stored (nil before it).
func CredentialOf(c echo.Context) *Credential {
	cred, _ := c.Get(credentialKey).(*Credential)
	return cred
}

// Claims returns the verified claims RequireAuth stored.
func Claims(c echo.Context) *token.Claims {
	if cred := CredentialOf(c); cred != nil {
		return cred.Claims
	}
	return nil
}

// UserID is the signed-in user's id (uuid.Nil for a service token).
func UserID(c echo.Context) uuid.UUID {
	if cred := CredentialOf(c); cred != nil && cred.Kind != ServiceToken {
		id, _ := uuid.Parse(cred.Claims.Subject)
		return id
	}
	return uuid.Nil
}

// SessionID is the signed-in session's id (uuid.Nil for a service or personal token).
func SessionID(c echo.Context) uuid.UUID {
	if cred := CredentialOf(c); cred != nil && cred.Kind == SessionToken {
		id, _ := uuid.Parse(cred.Claims.SessionID)
		return id
	}
	return uuid.Nil
}

// Account is the signed-in user's current record, loaded once per request;
// for a service token, the problem session_required. Use after RequireAuth.
func Account(c echo.Context) (*store.Account, error) {
	p, err := Principal(c)
	if err != nil {
		return nil, err
	}
	if p.Account == nil {
		return nil, problem.ErrSessionRequired
	}
	return p.Account, nil
}

// Principal is who the request acts as, for the policy, loaded once per
// request. Use after RequireAuth.
func Principal(c echo.Context) (policy.Principal, error) {
	if p, ok := c.Get(principalKey).(policy.Principal); ok {
		return p, nil
	}
	l, _ := c.Get(liveKey).(*Live)
	cred := CredentialOf(c)
	if l == nil || cred == nil {
		return policy.Principal{}, problem.ErrMissingToken
	}
	p, err := l.Principal(c.Request().Context(), cred)
	if err != nil {
		return p, err
	}
	c.Set(principalKey, p)
	return p, nil
}

// Principal is who a live credential acts as: the signed-in account; a
// personal token's user, limited to what both the token and the user hold
// now; a service client, limited to what was granted and it still holds. A
// personal token dies with its user's account (deleted, or no longer
// active): ErrRevoked.
func (l *Live) Principal(ctx context.Context, cred *Credential) (policy.Principal, error) {
	if cred.Kind == ServiceToken {
		return policy.Principal{Client: cred.Client, Scoped: true, Scope: Intersect(cred.Granted, cred.Client.PermissionList())}, nil
	}
	id, _ := uuid.Parse(cred.Claims.Subject) // Verify checked it
	acct, err := l.Account(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Principal{}, problem.ErrRevoked
	}
	if err != nil {
		return policy.Principal{}, err
	}
	if cred.Kind == PersonalToken {
		if acct.Status != models.StatusActive {
			return policy.Principal{}, problem.ErrRevoked
		}
		return policy.Principal{Account: acct, Scoped: true, Scope: Intersect(cred.Granted, acct.Permissions)}, nil
	}
	return policy.Principal{Account: acct}, nil
}

// Intersect is what both lists hold, in a's order.
func Intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
