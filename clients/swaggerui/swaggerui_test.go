// Package swaggerui drives the service's Swagger UI (/apidocs) in headless
// Chromium, as a person trying the API from the browser would: it has tests
// only. Debian's chromium is needed (.ci/run installs it); elsewhere the tests
// are skipped when it is absent, and fail under CI=true.
package swaggerui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/browsertest"
)

// browser starts headless Chromium for the test and returns a tab's context.
// On failure, a full-page screenshot of the tab is saved in the test's
// artifact directory (kept with go test -artifacts) and its path logged.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.New(t, browsertest.Options{Screenshot: "swaggerui.png"})
}

// operation finds the block of an operation by method and path, as the page
// shows them, and returns the CSS selector of that block.
func operation(t *testing.T, ctx context.Context, method, path string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		for (const b of document.querySelectorAll('.opblock.opblock-%s')) {
			const p = b.querySelector('.opblock-summary-path');
			if (p && (p.dataset.path || p.textContent).replace(/\u200b/g, '').trim() === %q) return b.id;
		}
		return '';
	})()`, strings.ToLower(method), path)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("find %s %s: %v", method, path, err)
	}
	if id == "" {
		t.Fatalf("the page lists no operation %s %s", method, path)
	}
	return "#" + id
}

// setValue sets an input's or textarea's value the way typing does, so that
// the page's React state sees it.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
		Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, %q);
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return el.value;
	})()`, sel, value))
}

var leadingStatus = regexp.MustCompile(`^\s*(\d{3})`)

// tryOperation expands the operation, clicks "Try it out", puts body (when
// not empty) in the request body, clicks Execute and returns the status and
// response body the page shows. It can run again on the same operation.
func tryOperation(t *testing.T, ctx context.Context, method, path, body string) (int, string) {
	t.Helper()
	op := operation(t, ctx, method, path)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(op + " " + sel) }
	is := func(js string) bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("try out %s %s: %s: %v", method, path, js, err)
		}
		return v
	}
	step := func(steps ...chromedp.Action[chromedp.Void]) {
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("try out %s %s: %v", method, path, err)
		}
	}
	if !is(fmt.Sprintf(`document.querySelector(%q).classList.contains('is-open')`, op)) {
		step(chromedp.Click(css(".opblock-summary-control")))
	}
	step(chromedp.WaitVisible(css(".try-out__btn")))
	if !is(fmt.Sprintf(`document.querySelector(%q).classList.contains('cancel')`, op+" .try-out__btn")) {
		step(chromedp.Click(css(".try-out__btn")))
	}
	if body != "" {
		step(chromedp.WaitVisible(css("textarea.body-param__text")), setValue(op+" textarea.body-param__text", body))
	}
	// The answer of an earlier run goes first, so the one waited for is new.
	if is(fmt.Sprintf(`!!document.querySelector(%q)`, op+" .btn-clear")) {
		step(chromedp.Click(css(".btn-clear")), chromedp.WaitNotPresent(css(".live-responses-table")))
	}
	step(chromedp.Click(css(".execute")), chromedp.WaitVisible(css(".live-responses-table tbody .response-col_status")))
	status, err := chromedp.Run(ctx, chromedp.Text(css(".live-responses-table tbody .response-col_status")))
	if err != nil {
		t.Fatalf("try out %s %s: %v", method, path, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(css(".live-responses-table tbody .response-col_description pre")))
	if err != nil {
		t.Fatalf("try out %s %s: no response body shown: %v", method, path, err)
	}
	m := leadingStatus.FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("%s %s: the page shows status %q, body %q", method, path, status, shown)
	}
	code, _ := strconv.Atoi(m[1])
	return code, shown
}

