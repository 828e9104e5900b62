package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/problem"
)

// Discovery serves what gateways and operators read without signing in: the
// key set, the discovery document and the health checks.
type Discovery struct {
	KeySet func() []byte // the JWKS document of the keys that may verify a live token
	Ping   func(context.Context) error
	// Degraded names dependencies the service works without, for the moment,
	// and how ("redis": "unavailable since …"); nil or empty: none.
	Degraded  func() map[string]string
	PublicURL string
	Issuer    string
}

// JWKS is a JSON Web Key Set (RFC 7517).
type JWKS struct {
	Keys []map[string]any `json:"keys"`
} // @name JWKS

// jwks godoc
//
//	@ID				jwks
//	@Summary		Public signing keys
//	@Description	Every key that may still verify a live access token, including the next key before it signs. Gateways cache it for Cache-Control's max-age.
//	@Tags			discovery
//	@Produce		application/jwk-set+json
//	@Success		200	{object}	JWKS
//	@Security
//	@Router			/.well-known/jwks.json [get]
func (h *Discovery) jwks(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", h.KeySet())
}

// ServerMetadata is authsvc's authorization-server metadata (RFC 8414): only
// what is true of it. Users get access tokens at its own JSON login; the one
// OAuth grant is client credentials, for service clients. It has no
// authorization endpoint and issues no ID tokens, so it claims no response
// type or OpenID Connect field, and a client expecting an OpenID Provider
// fails at once instead of later.
type ServerMetadata struct {
	Issuer  string `json:"issuer" example:"http://localhost:8080"`
	JWKSURI string `json:"jwks_uri" example:"http://localhost:8080/.well-known/jwks.json"`
	// TokenEndpoint is the OAuth 2.0 token endpoint of the client
	// credentials grant (service clients); users log in at POST /v1/auth/login.
	TokenEndpoint string `json:"token_endpoint" example:"http://localhost:8080/v1/oauth/token"`
	// TokenEndpointAuthMethods: how service clients authenticate there.
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported" example:"client_secret_basic,client_secret_post"`
	// GrantTypesSupported is client credentials alone. ResponseTypesSupported
	// is empty, not left out: RFC 8414 requires it, and there is no
	// authorization endpoint.
	GrantTypesSupported      []string `json:"grant_types_supported" example:"client_credentials"`
	ResponseTypesSupported   []string `json:"response_types_supported"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint" example:"http://localhost:8080/v1/auth/introspect"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported" example:"client_secret_basic"`
	// RevocationFeedEndpoint is authsvc's own: the signed feed of revoked sessions.
	RevocationFeedEndpoint string `json:"revocation_feed_endpoint" example:"http://localhost:8080/v1/auth/revocations"`
} // @name ServerMetadata

// metadata is the document both discovery paths serve.
func (h *Discovery) metadata() ServerMetadata {
	base := h.PublicURL
	return ServerMetadata{
		Issuer:                   h.Issuer,
		JWKSURI:                  base + "/.well-known/jwks.json",
		TokenEndpoint:            base + "/v1/oauth/token",
		TokenEndpointAuthMethods: []string{"client_secret_basic", "client_secret_post"},
		GrantTypesSupported:      []string{"client_credentials"},
		ResponseTypesSupported:   []string{},
		IntrospectionEndpoint:    base + "/v1/auth/introspect",
		IntrospectionAuthMethods: []string{"client_secret_basic"},
		RevocationFeedEndpoint:   base + "/v1/auth/revocations",
	}
}

// oauthAuthorizationServer godoc
//
//	@ID				oauthAuthorizationServer
//	@Summary		Authorization-server metadata (RFC 8414)
//	@Description	The issuer, the key set, the token, introspection and revocation-feed endpoints. authsvc is no OpenID Provider and has no authorization endpoint: no response type is claimed; the token endpoint is the client credentials grant of service clients (users log in at POST /v1/auth/login).
//	@Tags			discovery
//	@Produce		json
//	@Success		200	{object}	ServerMetadata
//	@Security
//	@Router			/.well-known/oauth-authorization-server [get]
func (h *Discovery) oauthAuthorizationServer(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(http.StatusOK, h.metadata())
}

// openIDConfiguration godoc
//
//	@ID				openIDConfiguration
//	@Summary		Discovery document
//	@Description	The same metadata as /.well-known/oauth-authorization-server, at the path gateways have read it from. It holds no OpenID Connect field: authsvc issues no ID tokens.
//	@Tags			discovery
//	@Produce		json
//	@Success		200	{object}	ServerMetadata
//	@Security
//	@Router			/.well-known/openid-configuration [get]
func (h *Discovery) openIDConfiguration(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(http.StatusOK, h.metadata())
}

// Health is the answer of the health endpoints.
type Health struct {
	Status string `json:"status" example:"ok" enums:"ok,degraded"`
	// Details name what is degraded.
	Details map[string]string `json:"details,omitempty"`
} // @name Health

// healthz godoc
//
//	@ID				healthz
//	@Summary		Liveness
//	@Description	The process is up; touches no dependency.
//	@Tags			operations
//	@Produce		json
//	@Success		200	{object}	Health
//	@Security
//	@Router			/healthz [get]
func (h *Discovery) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, Health{Status: "ok"})
}

// readyz godoc
//
//	@ID				readyz
//	@Summary		Readiness
//	@Description	The database answers; 503 when it does not. While Redis (REDIS_URL) is out of reach the service still answers (rate limits count in each instance alone): 200, with details naming it.
//	@Description	After SIGTERM (a rolling restart) 503 with Retry-After for a few seconds while requests are still served, so that load balancers stop sending new ones before the instance stops.
//	@Tags			operations
//	@Produce		json
//	@Success		200	{object}	Health
//	@Failure		503	{object}	problem.Error
//	@Security
//	@Router			/readyz [get]
func (h *Discovery) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.Ping(ctx); err != nil {
		return problem.Unavailable(err)
	}
	out := Health{Status: "ok"}
	if h.Degraded != nil {
		if d := h.Degraded(); len(d) > 0 {
			out.Status, out.Details = "degraded", d
		}
	}
	return c.JSON(http.StatusOK, out)
}

// getMetrics godoc
//
//	@ID				getMetrics
//	@Summary		Prometheus metrics
//	@Description	Requests by route template, method and status with latency histograms; logins and refreshes by outcome; rate-limit refusals by scope; the password-hashing queue; the mail outbox and the webhook deliveries waiting and failing; token and signup hook calls by outcome, with their latency; the database pool; the Go runtime. Prometheus text format.
//	@Tags			operations
//	@Produce		plain
//	@Success		200	{string}	string	"Prometheus text exposition format"
//	@Security
//	@Router			/metrics [get]
func getMetrics(h http.Handler) echo.HandlerFunc { return echo.WrapHandler(h) }
