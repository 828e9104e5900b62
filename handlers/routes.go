// Package handlers is authsvc's HTTP API: the route map, request decoding and
// one handler value per resource. Handlers decode, call the domain, and render;
// they return errors, which toProblem turns into what the client sees.
package handlers

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	echoSwagger "github.com/swaggo/echo-swagger"
	"github.com/swaggo/swag"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/demo"
	_ "github.com/authsvc/authsvc/docs" // the generated OpenAPI document, served at /apidocs
	"github.com/authsvc/authsvc/logging"
	"github.com/authsvc/authsvc/metrics"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/tracing"
)

// Server is what the router needs besides the handlers.
type Server struct {
	Log            *slog.Logger
	CORSOrigins    []string
	CookieMode     bool // CORS allows credentials (the refresh cookie) and X-CSRF-Token
	TrustedProxies []*net.IPNet
	// Auth admits requests with a live access token. What a caller may do
	// once signed in is the accounts service's to decide (policy).
	Auth    echo.MiddlewareFunc
	Metrics *metrics.Metrics // requests by route; served at /metrics
	// PasskeyDemo serves the passkey demo page (PASSKEY_DEMO, development).
	PasskeyDemo bool
	// Tracing makes a server span of each request (nil: none; tracing.Setup).
	Tracing trace.TracerProvider
}

// Handlers are the API's resources.
type Handlers struct {
	Discovery *Discovery
	Auth      *Auth
	Me        *Me
	Users     *Users
	Roles     *Roles
	Audit     *Audit
	Gateway   *Gateway
	Forward   *Forward
	Clients   *Clients
	OAuth     *OAuth
	Webhooks  *Webhooks
}

