// Package demo is the passkey demo page the service serves in development
// (PASSKEY_DEMO=true): plain HTML and JavaScript, no build step, that logs in
// with a password, registers a passkey, logs out, logs in with the passkey and
// shows GET /v1/me; it also signs in with each external identity provider
// (AUTH_PROVIDERS), with PKCE, when REDIRECT_URLS lists the page. The browser
// tests in clients/passkeys and demo/providers_test.go drive it.
//
// The page talks only to the service's own origin, keeps the access token in
// memory (never in storage or a cookie; only a provider sign-in's PKCE
// verifier waits in sessionStorage for the trip to the provider), and is served with a Content-Security-
// Policy that allows no inline script: its JavaScript is a second file,
// PasskeysScript, loaded from 'self'.
package demo

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
)

var (
	//go:embed passkeys.html
	page []byte
	//go:embed passkeys.js
	script []byte
)

// PagePath and ScriptPath are where the server registers the handlers: the
// page loads its script from ScriptPath.
const (
	PagePath   = "/demo/passkeys"
	ScriptPath = "/demo/passkeys.js"
)

// pagePolicy lets the page run only its own script file, call only its own
// origin, and use only its one inline <style> block (allowed by its hash).
// Trusted Types are required, so no string can reach an HTML sink: the script
// writes text only. Nothing may frame the page.
var pagePolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src " + styleHash(page) +
	"; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"

// scriptPolicy is for the script answered alone: nothing to load or run.
const scriptPolicy = "default-src 'none'; frame-ancestors 'none'"

// styleHash is the CSP source of the page's inline <style> block ('none' when
// it has none).
func styleHash(html []byte) string {
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(html)
	if m == nil {
		return "'none'"
	}
	sum := sha256.Sum256(m[1])
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Passkeys serves the demo page (GET /demo/passkeys).
func Passkeys(c echo.Context) error {
	c.Response().Header().Set("Content-Security-Policy", pagePolicy)
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", page)
}

// PasskeysScript serves the page's JavaScript (GET /demo/passkeys.js).
func PasskeysScript(c echo.Context) error {
	c.Response().Header().Set("Content-Security-Policy", scriptPolicy)
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", script)
}
