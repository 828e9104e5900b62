package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/token"
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
//	@Produce		json
//	@Success		200	{object}	JWKS
//	@Router			/.well-known/jwks.json [get]
func (h *Discovery) jwks(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", h.KeySet())
}

// OpenIDConfiguration is the discovery document gateways read.
type OpenIDConfiguration struct {
	Issuer                           string   `json:"issuer" example:"http://localhost:8080"`
	JWKSURI                          string   `json:"jwks_uri" example:"http://localhost:8080/.well-known/jwks.json"`
	TokenEndpoint                    string   `json:"token_endpoint" example:"http://localhost:8080/v1/auth/login"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint" example:"http://localhost:8080/v1/auth/introspect"`
	RevocationFeedEndpoint           string   `json:"revocation_feed_endpoint" example:"http://localhost:8080/v1/auth/revocations"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported" example:"ES256"`
	TokenEndpointAuthMethods         []string `json:"introspection_endpoint_auth_methods_supported" example:"client_secret_basic"`
	ResponseTypesSupported           []string `json:"response_types_supported" example:"token"`
	SubjectTypesSupported            []string `json:"subject_types_supported" example:"public"`
} // @name OpenIDConfiguration

// openIDConfiguration godoc
//
//	@ID				openIDConfiguration
//	@Summary		Discovery document
//	@Tags			discovery
//	@Produce		json
//	@Success		200	{object}	OpenIDConfiguration
//	@Router			/.well-known/openid-configuration [get]
func (h *Discovery) openIDConfiguration(c echo.Context) error {
	base := h.PublicURL
	doc := OpenIDConfiguration{
		Issuer:                           h.Issuer,
		JWKSURI:                          base + "/.well-known/jwks.json",
		TokenEndpoint:                    base + "/v1/auth/login",
		IntrospectionEndpoint:            base + "/v1/auth/introspect",
		RevocationFeedEndpoint:           base + "/v1/auth/revocations",
		IDTokenSigningAlgValuesSupported: token.Algorithms,
		TokenEndpointAuthMethods:         []string{"client_secret_basic"},
		ResponseTypesSupported:           []string{"token"},
		SubjectTypesSupported:            []string{"public"},
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(http.StatusOK, doc)
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
//	@Description	Requests by route template, method and status with latency histograms; logins and refreshes by outcome; rate-limit refusals by scope; the password-hashing queue; the database pool; the Go runtime. Prometheus text format.
//	@Tags			operations
//	@Produce		plain
//	@Success		200	{string}	string	"Prometheus text exposition format"
//	@Router			/metrics [get]
func getMetrics(h http.Handler) echo.HandlerFunc { return echo.WrapHandler(h) }