// NewServer builds the router: middleware, then every route of the API.
func NewServer(s Server, h Handlers) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problem.Handler(s.Log, toProblem)
	e.Validator = newValidator()
	e.IPExtractor = ipExtractor(s.TrustedProxies)
	useMiddleware(e, s)

	auth := s.Auth
	// What only a user's own session may do: not a personal or service token.
	own := []echo.MiddlewareFunc{auth, sessionOnly}
	e.GET("/.well-known/jwks.json", h.Discovery.jwks)
	e.GET("/.well-known/openid-configuration", h.Discovery.openIDConfiguration)
	e.GET("/.well-known/oauth-authorization-server", h.Discovery.oauthAuthorizationServer)
	e.GET("/healthz", h.Discovery.healthz)
	e.GET("/readyz", h.Discovery.readyz)
	e.GET("/metrics", getMetrics(s.Metrics.Handler()))
	e.POST("/v1/auth/introspect", h.Gateway.introspect)
	e.GET("/v1/auth/revocations", h.Gateway.getRevocations)
	// Any method: gateways ask with the method of the request they guard.
	e.Any("/v1/auth/forward", h.Forward.forwardAuth)
	e.Any("/v1/auth/forward/*", h.Forward.forwardAuth)

	e.POST("/v1/auth/signup", h.Auth.signup)
	e.POST("/v1/auth/login", h.Auth.login)
	e.POST("/v1/auth/mfa", h.Auth.completeMFA)
	e.POST("/v1/auth/passkey/options", h.Auth.passkeyLoginOptions)
	e.POST("/v1/auth/passkey/login", h.Auth.passkeyLogin)
	e.GET("/v1/auth/providers", h.Auth.listProviders)
	e.GET("/v1/auth/providers/:name/authorize", h.Auth.authorizeProvider)
	e.GET("/v1/auth/providers/:name/callback", h.Auth.providerCallback)
	e.POST("/v1/auth/providers/exchange", h.Auth.exchangeProviderCode)
	e.POST("/v1/auth/providers/:name/id-token", h.Auth.signInWithIDToken)
	e.POST("/v1/auth/refresh", h.Auth.refresh)
	e.POST("/v1/auth/logout", h.Auth.logout)
	e.GET("/v1/auth/session", h.Auth.getSession, own...)
	e.POST("/v1/auth/password/forgot", h.Auth.forgotPassword)
	e.POST("/v1/auth/password/reset", h.Auth.resetPassword)
	e.POST("/v1/auth/email/verify", h.Auth.verifyEmail)
	e.POST("/v1/auth/email/resend", h.Auth.resendVerification)
	e.POST("/v1/auth/email/code", h.Auth.requestEmailCode)
	e.POST("/v1/auth/email/code/verify", h.Auth.verifyEmailCode)
	e.POST("/v1/auth/invite/accept", h.Auth.acceptInvite)

	e.GET("/v1/me", h.Me.getMe, auth)
	e.PATCH("/v1/me", h.Me.updateMe, auth)
	e.DELETE("/v1/me", h.Me.deleteMe, own...)
	e.POST("/v1/me/password", h.Me.changePassword, own...)
	e.GET("/v1/me/sessions", h.Me.listMySessions, own...)
	e.DELETE("/v1/me/sessions/:id", h.Me.revokeMySession, own...)
	e.POST("/v1/me/mfa/totp", h.Me.startTOTP, own...)
	e.POST("/v1/me/mfa/totp/confirm", h.Me.confirmTOTP, own...)
	e.DELETE("/v1/me/mfa/totp", h.Me.disableTOTP, own...)
	e.POST("/v1/me/mfa/recovery-codes", h.Me.regenerateRecoveryCodes, own...)
	e.POST("/v1/me/passkeys/register/options", h.Me.passkeyRegistrationOptions, own...)
	e.POST("/v1/me/passkeys/register", h.Me.registerPasskey, own...)
	e.GET("/v1/me/passkeys", h.Me.listMyPasskeys, own...)
	e.DELETE("/v1/me/passkeys/:id", h.Me.deleteMyPasskey, own...)
	e.GET("/v1/me/identities", h.Me.listMyIdentities, own...)
	e.POST("/v1/me/identities/:name/link", h.Me.linkIdentity, own...)
	e.DELETE("/v1/me/identities/:id", h.Me.unlinkIdentity, own...)
	e.POST("/v1/me/tokens", h.Me.createMyToken, own...)
	e.GET("/v1/me/tokens", h.Me.listMyTokens, own...)
	e.DELETE("/v1/me/tokens/:id", h.Me.revokeMyToken, own...)

	e.GET("/v1/users", h.Users.listUsers, auth)
	e.GET("/v1/users/count", h.Users.countUsers, auth)
	e.POST("/v1/users", h.Users.createUser, auth)
	e.POST("/v1/users/import", h.Users.importUsers, auth)
	e.DELETE("/v1/users", h.Users.deleteAllUsers, auth)
	e.GET("/v1/users/:id", h.Users.getUser, auth)
	e.PATCH("/v1/users/:id", h.Users.updateUser, auth)
	e.DELETE("/v1/users/:id", h.Users.deleteUser, auth)
	e.GET("/v1/users/:id/sessions", h.Users.listUserSessions, auth)
	e.DELETE("/v1/users/:id/sessions", h.Users.revokeUserSessions, auth)
	e.DELETE("/v1/users/:id/mfa", h.Users.resetUserMFA, auth)
	e.POST("/v1/users/:id/invite", h.Users.inviteUser, auth)
	e.GET("/v1/users/:id/tokens", h.Users.listUserTokens, auth)
	e.DELETE("/v1/users/:id/tokens", h.Users.revokeUserTokens, auth)
	e.GET("/v1/users/:id/tokens/:tid", h.Users.getUserToken, auth)
	e.DELETE("/v1/users/:id/tokens/:tid", h.Users.revokeUserToken, auth)

	e.POST("/v1/clients", h.Clients.createClient, auth)
	e.GET("/v1/clients", h.Clients.listClients, auth)
	e.GET("/v1/clients/:id", h.Clients.getClient, auth)
	e.PATCH("/v1/clients/:id", h.Clients.updateClient, auth)
	e.POST("/v1/clients/:id/secret", h.Clients.rotateClientSecret, auth)
	e.DELETE("/v1/clients/:id", h.Clients.deleteClient, auth)
	e.POST("/v1/oauth/token", h.OAuth.issueToken)
	// Other methods answer in the token endpoint's own form too (OAuth libraries read it).
	e.Match([]string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}, "/v1/oauth/token", h.OAuth.wrongMethod)

	e.POST("/v1/webhooks", h.Webhooks.createWebhook, auth)
	e.GET("/v1/webhooks", h.Webhooks.listWebhooks, auth)
	e.GET("/v1/webhooks/:id", h.Webhooks.getWebhook, auth)
	e.PATCH("/v1/webhooks/:id", h.Webhooks.updateWebhook, auth)
	e.DELETE("/v1/webhooks/:id", h.Webhooks.deleteWebhook, auth)
	e.GET("/v1/webhooks/:id/deliveries", h.Webhooks.listWebhookDeliveries, auth)
	e.POST("/v1/webhooks/:id/test", h.Webhooks.testWebhook, auth)

	e.GET("/v1/roles", h.Roles.listRoles, auth)
	e.POST("/v1/roles", h.Roles.createRole, auth)
	e.PATCH("/v1/roles/:name", h.Roles.updateRole, auth)
	e.DELETE("/v1/roles/:name", h.Roles.deleteRole, auth)

	e.GET("/v1/audit", h.Audit.listAudit, auth)

	if s.PasskeyDemo {
		e.GET("/demo/passkeys", demo.Passkeys)
		e.GET("/demo/passkeys.js", demo.PasskeysScript)
	}

	e.GET("/apidocs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/apidocs/index.html") })
	e.GET("/apidocs/doc.json", apiDocument)
	e.GET("/apidocs/openapi.json", openAPIDocument)
	e.GET("/apidocs/*", echoSwagger.EchoWrapHandler(swaggerUIDocuments))
	return e
}

