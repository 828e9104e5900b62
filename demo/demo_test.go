package demo

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func serve(t *testing.T, path string, h echo.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	e.GET(path, h)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

// directives splits a Content-Security-Policy into its directives.
func directives(t *testing.T, policy string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name == "" {
			continue
		}
		if _, dup := out[name]; dup {
			t.Errorf("CSP names %s twice: %q", name, policy)
		}
		out[name] = value
	}
	return out
}

// TestPasskeys: the page is HTML under a policy that runs only scripts from
// its own origin (the one it loads), allows its inline style by hash alone,
// and carries the elements the browser test drives.
func TestPasskeys(t *testing.T) {
	rec := serve(t, PagePath, Passkeys)
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	csp := directives(t, rec.Header().Get("Content-Security-Policy"))
	want := map[string]string{
		"default-src":               "'none'",
		"script-src":                "'self'",
		"connect-src":               "'self'",
		"base-uri":                  "'none'",
		"form-action":               "'none'",
		"frame-ancestors":           "'none'",
		"require-trusted-types-for": "'script'",
	}
	for name, value := range want {
		if csp[name] != value {
			t.Errorf("CSP %s = %q, want %q", name, csp[name], value)
		}
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
	if style == nil {
		t.Fatal("the page has no <style> block")
	}
	sum := sha256.Sum256([]byte(style[1]))
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; csp["style-src"] != want {
		t.Errorf("CSP style-src = %q, want the hash of the inline style %s", csp["style-src"], want)
	}
	if strings.Contains(csp["script-src"], "unsafe") || strings.Contains(csp["style-src"], "unsafe") {
		t.Errorf("CSP allows unsafe sources: %v", csp)
	}

	if !strings.Contains(body, `<script src="`+ScriptPath+`"></script>`) {
		t.Errorf("the page does not load %s", ScriptPath)
	}
	if n := strings.Count(body, "<script"); n != 1 {
		t.Errorf("the page has %d script elements; want the one file", n)
	}
	if regexp.MustCompile(`(?i)\son[a-z]+=`).MatchString(body) {
		t.Error("the page has an inline event handler, which its policy blocks")
	}
	for _, id := range []string{"login", "password", "login-submit", "register-password", "register",
		"logout", "passkey-login", "cancel", "show-me", "status", "me", "session", "providers"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("the page has no element with id %q", id)
		}
	}
}

// TestPasskeysScript: the script is JavaScript, served with a policy of its
// own, and calls the endpoints of the contract. It keeps nothing in storage or
// cookies but a provider sign-in's PKCE verifier, in sessionStorage under its
// one key, for the way back from the provider.
func TestPasskeysScript(t *testing.T) {
	rec := serve(t, ScriptPath, PasskeysScript)
	if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := directives(t, rec.Header().Get("Content-Security-Policy"))
	if csp["default-src"] != "'none'" {
		t.Errorf("CSP default-src = %q, want 'none'", csp["default-src"])
	}
	js := rec.Body.String()
	for _, s := range []string{
		"/v1/auth/login", "/v1/me/passkeys/register/options", "/v1/me/passkeys/register",
		"/v1/auth/logout", "/v1/auth/passkey/options", "/v1/auth/passkey/login", "'/v1/me'",
		"parseCreationOptionsFromJSON", "parseRequestOptionsFromJSON", ".toJSON()",
		"'/v1/auth/providers'", "'/v1/auth/providers/exchange'", "/authorize?", "code_challenge_method: 'S256'",
		"crypto.getRandomValues", "crypto.subtle.digest('SHA-256'", "history.replaceState", "error_description",
		"mfa_required", "location.origin + '" + PagePath + "'",
	} {
		if !strings.Contains(js, s) {
			t.Errorf("the script does not mention %s", s)
		}
	}
	for _, s := range []string{"localStorage", "document.cookie", "innerHTML", "eval("} {
		if strings.Contains(js, s) {
			t.Errorf("the script uses %s", s)
		}
	}
	code := regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(js, "") // without the comment lines
	uses := regexp.MustCompile(`sessionStorage\.(\w+)\(([^,)]*)`).FindAllStringSubmatch(code, -1)
	if len(uses) != strings.Count(code, "sessionStorage") {
		t.Errorf("the script uses sessionStorage other than by getItem, setItem and removeItem of verifierKey")
	}
	for _, u := range uses {
		if !slices.Contains([]string{"getItem", "setItem", "removeItem"}, u[1]) || u[2] != "verifierKey" {
			t.Errorf("the script uses sessionStorage.%s(%s…); want only the PKCE verifier, under verifierKey", u[1], u[2])
		}
	}
	stores := regexp.MustCompile(`sessionStorage\.setItem\(verifierKey, JSON\.stringify\(\{ provider: name, verifier \}\)\)`)
	if n := strings.Count(code, "sessionStorage.setItem("); n != 1 || !stores.MatchString(code) {
		t.Errorf("the script stores in sessionStorage %d times; want once, the provider and the PKCE verifier", n)
	}
}

func TestStyleHash(t *testing.T) {
	if got := styleHash([]byte("<p>no style</p>")); got != "'none'" {
		t.Errorf("styleHash without a style block = %s", got)
	}
}
