package handlers

import (
	"cmp"
	"context"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// Gateway serves introspection to the configured clients.
type Gateway struct {
	Clients map[string]string // INTROSPECTION_CLIENTS: id → secret
	Limiter ratelimit.Limiter
	Limit   ratelimit.Limit // calls per client (INTROSPECTION_RATE_LIMIT)
	// FailureLimit: failed authentications per client id and per IP
	// (INTROSPECTION_FAILURE_RATE_LIMIT).
	FailureLimit ratelimit.Limit
	Live         *middleware.Live
	// The revocation feed: read from Store, signed by Issuer, paged by Cursors.
	Store   *store.Store
	Issuer  *token.Issuer
	Cursors Cursors
	// AccessTTL bounds when the last token of an ended client secret expires.
	AccessTTL time.Duration
	Now       func() time.Time
}

// IntrospectRequest asks about a token (RFC 7662). The form encoding of RFC 7662
// (application/x-www-form-urlencoded, token=…) is accepted too.
type IntrospectRequest struct {
	Token string `json:"token" validate:"required,max=8192" example:"eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9..."`
	// TokenTypeHint is accepted and ignored: only access tokens are introspected.
	TokenTypeHint string `json:"token_type_hint,omitempty" validate:"max=64" example:"access_token"`
} // @name IntrospectRequest

// IntrospectionResponse describes an active token. Anything else (expired,
// revoked, forged, garbage) is exactly {"active": false}.
type IntrospectionResponse struct {
	Active    bool             `json:"active" example:"true"`
	Sub       string           `json:"sub" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Sid       string           `json:"sid" example:"0193b6c4-8a10-7d22-b3c4-5e6f7a8b9c0d"`
	Exp       int64            `json:"exp" example:"1767366245"`
	Iat       int64            `json:"iat" example:"1767365345"`
	Nbf       int64            `json:"nbf" example:"1767365345"`
	Iss       string           `json:"iss" example:"http://localhost:8080"`
	Aud       jwt.ClaimStrings `json:"aud" swaggertype:"array,string" example:"authsvc"`
	Jti       string           `json:"jti" example:"0193b6c4-9b21-7e33-a4d5-6f7a8b9c0d1e"`
	TokenType string           `json:"token_type" example:"Bearer"`
	// Roles, permissions, resources, username and email are the user's current ones.
	Roles       []string `json:"roles" example:"user"`
	Permissions []string `json:"permissions" example:"users:read"`
	Resources   []string `json:"resources" example:"assistant-42"`
	Username    string   `json:"username" example:"ada"`
	Email       string   `json:"email" example:"ada@example.com"`
	// AMR is how the session was authenticated (RFC 8176), as the token says.
	AMR []string `json:"amr" example:"pwd,otp,mfa"`
	// IDP is the external identity provider the session was opened with; absent for none.
	IDP string `json:"idp,omitempty" example:"github"`
	// ClientID and Scope are a service token's (client credentials): the
	// client, and the permissions granted, space-separated.
	ClientID string `json:"client_id,omitempty" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Scope    string `json:"scope,omitempty" example:"users:read"`
} // @name IntrospectionResponse

// inactiveToken is the whole answer for any token that is not active (RFC 7662 §2.2).
type inactiveToken struct {
	Active bool `json:"active"`
}

// introspect godoc
//
//	@ID				introspect
//	@Summary		Introspect an access token (RFC 7662)
//	@Description	For API gateways. The caller authenticates with HTTP Basic as one of INTROSPECTION_CLIENTS. The body is JSON {"token": …} or RFC 7662's form encoding. A token is active when its signature and claims are valid and its session is live; then the user's current roles, permissions and resources are returned. Otherwise the answer is exactly {"active": false}.
//	@Tags			gateways
//	@Accept			json
//	@Accept			x-www-form-urlencoded
//	@Produce		json
//	@Param			body	body		IntrospectRequest	true	"The token"
//	@Success		200		{object}	IntrospectionResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		401		{object}	problem.Error	"invalid_client"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json or application/x-www-form-urlencoded"
//	@Failure		429		{object}	problem.Error	"rate_limited: too many calls from this client (INTROSPECTION_RATE_LIMIT), or too many failed client authentications from this address or for this client id (INTROSPECTION_FAILURE_RATE_LIMIT); see Retry-After"
//	@Security		IntrospectionClient
//	@Router			/v1/auth/introspect [post]
func (h *Gateway) introspect(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
	if err := h.admit(c); err != nil {
		return err
	}
	tok, err := introspectedToken(c)
	if err != nil {
		return err
	}
	out, err := h.inspect(c, tok)
	if err != nil {
		return err
	}
	if out == nil {
		return c.JSON(http.StatusOK, inactiveToken{Active: false})
	}
	return c.JSON(http.StatusOK, out)
}

// admit lets configured clients in (HTTP Basic), within their rate limit.
// Wrong credentials count against the address and the client id (failures).
func (h *Gateway) admit(c echo.Context) error {
	ctx, ip := c.Request().Context(), c.RealIP()
	guard := failureGuard{h.Limiter, h.FailureLimit}
	if err := guard.admit(ctx, ip); err != nil {
		return err
	}
	id, ok := h.client(c.Request())
	if ok {
		return ratelimit.Check(ctx, h.Limiter, "introspection_client", id, h.Limit)
	}
	if err := guard.failed(ctx, ip, id); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="authsvc"`)
	return problem.Unauthorized("invalid_client", "This endpoint needs the credentials of a configured client (HTTP Basic).")
}

// failureGuard limits failed client authentications (introspection, the
// revocation feed, the token endpoint) per address and per client id. An
// address past the limit has nothing checked until it has waited, so
// guessing from it stops; a correct secret from elsewhere is still let in,
// so that knowing a client id is not enough to cut its owner off (a secret's
// length is what makes guessing from many addresses hopeless).
type failureGuard struct {
	limiter ratelimit.Limiter
	limit   ratelimit.Limit
}

// Scopes of failed client authentications, shared by every endpoint that
// authenticates clients: one budget per address.
const (
	scopeClientFailureIP = "introspection_failure_ip"
	scopeClientFailureID = "introspection_failure_client"
)

// admit refuses an address past its limit before any credential is checked.
func (g failureGuard) admit(ctx context.Context, ip string) error {
	return ratelimit.Exhausted(ctx, g.limiter, scopeClientFailureIP, ip, g.limit)
}

// failed counts a failed authentication against the address and the client
// id, and refuses (429) once either is past its limit.
func (g failureGuard) failed(ctx context.Context, ip, id string) error {
	byIP := ratelimit.Check(ctx, g.limiter, scopeClientFailureIP, ip, g.limit)
	byID := ratelimit.Check(ctx, g.limiter, scopeClientFailureID, id, g.limit)
	return cmp.Or(byIP, byID)
}

// client checks HTTP Basic credentials against INTROSPECTION_CLIENTS.
// Secrets are compared as SHA-256 digests in constant time, and an unknown id
// costs the same comparison, so timing reveals neither the secret nor which ids exist.
func (h *Gateway) client(r *http.Request) (id string, ok bool) {
	id, given, ok := r.BasicAuth()
	want := h.Clients[id] // "" for an unknown id: the same comparison, no match
	match := secret.Equal(want, given)
	// RFC 6749 §2.3.1: Basic credentials are form-encoded first; clients that do so
	// must pass as well as those that send the secret as is.
	if unescaped, err := url.QueryUnescape(given); err == nil && unescaped != given {
		match = secret.Equal(want, unescaped) || match
	}
	return id, ok && match
}

// introspectedToken reads the token from a JSON or form-encoded body.
func introspectedToken(c echo.Context) (string, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationForm {
		req, err := decode[IntrospectRequest](c)
		return req.Token, err
	}
	body, err := readBody(c)
	if err != nil {
		return "", err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", problem.BadRequest("malformed_form", "The form body could not be read.")
	}
	tok := form.Get("token")
	switch {
	case tok == "":
		return "", problem.Invalid(problem.FieldError{Field: "token", Message: "is required"})
	case len(tok) > 8192:
		return "", problem.Invalid(problem.FieldError{Field: "token", Message: "must be at most 8192 characters"})
	}
	return tok, nil
}

// inspect returns the description of an active token, or nil for any other.
// Like middleware.Authenticate, it checks the session (or the service
// client, or the personal token) in the database, so a logged-out or revoked
// session's token is inactive at once.
func (h *Gateway) inspect(c echo.Context, tok string) (*IntrospectionResponse, error) {
	ctx := c.Request().Context()
	cred, err := h.Live.Verify(ctx, tok)
	var who *bearer
	if err == nil {
		who, err = bearerOf(ctx, h.Live, cred)
	}
	if p, ok := problem.As(err); ok && p.Status < 500 {
		return nil, nil // every other failure is simply "not active"
	}
	if err != nil {
		return nil, err
	}
	return who.introspection(), nil
}

// introspection describes the bearer's active token (RFC 7662).
func (b *bearer) introspection() *IntrospectionResponse {
	claims := b.cred.Claims
	out := &IntrospectionResponse{
		Active: true, Sub: claims.Subject, Sid: claims.SessionID,
		Exp: unix(claims.ExpiresAt), Iat: unix(claims.IssuedAt), Nbf: unix(claims.NotBefore),
		Iss: claims.Issuer, Aud: claims.Audience, Jti: claims.ID, TokenType: "Bearer",
		Roles: b.roles(), Permissions: b.Permissions(), Resources: []string{},
		AMR: orEmpty(claims.AMR), IDP: claims.IDP, ClientID: claims.ClientID, Scope: claims.Scope,
	}
	if a := b.Account; a != nil {
		out.Resources, out.Username, out.Email = a.Resources, a.Username, a.Email
	}
	return out
}

func unix(t *jwt.NumericDate) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}
