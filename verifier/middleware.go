package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// ProblemContentType is RFC 9457's media type, used for every refusal.
const ProblemContentType = "application/problem+json"

// Problem is the body of a refusal: RFC 9457 plus authsvc's code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

type ctxKey struct{}

// WithClaims returns ctx carrying the claims.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// ClaimsFrom returns the claims the middleware put on the context, or nil.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(ctxKey{}).(*Claims)
	return c
}

// ProblemFor maps a Verify error to the refusal: 401 missing_token,
// invalid_token, token_expired or session_revoked; 503 unavailable when the
// feed is stale.
func ProblemFor(err error) Problem {
	p := func(status int, code, detail string) Problem {
		return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
	}
	switch {
	case errors.Is(err, ErrMissingToken):
		return p(http.StatusUnauthorized, "missing_token", "A bearer access token is required.")
	case errors.Is(err, ErrExpired):
		return p(http.StatusUnauthorized, "token_expired", "The access token has expired.")
	case errors.Is(err, ErrRevoked):
		return p(http.StatusUnauthorized, "session_revoked", "The session of this token has ended.")
	case errors.Is(err, ErrFeedStale):
		return p(http.StatusServiceUnavailable, "unavailable", "Token revocations cannot be checked right now.")
	default:
		return p(http.StatusUnauthorized, "invalid_token", "The access token is not valid.")
	}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", ProblemContentType)
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		if p.Code == "missing_token" {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (v *Verifier) authenticate(r *http.Request) (*Claims, error) {
	tok, ok := bearer(r)
	if !ok {
		return nil, ErrMissingToken
	}
	return v.Verify(r.Context(), tok)
}

// Middleware verifies the bearer token and puts its claims on the request's
// context (ClaimsFrom); otherwise it answers problem JSON.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.authenticate(r)
		if err != nil {
			writeProblem(w, ProblemFor(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// RequireRole answers 403 forbidden unless the claims (from Middleware) hold
// the role; 401 missing_token without claims.
func RequireRole(role string) func(http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasRole(role) }, "This needs the role "+role+".")
}

// RequirePermission answers 403 forbidden unless the claims hold the permission.
func RequirePermission(perm string) func(http.Handler) http.Handler {
	return require(func(c *Claims) bool { return c.HasPermission(perm) }, "This needs the permission "+perm+".")
}

func forbidden(detail string) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(http.StatusForbidden), Status: http.StatusForbidden, Code: "forbidden", Detail: detail}
}

func require(ok func(*Claims) bool, detail string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := ClaimsFrom(r.Context())
			if c == nil {
				writeProblem(w, ProblemFor(ErrMissingToken))
				return
			}
			if !ok(c) {
				writeProblem(w, forbidden(detail))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
