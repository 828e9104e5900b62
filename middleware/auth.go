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

	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

const (
	claimsKey  = "authsvc.claims"
	accountKey = "authsvc.account"
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

// Authenticate verifies the bearer token and its session, or fails with 401.
func Authenticate(c echo.Context, v Verifier, st *store.Store, now func() time.Time) (*token.Claims, error) {
	raw := BearerToken(c)
	if raw == "" {
		return nil, problem.ErrMissingToken
	}
	return VerifyLive(c.Request().Context(), raw, v, st, now)
}

// VerifyLive checks an access token: signature and claims, then its session in
// the database. A revoked or expired session refuses its access tokens at once,
// whatever their exp. Errors are problems: 401 for the token, 5xx for the database.
func VerifyLive(ctx context.Context, raw string, v Verifier, st *store.Store, now func() time.Time) (*token.Claims, error) {
	claims, err := v.Verify(raw)
	if errors.Is(err, token.ErrExpired) {
		return nil, problem.ErrExpiredToken
	}
	if err != nil {
		return nil, problem.ErrInvalidToken
	}
	sid, err1 := uuid.Parse(claims.SessionID)
	sub, err2 := uuid.Parse(claims.Subject)
	if err1 != nil || err2 != nil {
		return nil, problem.ErrInvalidToken
	}
	sess, err := st.SessionByID(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrRevoked
	}
	if err != nil {
		return nil, dbFailure(err)
	}
	if sess.UserID != sub || sess.RevokedAt != nil || !now().Before(sess.ExpiresAt) {
		return nil, problem.ErrRevoked
	}
	return claims, nil
}

// RequireAuth admits requests with a valid access token of a live session.
func RequireAuth(v Verifier, st *store.Store, now func() time.Time) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims, err := Authenticate(c, v, st, now)
			if err != nil {
				return err
			}
			c.Set(claimsKey, claims)
			return next(c)
		}
	}
}

// RequirePermission admits signed-in callers whose current roles grant every
// permission given. It reads the database, not the token, so a role change takes
// effect at once. Use after RequireAuth.
func RequirePermission(st *store.Store, permissions ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			acct, err := Account(c, st)
			if err != nil {
				return err
			}
			for _, p := range permissions {
				if !acct.Can(p) {
					return problem.ErrForbidden
				}
			}
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

// Account loads the signed-in user's current record once per request.
func Account(c echo.Context, st *store.Store) (*store.Account, error) {
	if acct, ok := c.Get(accountKey).(*store.Account); ok {
		return acct, nil
	}
	id := UserID(c)
	if id == uuid.Nil {
		return nil, problem.ErrMissingToken
	}
	acct, err := st.UserByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.ErrRevoked
	}
	if err != nil {
		return nil, dbFailure(err)
	}
	c.Set(accountKey, acct)
	return acct, nil
}

// dbFailure is a database error no client caused: 503 when the database is
// unreachable, 500 otherwise.
func dbFailure(err error) error {
	if store.IsUnavailable(err) {
		return problem.Unavailable(err)
	}
	return problem.Internal(err)
}