// apiDocument serves the generated OpenAPI document without its empty "host",
// which Swagger 2.0 does not allow: without one, clients (Swagger UI's "Try it
// out" among them) use the host they loaded the document from.
func apiDocument(c echo.Context) error {
	doc, err := swag.ReadDoc()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return err
	}
	if m["host"] == "" {
		delete(m, "host")
	}
	return c.JSON(http.StatusOK, m)
}

// useMiddleware installs what every request passes through, outermost first.
func useMiddleware(e *echo.Echo, s Server) {
	e.Use(echomw.RequestIDWithConfig(echomw.RequestIDConfig{
		// Into the context too, so every log line of the request names it.
		RequestIDHandler: func(c echo.Context, id string) {
			c.SetRequest(c.Request().WithContext(logging.WithRequestID(c.Request().Context(), id)))
		},
	}))
	// Before the access log: its line, and every other of the request, names the trace.
	e.Use(tracing.Middleware(s.Tracing))
	e.Use(middleware.AccessLog(s.Log))
	e.Use(s.Metrics.Middleware())
	e.Use(echomw.RecoverWithConfig(echomw.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.Log.ErrorContext(c.Request().Context(), "panic recovered", "error", err.Error(), "stack", string(stack))
			return problem.Internal(err)
		},
	}))
	e.Use(echomw.SecureWithConfig(echomw.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy: "no-referrer",
	}))
	e.Use(noStore)
	if len(s.CORSOrigins) > 0 {
		cors := echomw.CORSConfig{
			AllowOrigins: s.CORSOrigins,
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			MaxAge:       600,
		}
		if s.CookieMode { // config refuses "*" here: only listed origins get credentials
			cors.AllowCredentials = true
			cors.AllowHeaders = append(cors.AllowHeaders, CSRFHeader)
		}
		e.Use(echomw.CORSWithConfig(cors))
	}
	e.Use(middleware.RejectMalformedURL)
	// A deadline for the work of each request, the database's included: a stuck
	// query ends as a 503 before the server's write timeout cuts the client off.
	e.Use(echomw.ContextTimeoutWithConfig(echomw.ContextTimeoutConfig{
		Timeout:      requestTimeout,
		ErrorHandler: func(err error, _ echo.Context) error { return err }, // toProblem: 503 with Retry-After
	}))
}

// requestTimeout bounds a request's work; below the server's 30 s write timeout.
const requestTimeout = 20 * time.Second

// noStore keeps every answer out of caches (personal data, tokens), unless a
// handler says otherwise (the public key set and discovery document do).
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// ipExtractor believes X-Forwarded-For only from TRUSTED_PROXIES.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// clientOf describes the caller for sessions and audit events.
func clientOf(c echo.Context) audit.Client {
	return audit.NewClient(c.RealIP(), c.Request().UserAgent())
}
