package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/secret"
)

// Cookie mode (COOKIE_MODE=true): the refresh token travels in an HttpOnly
// cookie that page scripts cannot read, and a readable CSRF cookie is sent back
// by the page in a header (double submit).
const (
	// RefreshCookie holds the refresh token. The __Host- prefix makes browsers
	// insist on Secure, Path=/ and no Domain, so no other host can set it.
	RefreshCookie = "__Host-authsvc_refresh"
	// CSRFCookie is readable by the page, which copies it into CSRFHeader.
	CSRFCookie = "authsvc_csrf"
	CSRFHeader = "X-CSRF-Token"
)

// errCSRFFailed: a cookie-mode refresh or logout without the CSRF header
// matching the CSRF cookie, or from an origin that is not allowed.
var errCSRFFailed = errors.New("handlers: CSRF check failed")

// errRefreshTokenInBody: cookie mode takes the refresh token from its cookie only.
var errRefreshTokenInBody = errors.New("handlers: refresh_token sent in the body in cookie mode")

// Cookies is cookie mode; a nil *Cookies is the default mode (tokens in bodies).
type Cookies struct {
	origins []string // allowed Origin headers: CORS_ORIGINS and the origin of PUBLIC_URL
}

// NewCookies turns cookie mode on for a service at publicURL whose browser
// clients run on publicURL's origin or on one of corsOrigins.
func NewCookies(publicURL string, corsOrigins []string) *Cookies {
	origins := slices.Clone(corsOrigins)
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return &Cookies{origins: origins}
}

// checkCSRF admits a request whose X-CSRF-Token header equals its CSRF cookie
// (compared in constant time) and whose Origin, when sent, is allowed. It
// returns the CSRF token, which a refresh keeps.
func (k *Cookies) checkCSRF(c echo.Context) (string, error) {
	req := c.Request()
	if origin := req.Header.Get(echo.HeaderOrigin); origin != "" && !slices.Contains(k.origins, origin) {
		return "", errCSRFFailed
	}
	cookie, err := req.Cookie(CSRFCookie)
	if err != nil || !secret.Equal(cookie.Value, req.Header.Get(CSRFHeader)) {
		return "", errCSRFFailed
	}
	return cookie.Value, nil
}

// refreshToken is the refresh token the request's cookie carries, or "".
func (k *Cookies) refreshToken(c echo.Context) string {
	cookie, err := c.Request().Cookie(RefreshCookie)
	if err != nil {
		return ""
	}
	return cookie.Value
}

// set puts the refresh token and the CSRF token in their cookies, both expiring
// with the session.
func (k *Cookies) set(c echo.Context, refreshToken, csrf string, expires, now time.Time) {
	maxAge := int(expires.Sub(now) / time.Second)
	if maxAge < 1 {
		maxAge = 1 // the session is live: a zero Max-Age would delete the cookie
	}
	c.SetCookie(cookie(RefreshCookie, refreshToken, true, expires, maxAge))
	c.SetCookie(cookie(CSRFCookie, csrf, false, expires, maxAge))
}

// clear deletes both cookies.
func (k *Cookies) clear(c echo.Context) {
	c.SetCookie(cookie(RefreshCookie, "", true, time.Unix(0, 0), -1))
	c.SetCookie(cookie(CSRFCookie, "", false, time.Unix(0, 0), -1))
}

func cookie(name, value string, httpOnly bool, expires time.Time, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/",
		Expires: expires.UTC(), MaxAge: maxAge,
		Secure: true, HttpOnly: httpOnly, SameSite: http.SameSiteStrictMode,
	}
}