// authorize enters value for the security scheme in the Authorize dialog
// (for HTTP bearer, the bare token: the page adds "Bearer ") and closes it.
func authorize(t *testing.T, ctx context.Context, scheme, value string) {
	t.Helper()
	mark := fmt.Sprintf(`(() => {
		for (const c of document.querySelectorAll('.modal-ux .auth-container')) {
			const h = c.querySelector('h4');
			if (h && h.textContent.trim().startsWith(%q)) { c.setAttribute('data-scheme', %q); return true; }
		}
		return false;
	})()`, scheme, scheme)
	box := fmt.Sprintf(`.modal-ux .auth-container[data-scheme=%q]`, scheme)
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".auth-wrapper button.authorize")),
		chromedp.WaitVisible(chromedp.CSS(".modal-ux .auth-container")),
	)
	if err != nil {
		t.Fatalf("open the Authorize dialog: %v", err)
	}
	if found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](mark)); err != nil || !found {
		t.Fatalf("the Authorize dialog has no scheme %s (%v)", scheme, err)
	}
	err = chromedp.Do(ctx,
		setValue(box+" input", value),
		chromedp.Click(chromedp.CSS(box+" button.authorize")),
		// Authorized: Logout takes the place of Authorize.
		chromedp.WaitVisible(chromedp.CSS(box+" .auth-btn-wrapper button:not(.authorize):not(.btn-done)")),
		chromedp.Click(chromedp.CSS(box+" button.btn-done")),
		chromedp.WaitNotPresent(chromedp.CSS(".modal-ux")),
	)
	if err != nil {
		t.Fatalf("authorize %s: %v", scheme, err)
	}
}

// operations counts the operations of the OpenAPI 3 document the page reads.
func operations(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/apidocs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	n := 0
	for _, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch":
				n++
			}
		}
	}
	return n
}

// docs is a service under test with its Swagger UI loaded in a browser tab.
type docs struct {
	e   *apitest.Env
	url string          // the service's base URL
	ctx context.Context // the tab, with the test's deadline
}

// openDocs starts the service (SQLite) behind an HTTP server and Chromium,
// loads /apidocs/index.html and waits until the operations are listed.
// setup runs on the service before the page loads (nil for none).
func openDocs(t *testing.T, setup func(e *apitest.Env)) docs {
	t.Helper()
	tab := browser(t)
	e := apitest.New(t, "sqlite", nil)
	if setup != nil {
		setup(e)
	}
	srv := httptest.NewServer(e.App.Server)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(cancel)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/apidocs/index.html"),
		chromedp.WaitVisible(chromedp.CSS(".information-container .title")),
		chromedp.WaitVisible(chromedp.CSS(".opblock")),
	)
	if err != nil {
		t.Fatalf("load /apidocs/index.html: %v", err)
	}
	return docs{e: e, url: srv.URL, ctx: ctx}
}

// tokenResponse is the part of a token response (login, POST /v1/auth/mfa)
// the tests read.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// bearerToken reads a token response the page shows for a 200 answer.
func bearerToken(t *testing.T, what string, status int, body string) string {
	t.Helper()
	if status != 200 {
		t.Fatalf("%s through Try it out: %d %s; want 200", what, status, body)
	}
	var tokens tokenResponse
	if err := json.Unmarshal([]byte(body), &tokens); err != nil || tokens.AccessToken == "" || tokens.TokenType != "Bearer" {
		t.Fatalf("%s answer shown: %q (%v); want a Bearer token", what, body, err)
	}
	return tokens.AccessToken
}

// meResponse is the part of GET /v1/me the tests read.
type meResponse struct {
	User struct {
		Username string `json:"username"`
		MFA      struct {
			TOTP bool `json:"totp"`
		} `json:"mfa"`
	} `json:"user"`
	AMR []string `json:"amr"`
}

// authorizedMe gives the access token to Authorize (BearerAuth, HTTP bearer)
// and returns what Try it out on GET /v1/me then shows, which must be a 200.
func authorizedMe(t *testing.T, ctx context.Context, accessToken string) (meResponse, string) {
	t.Helper()
	authorize(t, ctx, "BearerAuth", accessToken)
	status, body := tryOperation(t, ctx, "GET", "/v1/me", "")
	if status != 200 {
		t.Fatalf("GET /v1/me after Authorize: %d %s; want 200", status, body)
	}
	var me meResponse
	if err := json.Unmarshal([]byte(body), &me); err != nil {
		t.Fatalf("GET /v1/me shows %q: %v", body, err)
	}
	return me, body
}

