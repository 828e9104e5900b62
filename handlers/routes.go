// Package handlers is authsvc's HTTP API: the route map, request decoding and
// one file per resource. Handlers return errors; problem.Handler renders them.
package handlers

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	echoSwagger "github.com/swaggo/echo-swagger"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/config"
	_ "github.com/authsvc/authsvc/docs" // the generated OpenAPI document, served at /apidocs
	"github.com/authsvc/authsvc/keys"
	"github.com/authsvc/authsvc/logging"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// MailQueue is nudged after a mail is queued, so it is sent without waiting for the next poll.
type MailQueue interface{ Wake() }

// Deps is everything the API needs, built once by main.
type Deps struct {
	Config   config.Config
	Log      *slog.Logger
	Store    *store.Store
	Keys     *keys.Manager
	Issuer   *token.Issuer
	Verifier *token.Verifier
	Secret   *secret.Key // signs pagination cursors
	Hasher   *password.Hasher
	Policy   password.Policy
	Sessions *sessions.Service
	Mail     MailQueue
	Now      func() time.Time
}

// NewServer builds the router: middleware, every route, and the API docs.
func NewServer(d Deps) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problem.Handler(d.Log)
	e.Validator = newValidator()
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)

	e.Use(echomw.RequestIDWithConfig(echomw.RequestIDConfig{
		// Into the context too, so every log line of the request names it.
		RequestIDHandler: func(c echo.Context, id string) {
			c.SetRequest(c.Request().WithContext(logging.WithRequestID(c.Request().Context(), id)))
		},
	}))
	e.Use(middleware.AccessLog(d.Log))
	e.Use(echomw.RecoverWithConfig(echomw.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Log.ErrorContext(c.Request().Context(), "panic recovered", "error", err.Error(), "stack", string(stack))
			return problem.Internal(err)
		},
	}))
	e.Use(echomw.SecureWithConfig(echomw.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy: "no-referrer",
	}))
	if len(d.Config.CORSOrigins) > 0 {
		e.Use(echomw.CORSWithConfig(echomw.CORSConfig{
			AllowOrigins: d.Config.CORSOrigins,
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			MaxAge:       600,
		}))
	}
	e.Use(echomw.BodyLimit("1M"))
	e.Use(middleware.RejectMalformedURL)

	auth := middleware.RequireAuth(d.Verifier, d.Store, d.Now)
	registerDiscovery(e, d)
	registerAuth(e, d, auth)
	registerPasswordReset(e, d)
	registerMe(e, d, auth)
	registerUsers(e, d, auth)
	registerRoles(e, d, auth)
	registerAudit(e, d, auth)
	registerGateway(e, d)
	e.GET("/apidocs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/apidocs/index.html") })
	e.GET("/apidocs/*", echoSwagger.WrapHandler)
	return e
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
