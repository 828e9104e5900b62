package demo_test

// The browser test of the demo page's "Sign in with …" section: headless
// Chromium signs in with the real OpenID provider of internal/oidctest, on its
// real login form, through authsvc served over HTTP on a loopback port.
// Debian's chromium is needed (.ci/run installs it); elsewhere the test is
// skipped when it is absent, and fails under CI=true (browsertest.New).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/authsvc/authsvc/demo"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/browsertest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/oidctest"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// The user at the provider "corp".
const (
	fedUser     = "grace"
	fedPassword = "op-pass-for-the-demo"
	fedEmail    = "grace@example.com"
)

// fedDemo is the service under test, with the browser and the providers.
type fedDemo struct {
	e    *apitest.Env
	fed  *fedtest.Providers
	tab  context.Context
	base string // PUBLIC_URL: http://localhost:<port>
}

// startFedDemo starts headless Chromium, the providers (authsvc registered at
// "corp" with the callback under base) and the service (SQLite, the passkey
// demo on, the demo page its one redirect URI) over HTTP on a loopback port.
// The port is taken first, since PUBLIC_URL and the provider's registration
// name it.
func startFedDemo(t *testing.T) *fedDemo {
	t.Helper()
	tab := browsertest.New(t, browsertest.Options{
		Screenshot: "providers.png",
		Shows: `(() => {
		if (!document.getElementById('status')) return document.body ? document.body.innerText : '(no body)'; // the provider's page
		const text = id => { const el = document.getElementById(id); return el ? el.textContent : '(none)'; };
		return 'status: ' + text('status') + '\nsession: ' + text('session') + '\nproviders: ' + text('providers') + '\nme: ' + text('me');
	})()`,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	fed := fedtest.StartFor(t, base)
	fed.OP.AddUser(oidctest.User{Username: fedUser, Password: fedPassword, Email: fedEmail, EmailVerified: true,
		GivenName: "Grace", FamilyName: "Hopper"})
	e := apitest.New(t, "sqlite", fed.Vars(apitest.Vars{
		"PUBLIC_URL": base, "PASSKEY_DEMO": "true", "REDIRECT_URLS": base + demo.PagePath,
	}))
	srv := httptest.NewUnstartedServer(e.App.Server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &fedDemo{e: e, fed: fed, tab: tab, base: base}
}

// watchPolicy records, in every document the tab loads from now on, what its
// Content-Security-Policy (Trusted Types included) blocks, from the start of
// the document: the page that comes back from the provider runs its exchange
// as it loads. (A script added by CDP is not subject to the page's policy.)
func watchPolicy(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.cspViolations = [];
			document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`})
		return chromedp.Void{}, err
	})
	if err != nil {
		t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
}

// checkPolicy fails if the current document's policy blocked anything.
func checkPolicy(t *testing.T, ctx context.Context, when string) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.cspViolations || ['(not watched)']`))
	if err != nil {
		t.Fatalf("read policy violations: %v", err)
	}
	if len(v) > 0 {
		t.Errorf("%s the page's Content-Security-Policy blocked: %q", when, v)
	}
}

// pageStatus is what the page's status line says.
type pageStatus struct {
	Action string `json:"action"`
	State  string `json:"state"` // idle, busy, ok or error
	Text   string `json:"text"`
	URL    string `json:"url"` // the document's location
}

// readPageStatus reads the status line (the page's policy forbids eval, so
// the test polls from Go; chromedp.Poll would need new Function in the page).
const readPageStatus = `(() => {
	const s = document.getElementById('status');
	if (!s) return {action: '', state: '', text: '', url: location.href};
	return {action: s.dataset.action, state: s.dataset.state, text: s.textContent, url: location.href};
})()`

// waitBack waits until the tab is back on the demo page and the provider
// sign-in it then finishes (action provider-login) is over, and returns the
// status line. Until the browser is back, the tab shows the provider's pages
// or is between documents, where an evaluation may fail: that is waited out.
func waitBack(t *testing.T, ctx context.Context, base string) pageStatus {
	t.Helper()
	var last pageStatus
	var lastErr error
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[pageStatus](readPageStatus))
		if err == nil {
			last = s
			if strings.HasPrefix(s.URL, base+demo.PagePath) && s.Action == "provider-login" && (s.State == "ok" || s.State == "error") {
				return s
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("the browser did not come back to the demo page with the sign-in finished: last %+v (%v): %v", last, lastErr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pageMe is the part of GET /v1/me the test reads.
type pageMe struct {
	User struct {
		ID          string   `json:"id"`
		Username    string   `json:"username"`
		Email       string   `json:"email"`
		FirstName   string   `json:"first_name"`
		Identities  []string `json:"identities"`
		HasPassword bool     `json:"has_password"`
	} `json:"user"`
	AMR []string `json:"amr"`
	IDP string   `json:"idp"`
}

// TestProviderSignInDemo: on the demo page, a user clicks "Sign in with
// corp", signs in on the provider's real login form, and is back on the page,
// signed in (GET /v1/me shows the new account, amr [fed], idp corp) with the
// query gone from the address bar and the verifier from storage; the service
// holds that session, opened by this browser, and its audit says so. A reload
// signs the page out and replays nothing; an error the callback sends back is
// shown.
func TestProviderSignInDemo(t *testing.T) {
	d := startFedDemo(t)
	ctx, cancel := context.WithTimeout(d.tab, 2*time.Minute)
	defer cancel()
	watchPolicy(t, ctx)

	// The page lists the providers, a button each.
	err := chromedp.Do(ctx, chromedp.Navigate(d.base+demo.PagePath), chromedp.WaitVisible(chromedp.ID("provider-corp")))
	if err != nil {
		t.Fatalf("load %s%s and its provider buttons: %v", d.base, demo.PagePath, err)
	}
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#providers button'), b => b.textContent)`))
	if err != nil || !slices.Equal(buttons, []string{"Sign in with corp", "Sign in with github"}) {
		t.Fatalf("the page's provider buttons: %q (%v); want corp and github, in configuration order", buttons, err)
	}

	// The provider's own login page, reached through authsvc's authorize.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("provider-corp"))); err != nil {
		t.Fatalf("click Sign in with corp: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`))); err != nil {
		t.Fatalf("the provider's login form never showed: %v", err)
	}
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(at, d.fed.OP.Issuer+"/") {
		t.Fatalf("the login form is at %s (%v); want the provider's %s", at, err, d.fed.OP.Issuer)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`sessionStorage.length`)); err != nil || n != 0 {
		t.Errorf("the provider's origin sees %d items in sessionStorage (%v); the verifier belongs to authsvc's", n, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), fedUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), fedPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("sign in on the provider's form: %v", err)
	}

	// Back on the page: the code is exchanged, the query and the verifier gone.
	s := waitBack(t, ctx, d.base)
	if s.State != "ok" || !strings.Contains(s.Text, "Signed in with corp as "+fedUser) {
		t.Fatalf("back from the provider the page says %s: %s", s.State, s.Text)
	}
	if s.URL != d.base+demo.PagePath {
		t.Errorf("back from the provider the address is %s; want %s, the query removed", s.URL, d.base+demo.PagePath)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`sessionStorage.length`)); err != nil || n != 0 {
		t.Errorf("after the exchange sessionStorage holds %d items (%v); want the verifier removed", n, err)
	}
	session, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`(s => [s.dataset.signedIn, s.textContent])(document.getElementById('session'))`))
	if err != nil || len(session) != 2 || session[0] != "true" || !strings.Contains(session[1], fedUser) || !strings.Contains(session[1], "amr: fed") {
		t.Errorf("after the exchange #session shows %q (%v); want %s signed in, amr fed", session, err, fedUser)
	}

	// Who am I: the page's GET /v1/me with the token it holds.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("show-me"))); err != nil {
		t.Fatalf("click Show me: %v", err)
	}
	var me pageMe
	var shown string
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageStatus](readPageStatus))
		if err != nil {
			t.Fatalf("read the status line: %v", err)
		}
		if st.Action == "show-me" && st.State != "busy" {
			if st.State != "ok" {
				t.Fatalf("Show me: the page says %s: %s", st.State, st.Text)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Show me: still %+v", st)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if shown, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("me"))); err != nil {
		t.Fatalf("read #me: %v", err)
	}
	if err := json.Unmarshal([]byte(shown), &me); err != nil {
		t.Fatalf("#me shows %q: %v", shown, err)
	}
	if me.User.Username != fedUser || me.User.Email != fedEmail || me.User.FirstName != "Grace" ||
		!slices.Equal(me.User.Identities, []string{"corp"}) || me.User.HasPassword ||
		!slices.Equal(me.AMR, []string{"fed"}) || me.IDP != "corp" {
		t.Errorf("GET /v1/me on the page shows %s; want the new account %s (%s, identity corp, no password), amr [fed], idp corp", shown, fedUser, fedEmail)
	}
	checkPolicy(t, ctx, "back from the provider")

	// The service, on its own: the account has the identity at corp, and one
	// live session, opened by this browser with amr fed at idp corp, which
	// login_succeeded records.
	bg := context.Background()
	st := d.e.App.Store
	acct, err := st.UserByLogin(bg, fedUser)
	if err != nil {
		t.Fatalf("the store has no user %s: %v", fedUser, err)
	}
	if me.User.ID != acct.ID.String() {
		t.Errorf("the page shows user %s; the store's %s is %s", me.User.ID, fedUser, acct.ID)
	}
	if id, err := st.IdentityBySubject(bg, "corp", "sub-"+fedUser); err != nil || id.UserID != acct.ID {
		t.Errorf("the identity corp/sub-%s: %+v (%v); want it linked to %s", fedUser, id, err, acct.ID)
	}
	live, err := st.LiveSessions(bg, acct.ID, d.e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].AMR != models.AMRFederated || live[0].IDP != "corp" || !strings.Contains(live[0].UserAgent, "Chrome") {
		t.Fatalf("the live sessions of %s: %+v; want one, amr fed, idp corp, opened by Chromium", fedUser, live)
	}
	events, err := st.ListAudit(bg, store.AuditFilter{UserID: acct.ID, Type: "login_succeeded", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var details struct {
		Method    string   `json:"method"`
		AMR       []string `json:"amr"`
		SessionID string   `json:"session_id"`
	}
	if len(events) != 1 {
		t.Fatalf("login_succeeded events of %s: %+v; want one", fedUser, events)
	}
	if err := json.Unmarshal([]byte(events[0].Details), &details); err != nil ||
		details.Method != "provider:corp" || !slices.Equal(details.AMR, []string{"fed"}) || details.SessionID != live[0].ID.String() {
		t.Errorf("login_succeeded details %s (%v); want method provider:corp, amr [fed], session %s", events[0].Details, err, live[0].ID)
	}

	// A reload: the token was in memory only, and nothing is replayed.
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("provider-corp"))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if s, err := chromedp.Run(ctx, chromedp.Evaluate[pageStatus](readPageStatus)); err != nil || s.State != "idle" || s.URL != d.base+demo.PagePath {
		t.Errorf("after a reload the page says %+v (%v); want it idle, nothing exchanged again", s, err)
	}
	if in, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('session').dataset.signedIn`)); err != nil || in != "false" {
		t.Errorf("after a reload #session is signed in %q (%v); want signed out", in, err)
	}

	// An error the callback sends back shows on the status line, and leaves
	// the address bar too.
	err = chromedp.Do(ctx,
		chromedp.Navigate(d.base+demo.PagePath+"?error=access_denied&error_description=The+user+said+no"),
		chromedp.WaitVisible(chromedp.ID("provider-corp")),
	)
	if err != nil {
		t.Fatalf("load the page with an error: %v", err)
	}
	s, err = chromedp.Run(ctx, chromedp.Evaluate[pageStatus](readPageStatus))
	if err != nil || s.Action != "provider-login" || s.State != "error" ||
		!strings.Contains(s.Text, "access_denied") || !strings.Contains(s.Text, "The user said no") || s.URL != d.base+demo.PagePath {
		t.Errorf("with ?error=access_denied the page says %+v (%v); want the error and its description, the query removed", s, err)
	}
	checkPolicy(t, ctx, "with an error")
}