// TestSwaggerUI: the page loads the OpenAPI 3 document without errors and
// lists every operation; logging in through "Try it out" returns a token;
// GET /v1/me is 401 until "Authorize" is given that token, then 200 with the user.
func TestSwaggerUI(t *testing.T) {
	d := openDocs(t, nil)
	ctx := d.ctx

	want := operations(t, d.url)
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".information-container .title")))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.opblock').length`))
	if err != nil {
		t.Fatal(err)
	}
	errs, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('.errors-wrapper')).map(e => e.innerText).join('\n')`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "authsvc API") {
		t.Errorf("title %q", title)
	}
	// The page reads the OpenAPI 3 document (the 2.0 one is its second choice).
	if oas3, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.ui.specSelectors.isOAS3()`)); err != nil || !oas3 {
		t.Errorf("Swagger UI did not open the OpenAPI 3 document (%v)", err)
	}
	if errs != "" {
		t.Errorf("Swagger UI reports errors in the document:\n%s", errs)
	}
	if listed != want || want == 0 {
		t.Errorf("the page lists %d operations; the document has %d", listed, want)
	}
	operation(t, ctx, "POST", "/v1/auth/login")
	operation(t, ctx, "GET", "/v1/me")

	if status, body := tryOperation(t, ctx, "GET", "/v1/me", ""); status != 401 {
		t.Fatalf("GET /v1/me before Authorize: %d %s; want 401", status, body)
	}

	status, body := tryOperation(t, ctx, "POST", "/v1/auth/login",
		fmt.Sprintf(`{"login": "root", "password": %q}`, apitest.AdminPassword))
	access := bearerToken(t, "login", status, body)

	if me, body := authorizedMe(t, ctx, access); me.User.Username != "root" {
		t.Fatalf("GET /v1/me shows %q; want root's profile", body)
	}
}

// totpUser signs up username and turns TOTP on for it through the HTTP API
// (POST /v1/me/mfa/totp, then /confirm with a code for the test clock's
// time), then moves the clock on one 30 s step: the confirming code's step is
// used up. It returns the TOTP secret (base32).
func totpUser(e *apitest.Env, username string) string {
	t := e.T
	t.Helper()
	tk := e.SignupLogin(username)
	var enrol struct {
		Secret string `json:"secret"`
	}
	e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).
		Expect(http.StatusCreated).Decode(&enrol)
	if enrol.Secret == "" {
		t.Fatal("POST /v1/me/mfa/totp answered no secret")
	}
	e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": totpCode(t, enrol.Secret, e.Clock.Now())}).
		Expect(http.StatusOK)
	e.Clock.Advance(30 * time.Second)
	return enrol.Secret
}

// totpCode is the authenticator app's code (RFC 6238: SHA-1, 6 digits, 30 s)
// for the secret at a time.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("TOTP code: %v", err)
	}
	return code
}

// TestSwaggerUITwoStepLogin: for a user with TOTP on, login through "Try it
// out" shows mfa_required and an mfa_token; POST /v1/auth/mfa with that token
// and a code from the authenticator returns a token; with it in "Authorize",
// GET /v1/me answers 200 with amr ["pwd", "otp", "mfa"].
func TestSwaggerUITwoStepLogin(t *testing.T) {
	var secret string
	d := openDocs(t, func(e *apitest.Env) { secret = totpUser(e, "ada") })
	ctx := d.ctx

	status, body := tryOperation(t, ctx, "POST", "/v1/auth/login",
		fmt.Sprintf(`{"login": "ada", "password": %q}`, apitest.StrongPassword))
	if status != 200 {
		t.Fatalf("login through Try it out: %d %s; want 200", status, body)
	}
	var first struct {
		MFARequired bool     `json:"mfa_required"`
		MFAToken    string   `json:"mfa_token"`
		Methods     []string `json:"methods"`
		AccessToken *string  `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &first); err != nil || !first.MFARequired || first.MFAToken == "" || first.AccessToken != nil {
		t.Fatalf("login answer shown: %q (%v); want mfa_required: true, an mfa_token and no access_token", body, err)
	}
	if !slices.Contains(first.Methods, "totp") {
		t.Errorf("login answer shown: %q; want totp among the methods", body)
	}

	second, err := json.Marshal(map[string]string{"mfa_token": first.MFAToken, "code": totpCode(t, secret, d.e.Clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	status, body = tryOperation(t, ctx, "POST", "/v1/auth/mfa", string(second))
	access := bearerToken(t, "POST /v1/auth/mfa", status, body)

	me, body := authorizedMe(t, ctx, access)
	if me.User.Username != "ada" || !me.User.MFA.TOTP {
		t.Errorf("GET /v1/me shows %q; want ada's profile with mfa.totp true", body)
	}
	if !slices.Equal(me.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("GET /v1/me shows amr %q in %q; want [pwd otp mfa]", me.AMR, body)
	}
}
