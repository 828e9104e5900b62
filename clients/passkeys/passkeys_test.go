// Package passkeys drives the passkey demo page (/demo/passkeys) in headless
// Chromium with a CDP virtual authenticator, as a person with a passkey on
// their device would: password login, register a passkey, log out, log in with
// the passkey, GET /v1/me. It has tests only. Debian's chromium is needed
// (.ci/run installs it); elsewhere the tests are skipped when it is absent,
// and fail under CI=true.
//
// The service runs over real HTTP on a loopback port with
// PUBLIC_URL=http://localhost:<port>: the RP ID is "localhost" and the page's
// origin http://localhost:<port>, a secure context, so WebAuthn works without
// TLS.
package passkeys

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/browsertest"
)

// browser starts headless Chromium for the test and returns a tab's context.
// On failure, a full-page screenshot of the tab is saved in the test's
// artifact directory (kept with go test -artifacts) and its path logged,
// with what the page's status line said.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.New(t, browsertest.Options{
		Screenshot: "passkeys.png",
		Shows: `(() => {
		const text = id => { const el = document.getElementById(id); return el ? el.textContent : '(none)'; };
		return 'status: ' + text('status') + '\nsession: ' + text('session') + '\nme: ' + text('me');
	})()`,
	})
}

// serve starts the service (SQLite, the passkey demo on) over HTTP on a
// loopback port, with PUBLIC_URL=http://localhost:<that port>, and returns it
// and that URL. The port is taken before the service is built, since its
// configuration names it.
func serve(t *testing.T) (*apitest.Env, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	e := apitest.New(t, "sqlite", apitest.Vars{"PUBLIC_URL": base, "PASSKEY_DEMO": "true"})
	srv := httptest.NewUnstartedServer(e.App.Server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return e, base
}

// authenticatorOptions is a platform authenticator with passkeys (resident
// keys) and user verification, which needs no touch.
var authenticatorOptions = webauthn.VirtualAuthenticatorOptions{
	Protocol:                    webauthn.AuthenticatorProtocolCtap2,
	Ctap2version:                webauthn.Ctap2versionCtap21,
	Transport:                   webauthn.AuthenticatorTransportInternal,
	HasResidentKey:              true,
	HasUserVerification:         true,
	IsUserVerified:              true,
	AutomaticPresenceSimulation: true,
}

// addAuthenticator turns on the tab's WebAuthn domain (so the browser's own
// authenticators and its UI are out of the way) and adds a virtual
// authenticator.
func addAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	id, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", fmt.Errorf("WebAuthn.enable: %w", err)
		}
		opts := authenticatorOptions
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
		if err != nil {
			return "", fmt.Errorf("WebAuthn.addVirtualAuthenticator: %w", err)
		}
		return res.AuthenticatorID, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func removeAuthenticator(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) {
	t.Helper()
	err := chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
		return chromedp.Void{}, err
	})
	if err != nil {
		t.Fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
	}
}

// credentials lists what the virtual authenticator holds.
func credentials(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	creds, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*webauthn.Credential, error) {
		res, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return res.Credentials, err
	})
	if err != nil {
		t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return creds
}

// status is what the page's status line says after an action.
type status struct {
	Action string `json:"action"`
	State  string `json:"state"` // ok or error
	Text   string `json:"text"`
}

// readStatus reads the status line. The page's policy forbids eval, so the
// test polls from Go (chromedp.Poll would need new Function in the page).
const readStatus = `(() => {
	const s = document.getElementById('status');
	return {action: s.dataset.action, state: s.dataset.state, text: s.textContent};
})()`

