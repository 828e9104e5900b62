package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/serviceclients"
)

// OAuth serves the token endpoint of the client credentials grant (RFC 6749
// §4.4), in the form OAuth libraries expect: form-encoded requests, and
// errors as RFC 6749 §5.2 objects rather than problem documents.
type OAuth struct {
	Clients *serviceclients.Service
	Limiter ratelimit.Limiter
	// FailureLimit: failed client authentications per client id and per IP
	// (INTROSPECTION_FAILURE_RATE_LIMIT), shared with introspection.
	FailureLimit ratelimit.Limit
}

// TokenRequest is the client credentials grant, form-encoded (RFC 6749 §4.4.2).
type TokenRequest struct {
	GrantType string `json:"grant_type" form:"grant_type" example:"client_credentials" enums:"client_credentials"`
	// Scope is space-separated permissions, a subset of the client's; absent: all of them.
	Scope string `json:"scope,omitempty" form:"scope" example:"users:read"`
	// ClientID and ClientSecret authenticate the client when HTTP Basic does not (client_secret_post).
	ClientID     string `json:"client_id,omitempty" form:"client_id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	ClientSecret string `json:"client_secret,omitempty" form:"client_secret" example:"3q2-7wAAAAB0aGlzIGlzIG5vdCBhIHJlYWwgc2VjcmV0IQ"`
} // @name TokenRequest

// ClientTokenResponse is an access token issued to a service client (RFC 6749 §5.1): no refresh token.
type ClientTokenResponse struct {
	AccessToken string `json:"access_token" example:"eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9..."`
	TokenType   string `json:"token_type" example:"Bearer"`
	ExpiresIn   int    `json:"expires_in" example:"900"`
	// Scope is the permissions granted, space-separated.
	Scope string `json:"scope" example:"users:read"`
} // @name ClientTokenResponse

// OAuthError is an error of the token endpoint (RFC 6749 §5.2).
type OAuthError struct {
	Error            string `json:"error" example:"invalid_client" enums:"invalid_request,invalid_client,invalid_scope,unsupported_grant_type,rate_limited"`
	ErrorDescription string `json:"error_description" example:"The client id or secret is wrong, or the client is disabled."`
} // @name OAuthError

// oauthError is an OAuth error answer, with its status.
type oauthError struct {
	status int
	body   OAuthError
}

func (e *oauthError) Error() string { return e.body.Error + ": " + e.body.ErrorDescription }

func invalidRequest(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, OAuthError{"invalid_request", desc}}
}

// maxTokenRequest bounds a token request's body: a grant needs a few hundred bytes.
const maxTokenRequest = 16 << 10

// maxScope bounds the scope asked for (every permission fits many times over).
const maxScope = 2048

// issueToken godoc
//
//	@ID				issueToken
//	@Summary		Issue a service token (OAuth 2.0 client credentials)
//	@Description	RFC 6749 §4.4: form-encoded grant_type=client_credentials and an optional scope (space-separated permissions, a subset of the client's; default all of them). The client authenticates with HTTP Basic (client_secret_basic, id and secret form-encoded first) or with client_id and client_secret in the form (client_secret_post), not both. The access token is a JWT (typ at+jwt) whose sub and client_id are the client's id, with scope and permissions as granted and no roles; no refresh token. Errors are RFC 6749 §5.2 objects; invalid_client is 401 with WWW-Authenticate: Basic. Failed client authentications are limited per client id and per address (INTROSPECTION_FAILURE_RATE_LIMIT: 429 rate_limited with Retry-After).
//	@Tags			oauth
//	@Accept			x-www-form-urlencoded
//	@Produce		json
//	@Param			grant_type		formData	string	true	"client_credentials"	Enums(client_credentials)
//	@Param			scope			formData	string	false	"Space-separated permissions; absent: all of the client's"
//	@Param			client_id		formData	string	false	"The client's id (client_secret_post)"
//	@Param			client_secret	formData	string	false	"The client's secret (client_secret_post)"
//	@Success		200				{object}	ClientTokenResponse
//	@Failure		400				{object}	OAuthError	"invalid_request, invalid_scope, unsupported_grant_type"
//	@Failure		401				{object}	OAuthError	"invalid_client; WWW-Authenticate: Basic"
//	@Failure		413				{object}	OAuthError	"invalid_request: the body exceeds 16 KiB"
//	@Failure		429				{object}	OAuthError	"rate_limited: too many failed client authentications (Retry-After)"
//	@Security		ClientSecretBasic
//	@Router			/v1/oauth/token [post]
func (h *OAuth) issueToken(c echo.Context) error {
	hd := c.Response().Header()
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set("Pragma", "no-cache")
	grant, err := h.grant(c)
	var oe *oauthError
	if errors.As(err, &oe) {
		if oe.status == http.StatusUnauthorized {
			hd.Set(echo.HeaderWWWAuthenticate, `Basic realm="authsvc"`)
		}
		return c.JSON(oe.status, oe.body)
	}
	var limited *ratelimit.RefusedError
	if errors.As(err, &limited) {
		hd.Set("Retry-After", strconv.Itoa(max(1, int(limited.RetryAfter.Seconds()))))
		return c.JSON(http.StatusTooManyRequests, OAuthError{"rate_limited", "Too many failed client authentications; wait before trying again."})
	}
	if err != nil {
		return err // the service failing (503 with Retry-After when the database is away)
	}
	return c.JSON(http.StatusOK, ClientTokenResponse{
		AccessToken: grant.AccessToken, TokenType: "Bearer", ExpiresIn: int(grant.ExpiresIn.Seconds()),
		Scope: strings.Join(grant.Scope, " "),
	})
}

// wrongMethod answers any method but POST at the token endpoint: 405 with an
// OAuth error object, as the endpoint's other errors.
func (h *OAuth) wrongMethod(c echo.Context) error {
	hd := c.Response().Header()
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set(echo.HeaderAllow, http.MethodPost)
	return c.JSON(http.StatusMethodNotAllowed, OAuthError{"invalid_request", "The token endpoint takes POST only."})
}

// grant reads, checks and answers a token request.
func (h *OAuth) grant(c echo.Context) (*serviceclients.Grant, error) {
	ctx, ip := c.Request().Context(), c.RealIP()
	guard := failureGuard{h.Limiter, h.FailureLimit}
	if err := guard.admit(ctx, ip); err != nil {
		return nil, err
	}
	form, err := tokenForm(c)
	if err != nil {
		return nil, err
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		return nil, invalidRequest("grant_type is required.")
	default:
		return nil, &oauthError{http.StatusBadRequest, OAuthError{"unsupported_grant_type", "Only grant_type=client_credentials is supported."}}
	}
	id, sec, err := clientCredentials(c.Request(), form)
	if err != nil {
		return nil, err
	}
	var scope *string
	if s := form.Get("scope"); s != "" {
		if len(s) > maxScope {
			return nil, &oauthError{http.StatusBadRequest, OAuthError{"invalid_scope", "The scope is longer than any the client could hold."}}
		}
		scope = &s
	}
	grant, err := h.Clients.IssueToken(ctx, id, sec, scope, clientOf(c))
	switch {
	case errors.Is(err, serviceclients.ErrInvalidClient):
		if err := guard.failed(ctx, ip, id); err != nil {
			return nil, err
		}
		return nil, &oauthError{http.StatusUnauthorized, OAuthError{"invalid_client", "The client id or secret is wrong, or the client is disabled."}}
	case errors.Is(err, serviceclients.ErrInvalidScope):
		return nil, &oauthError{http.StatusBadRequest, OAuthError{"invalid_scope", "The scope asks for a permission the client does not hold."}}
	}
	return grant, err
}

// tokenForm reads the form-encoded body: at most maxTokenRequest bytes, each
// parameter at most once (RFC 6749 §3.2).
func tokenForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationForm {
		return nil, invalidRequest("Send the parameters form-encoded (Content-Type: application/x-www-form-urlencoded).")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxTokenRequest))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &oauthError{http.StatusRequestEntityTooLarge, OAuthError{"invalid_request", "The request body exceeds 16 KiB."}}
	}
	if err != nil {
		return nil, invalidRequest("The request body could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("The form body could not be read.")
	}
	for name, values := range form {
		if len(values) > 1 {
			return nil, invalidRequest("The parameter " + strconv.Quote(name) + " is repeated.")
		}
	}
	return form, nil
}

// clientCredentials are the client's id and secret: from HTTP Basic
// (client_secret_basic, each form-encoded first, RFC 6749 §2.3.1) or from the
// form (client_secret_post), never both. None at all is invalid_client.
func clientCredentials(r *http.Request, form url.Values) (id, sec string, err error) {
	basicID, basicSecret, basic := r.BasicAuth()
	// A parameter sent without a value is as good as omitted (RFC 6749 §3.2).
	postSecret := form.Get("client_secret") != ""
	formID := form.Get("client_id")
	switch {
	case basic && postSecret:
		return "", "", invalidRequest("Authenticate the client one way: HTTP Basic or client_secret in the form, not both.")
	case basic:
		id, err1 := url.QueryUnescape(basicID)
		sec, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return "", "", invalidRequest("The HTTP Basic credentials are not form-encoded.")
		}
		if formID != "" && formID != id {
			return "", "", invalidRequest("client_id differs from the HTTP Basic client.")
		}
		return id, sec, nil
	case postSecret && formID != "":
		return formID, form.Get("client_secret"), nil
	}
	return "", "", &oauthError{http.StatusUnauthorized, OAuthError{"invalid_client", "Authenticate the client: HTTP Basic, or client_id and client_secret in the form."}}
}
