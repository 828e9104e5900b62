// Package middleware holds authsvc's Echo middleware: authentication, permission
// checks, request ids and the access log.
package middleware

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

const (
	claimsKey  = "authsvc.claims"
	accountKey = "authsvc.account"
	liveKey    = "authsvc.live"
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

// Live checks access tokens and their sessions, and loads accounts: through
// the cache when there is one (authcache), else from the database each time.
type Live struct {
	Verifier Verifier
	Store    *store.Store
	Cache    *authcache.Cache // nil: no caching
	Now      func() time.Time
}

// Authenticate verifies the bearer token and its session, or fails with 401.
func (l *Live) Authenticate(c echo.Context) (*token.Claims, error) {
	raw := BearerToken(c)
	if raw == "" {
		return nil, problem.ErrMissingToken
	}
	return l.Verify(c.Request().Context(), raw)
}

// Verify checks an access token: signature and claims, then its session. A
// revoked or expired session refuses its access tokens at once, whatever their
// exp. Errors are problems (401) for the token, and the database's own.
func (l *Live) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	claims, err := l.claims(raw)
	if err != nil {
		return nil, err
	}
	sid, err1 := uuid.Parse(claims.SessionID)
	sub, err2 := uuid.Parse(claims.Subject)
	if err1 != nil || err2 != nil {
		return nil, problem.ErrInvalidToken
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
	return claims, nil
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

// RequireAuth admits requests with a valid access token of a live session.
func RequireAuth(l *Live) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims, err := l.Authenticate(c)
			if err != nil {
				return err
			}
			c.Set(claimsKey, claims)
			c.Set(liveKey, l)
			return next(c)
		}
	}
}

// Claims returns the verified claims RequireAuth stored.
func Claims(c echo.Context) *token.Claims {
	claims, _ := c.Get(claimsKey).(*token.Claims)
	return claims
}

// UserID is the signed-in user's id.
func UserID(c echo.Context) uuid.UUID {
	if claims := Claims(c); claims != nil {
		id, _ := uuid.Parse(claims.Subject)
		return id
	}
	return uuid.Nil
}

// SessionID is the signed-in session's id.
func SessionID(c echo.Context) uuid.UUID {
	if claims := Claims(c); claims != nil {
		id, _ := uuid.Parse(claims.SessionID)
		return id
	}
	return uuid.Nil
}

// Account is the signed-in user's current record, loaded once per request.
// Use after RequireAuth.
func Account(c echo.Context) (*store.Account, error) {
	if acct, ok := c.Get(accountKey).(*store.Account); ok {
		return acct, nil
	}
	l, _ := c.Get(liveKey).(*Live)
	id := UserID(c)
	if l == nil || id == uuid.Nil {
		return nil, problem.ErrMissingToken
	}
	acct, err := l.Account(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrRevoked
	}
	if err != nil {
		return nil, err
	}
	c.Set(accountKey, acct)
	return acct, nil
}