// press clicks a button of the page that starts an action, without waiting
// for the action to finish (wait does).
func press(t *testing.T, ctx context.Context, button string) {
	t.Helper()
	// A marker on the status line, which every action overwrites: the answer
	// waited for is the new action's, not an earlier one's.
	mark := `(() => { const s = document.getElementById('status'); s.dataset.action = ''; s.dataset.state = 'clicked'; return true; })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](mark)); err != nil {
		t.Fatalf("mark the status line: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.ID(button)), chromedp.Click(chromedp.ID(button))); err != nil {
		t.Fatalf("click #%s: %v", button, err)
	}
}

// wait waits until the action started by the last press has finished, and
// returns the status line, which must be about action.
func wait(t *testing.T, ctx context.Context, action string) status {
	t.Helper()
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[status](readStatus))
		if err != nil {
			t.Fatalf("%s: read the status line: %v", action, err)
		}
		if s.State != "clicked" && s.State != "busy" {
			if s.Action != action {
				t.Fatalf("the status line is about %q, want %q: %s", s.Action, action, s.Text)
			}
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still %s: %q: %v", action, s.State, s.Text, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// click presses a button and waits until the action it starts, named action
// on the status line, has finished; it returns the status.
func click(t *testing.T, ctx context.Context, button, action string) status {
	t.Helper()
	press(t, ctx, button)
	return wait(t, ctx, action)
}

// mustClick is click for an action that must succeed.
func mustClick(t *testing.T, ctx context.Context, button, action string) status {
	t.Helper()
	s := click(t, ctx, button, action)
	if s.State != "ok" {
		t.Fatalf("%s (#%s): the page says %s: %s", action, button, s.State, s.Text)
	}
	return s
}

// fill empties an input and types value into it. (chromedp.Clear empties
// only the value attribute, not what was typed.)
func fill(t *testing.T, ctx context.Context, input, value string) {
	t.Helper()
	empty := chromedp.Evaluate[bool](fmt.Sprintf(`(el => { el.value = ''; return true; })(document.getElementById(%q))`, input))
	if err := chromedp.Do(ctx, chromedp.Steps(chromedp.WaitVisible(chromedp.ID(input)), func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := empty(ctx, tg)
		return chromedp.Void{}, err
	}, chromedp.SendKeys(chromedp.ID(input), value))); err != nil {
		t.Fatalf("type into #%s: %v", input, err)
	}
}

// signedIn says whether the page holds an access token, as it shows it.
func signedIn(t *testing.T, ctx context.Context) (bool, string) {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`(s => [s.dataset.signedIn, s.textContent])(document.getElementById('session'))`))
	if err != nil || len(s) != 2 {
		t.Fatalf("read #session: %v", err)
	}
	return s[0] == "true", s[1]
}

// me is the part of GET /v1/me the test reads.
type me struct {
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		MFA      struct {
			Passkeys int `json:"passkeys"`
		} `json:"mfa"`
	} `json:"user"`
	AMR []string `json:"amr"`
}

// showMe clicks "Show me" and decodes what #me then shows.
func showMe(t *testing.T, ctx context.Context) (me, string) {
	t.Helper()
	mustClick(t, ctx, "show-me", "show-me")
	shown, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("me")))
	if err != nil {
		t.Fatalf("read #me: %v", err)
	}
	var m me
	if err := json.Unmarshal([]byte(shown), &m); err != nil {
		t.Fatalf("#me shows %q: %v", shown, err)
	}
	return m, shown
}

// openDemo loads the demo page and checks that the browser sees it as a
// secure context and applies its style (so the policy's style hash is right);
// from then on it records what the page's Content-Security-Policy blocks, for
// checkPolicy.
func openDemo(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/demo/passkeys"),
		chromedp.WaitVisible(chromedp.ID("passkey-login")),
	)
	if err != nil {
		t.Fatalf("load %s/demo/passkeys: %v", base, err)
	}
	if secure, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.isSecureContext`)); err != nil || !secure {
		t.Fatalf("%s is not a secure context (%v): WebAuthn would refuse", base, err)
	}
	if width, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`)); err != nil || width == "none" {
		t.Errorf("the page's style is not applied (body max-width %q, %v): its Content-Security-Policy blocks it", width, err)
	}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		window.cspViolations = [];
		document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
		return true;
	})()`))
	if err != nil {
		t.Fatalf("listen for policy violations: %v", err)
	}
}

// checkPolicy fails if the page's Content-Security-Policy (Trusted Types
// included) blocked anything since openDemo.
func checkPolicy(t *testing.T, ctx context.Context) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.cspViolations || []`))
	if err != nil {
		t.Fatalf("read policy violations: %v", err)
	}
	if len(v) > 0 {
		t.Errorf("the page's Content-Security-Policy blocked: %q", v)
	}
}

// TestPasskeyDemo: on the demo page, a user logs in with a password, registers
// a passkey (the virtual authenticator makes a resident credential for RP ID
// localhost; a second registration on it is refused), logs out, logs in with
// the passkey and sees GET /v1/me: their profile, with amr [hwk user]. Then
// passkey login fails, and the page holds no token, when the passkey is
// deleted on the service, when the browser has no authenticator (cancelled),
// and when its authenticator does not hold the passkey.
func TestPasskeyDemo(t *testing.T) {
	tab := browser(t)
	e, base := serve(t)
	ada := e.Signup("ada")
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	auth := addAuthenticator(t, ctx)

	openDemo(t, ctx, base)

	fill(t, ctx, "login", "ada")
	fill(t, ctx, "password", apitest.StrongPassword)
	mustClick(t, ctx, "login-submit", "login")
	if in, shown := signedIn(t, ctx); !in || !strings.Contains(shown, "ada") {
		t.Fatalf("after the password login the page shows %q", shown)
	}

	fill(t, ctx, "register-password", apitest.StrongPassword)
	mustClick(t, ctx, "register", "register")
	creds := credentials(t, ctx, auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("after registering, the authenticator holds %d credentials %+v; want one resident credential for localhost", len(creds), creds)
	}
	// The options exclude the user's passkeys: this authenticator, which has
	// one, refuses to make a second.
	fill(t, ctx, "register-password", apitest.StrongPassword)
	if s := click(t, ctx, "register", "register"); s.State != "error" || !strings.Contains(s.Text, "InvalidStateError") {
		t.Errorf("registering again on the same authenticator: the page says %s: %s; want InvalidStateError (excludeCredentials)", s.State, s.Text)
	}
	if creds := credentials(t, ctx, auth); len(creds) != 1 {
		t.Errorf("after registering again, the authenticator holds %d credentials; want 1", len(creds))
	}
	if m, shown := showMe(t, ctx); m.User.Username != "ada" || !slices.Equal(m.AMR, []string{"pwd"}) || m.User.MFA.Passkeys != 1 {
		t.Errorf("after registering, GET /v1/me of the password session shows %s; want ada, amr [pwd], mfa.passkeys 1", shown)
	}

	mustClick(t, ctx, "logout", "logout")
	expectSignedOut(t, ctx, "after logging out")

	mustClick(t, ctx, "passkey-login", "passkey-login")
	if in, shown := signedIn(t, ctx); !in || !strings.Contains(shown, "ada") {
		t.Fatalf("after the passkey login the page shows %q", shown)
	}
	m, shown := showMe(t, ctx)
	if m.User.Username != "ada" || m.User.ID != ada["id"] {
		t.Errorf("after the passkey login GET /v1/me shows %s; want ada (id %v)", shown, ada["id"])
	}
	if !slices.Equal(m.AMR, []string{"hwk", "user"}) {
		t.Errorf("after the passkey login GET /v1/me shows amr %q; want [hwk user]", m.AMR)
	}
	if creds := credentials(t, ctx, auth); len(creds) != 1 || creds[0].SignCount < 1 {
		t.Errorf("after the passkey login the authenticator holds %+v; want its one credential, used", creds)
	}

	// The service agrees: one passkey, named by the page.
	tk := e.Login("ada", apitest.StrongPassword).AccessToken
	var list struct {
		Passkeys []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"passkeys"`
	}
	e.As(tk, "GET", "/v1/me/passkeys", nil).Expect(http.StatusOK).Decode(&list)
	if len(list.Passkeys) != 1 || list.Passkeys[0].Name != "demo" {
		t.Fatalf("GET /v1/me/passkeys: %+v; want the one passkey named demo", list.Passkeys)
	}
	mustClick(t, ctx, "logout", "logout")

	// The second run: the passkey is deleted on the service; the authenticator
	// still signs with it, and the service refuses the assertion.
	e.As(tk, "DELETE", "/v1/me/passkeys/"+list.Passkeys[0].ID, nil).Expect(http.StatusNoContent)
	s := click(t, ctx, "passkey-login", "passkey-login")
	if s.State != "error" || !strings.Contains(s.Text, "401") || !strings.Contains(s.Text, "invalid_passkey") {
		t.Errorf("passkey login with a passkey deleted on the service: the page says %s: %s; want 401 invalid_passkey", s.State, s.Text)
	}
	expectSignedOut(t, ctx, "after a passkey login with a deleted passkey")

	// Then without the authenticator: the browser has no authenticator and
	// waits (until the options' timeout) for one; Cancel ends the ceremony.
	// The page enables Cancel as it calls navigator.credentials.get, once the
	// options have come; an AbortError after the click shows the browser was
	// still waiting then (had it given up, the page would say NotAllowedError).
	removeAuthenticator(t, ctx, auth)
	press(t, ctx, "passkey-login")
	if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.ID("cancel"))); err != nil {
		t.Fatalf("passkey login with no authenticator: Cancel never enabled: %v", err)
	}
	if s, err := chromedp.Run(ctx, chromedp.Evaluate[status](readStatus)); err != nil || s.State != "busy" || !strings.Contains(s.Text, "Waiting for the authenticator") {
		t.Fatalf("passkey login with no authenticator, in the ceremony: %+v (%v); want it waiting for the authenticator", s, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cancel"))); err != nil {
		t.Fatalf("click #cancel: %v", err)
	}
	if s := wait(t, ctx, "passkey-login"); s.State != "error" || !strings.Contains(s.Text, "AbortError") {
		t.Errorf("passkey login with no authenticator, cancelled: the page says %s: %s; want an AbortError", s.State, s.Text)
	}
	expectSignedOut(t, ctx, "after a cancelled passkey login")

	// And with a new authenticator that has never seen the passkey: the
	// browser answers NotAllowedError at once, nothing reaches the service.
	addAuthenticator(t, ctx)
	if s := click(t, ctx, "passkey-login", "passkey-login"); s.State != "error" || !strings.Contains(s.Text, "NotAllowedError") {
		t.Errorf("passkey login with an authenticator without the passkey: the page says %s: %s; want NotAllowedError", s.State, s.Text)
	}
	expectSignedOut(t, ctx, "after a passkey login with an authenticator without the passkey")
	checkPolicy(t, ctx)
}

// expectSignedOut fails unless the page holds no access token: it shows no
// user signed in, and "Show me" is answered 401.
func expectSignedOut(t *testing.T, ctx context.Context, when string) {
	t.Helper()
	if in, shown := signedIn(t, ctx); in {
		t.Errorf("%s the page shows %q; want signed out", when, shown)
	}
	if s := click(t, ctx, "show-me", "show-me"); s.State != "error" || !strings.Contains(s.Text, "401") {
		t.Errorf("Show me %s: %s %q; want a 401 error", when, s.State, s.Text)
	}
}
