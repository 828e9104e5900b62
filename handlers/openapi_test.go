package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/oidctest"
	"github.com/authsvc/authsvc/internal/openapitest"
	"github.com/authsvc/authsvc/internal/smtptest"
)

// liveAPI sends requests to a running service through the document's checker.
type liveAPI struct {
	t      *testing.T
	base   string
	client *http.Client
	ctx    context.Context
	header []string // name, value pairs sent with every request
}

// answer is a response as read.
type answer struct {
	t      *testing.T
	what   string
	Status int
	Header http.Header
	Body   []byte
}

// as sends the access token; basic sends the test gateway's credentials;
// clientBasic a service client's (client_secret_basic: id and secret form-encoded
// first, RFC 6749 §2.3.1).
func (a liveAPI) as(tok string) liveAPI { return a.with("Authorization", "Bearer "+tok) }
func (a liveAPI) basic() liveAPI        { return a.with(gatewayAuth()...) }
func (a liveAPI) clientBasic(id, secret string) liveAPI {
	return a.with("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
}

func (a liveAPI) with(kv ...string) liveAPI {
	a.header = append(slices.Clip(a.header), kv...)
	return a
}

// unchecked: the next requests break the document on purpose (see openapitest.Unchecked).
func (a liveAPI) unchecked() liveAPI {
	a.ctx = openapitest.Unchecked(a.ctx)
	return a
}

// do sends body as JSON (a string as is, a url.Values form-encoded).
func (a liveAPI) do(method, path string, body any) answer {
	a.t.Helper()
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case url.Values:
		r, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(a.ctx, method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(a.header); i += 2 {
		req.Header.Set(a.header[i], a.header[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return answer{t: a.t, what: method + " " + path, Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func (r answer) want(status int) answer {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("%s: %d, want %d: %s", r.what, r.Status, status, r.Body)
	}
	return r
}

// says checks the error's code: a problem's code, or an OAuth error's error.
func (r answer) says(code string) answer {
	r.t.Helper()
	var e struct{ Code, Error string }
	r.decode(&e)
	if got := e.Code + e.Error; got != code {
		r.t.Fatalf("%s: %d %q, want %q: %s", r.what, r.Status, got, code, r.Body)
	}
	return r
}

func (r answer) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: %v: %s", r.what, err, r.Body)
	}
}

// TestOpenAPIResponsesMatchTheDocument drives every operation of the served
// OpenAPI 3 document against a live service, successes and errors, and
// validates each request and each real response (status, headers, body)
// with kin-openapi's openapi3filter: the document is a contract that a
// generated client can rely on. An operation the test never reaches fails it.
// A second service, with the client failure limit and the lockout on, answers
// the 429s of the token endpoint and of POST /v1/me/tokens.
func TestOpenAPIResponsesMatchTheDocument(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	grace := oidctest.User{Username: "grace", Password: "op-pass", Subject: "corp-grace", Email: "grace@example.com",
		EmailVerified: true, GivenName: "Grace", FamilyName: "Hopper"}
	fed.OP.AddUser(grace)
	mail := smtptest.Start(t, smtptest.Config{})
	e := apitest.New(t, "sqlite", fed.Vars(smtpVars(mail, apitest.Vars{"EMAIL_VERIFICATION": "optional"})))
	srv := httptest.NewServer(e.App.Server)
	t.Cleanup(srv.Close)
	check := openapitest.New(t)
	api := liveAPI{t: t, base: srv.URL, client: check.Client(), ctx: context.Background()}
	bad := api.unchecked()

	// The document served is the one checked against.
	served, err := http.Get(srv.URL + "/apidocs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served.Body.Close()
	if served.StatusCode != 200 || !strings.HasPrefix(served.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /apidocs/openapi.json: %d %s", served.StatusCode, served.Header.Get("Content-Type"))
	}

	{ // discovery and operations
		for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration",
			"/.well-known/oauth-authorization-server", "/healthz", "/readyz", "/metrics", "/v1/auth/providers"} {
			api.do("GET", path, nil).want(200)
		}
	}

	// ada signs up, confirms her address from the mail, logs in.
	const adaEmail = "ada@example.com"
	api.do("POST", "/v1/auth/signup", map[string]any{"email": adaEmail, "username": "ada", "password": apitest.StrongPassword, "first_name": "Ada"}).want(201)
	api.do("POST", "/v1/auth/signup", map[string]any{"email": adaEmail, "username": "ada", "password": apitest.StrongPassword}).want(409)
	bad.do("POST", "/v1/auth/signup", map[string]any{"email": "not-an-address"}).want(400)
	bad.do("POST", "/v1/auth/signup", `{"email":`).want(400)
	bad.do("POST", "/v1/auth/signup", url.Values{"email": {"a"}}).want(415)
	e.App.Accounts.Wait()
	flushMail(e)
	api.do("POST", "/v1/auth/email/verify", map[string]any{"token": "not-a-token"}).want(400)
	api.do("POST", "/v1/auth/email/verify", map[string]any{"token": verifyToken(t, mail, adaEmail, confirmSubject)}).want(200)
	api.do("POST", "/v1/auth/email/resend", map[string]any{"email": adaEmail}).want(202)
	e.App.Accounts.Wait()

	var tk apitest.Tokens
	api.do("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-Password-1"}).want(401)
	api.do("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).want(200).decode(&tk)
	ada := api.as(tk.AccessToken)

	{ // me
		bad.do("GET", "/v1/me", nil).want(401)
		bad.as("not-a-token").do("GET", "/v1/me", nil).want(401)
		ada.do("GET", "/v1/me", nil).want(200)
		ada.do("GET", "/v1/auth/session", nil).want(200)
		bad.do("GET", "/v1/auth/session", nil).want(401)
		ada.do("PATCH", "/v1/me", map[string]any{"last_name": "Lovelace"}).want(200)
		ada.do("PATCH", "/v1/me", map[string]any{"email": "ada2@example.com"}).want(401) // the password is needed for that
		var sessions struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		ada.do("GET", "/v1/me/sessions", nil).want(200).decode(&sessions)
		other := api.do("POST", "/v1/auth/login", map[string]any{"login": adaEmail, "password": apitest.StrongPassword}).want(200)
		var otherTk apitest.Tokens
		other.decode(&otherTk)
		ada.do("DELETE", "/v1/me/sessions/"+otherTk.SessionID, nil).want(204)
		ada.do("DELETE", "/v1/me/sessions/"+otherTk.SessionID, nil).want(404)
	}

	{ // refresh and logout
		var second, third apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).want(200).decode(&second)
		api.do("POST", "/v1/auth/refresh", map[string]any{"refresh_token": second.RefreshToken}).want(200).decode(&third)
		api.do("POST", "/v1/auth/refresh", map[string]any{"refresh_token": "unknown"}).want(401)
		api.as(third.AccessToken).do("POST", "/v1/auth/logout", map[string]any{}).want(200)
		bad.do("POST", "/v1/auth/logout", nil).want(200)
		api.as(third.AccessToken).do("GET", "/v1/me", nil).want(401)
	}

	{ // gateways
		api.basic().do("POST", "/v1/auth/introspect", map[string]any{"token": tk.AccessToken}).want(200)
		api.basic().do("POST", "/v1/auth/introspect", url.Values{"token": {"not-a-token"}}).want(200)
		bad.do("POST", "/v1/auth/introspect", map[string]any{"token": tk.AccessToken}).want(401)
		bad.basic().do("POST", "/v1/auth/introspect", map[string]any{}).want(400)
		feed := api.basic().do("GET", "/v1/auth/revocations", nil).want(200)
		api.basic().with("If-None-Match", feed.Header.Get("ETag")).do("GET", "/v1/auth/revocations", nil).want(304)
		api.basic().do("GET", "/v1/auth/revocations?since=nonsense", nil).want(400)
		bad.do("GET", "/v1/auth/revocations", nil).want(401)
		// Forward authentication answers any method the document lists, at
		// /v1/auth/forward and below it.
		for _, op := range check.Operations() {
			if op.Path == "/v1/auth/forward" || strings.HasPrefix(op.Path, "/v1/auth/forward/") {
				path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(op.Path, "app")
				ada.do(op.Method, path, nil).want(200)
				ada.do(op.Method, path+"?role=admin", nil).want(403)
				bad.do(op.Method, path, nil).want(401)
			}
		}
	}

	{ // second factor
		var enrol struct{ Secret string }
		ada.do("POST", "/v1/me/mfa/totp", map[string]any{"password": "wrong-Password-1"}).want(401)
		ada.do("POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).want(201).decode(&enrol)
		ada.do("POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": "000000"}).want(400)
		ada.do("POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": totpAt(t, enrol.Secret, e.Clock.Now())}).want(200)
		e.Clock.Advance(30 * time.Second)
		var first struct {
			MFAToken string `json:"mfa_token"`
		}
		api.do("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).want(200).decode(&first)
		api.do("POST", "/v1/auth/mfa", map[string]any{"mfa_token": first.MFAToken, "code": "000000"}).want(401)
		api.do("POST", "/v1/auth/mfa", map[string]any{"mfa_token": first.MFAToken, "code": totpAt(t, enrol.Secret, e.Clock.Now())}).want(200)
		e.Clock.Advance(30 * time.Second)
		ada.do("POST", "/v1/me/mfa/recovery-codes", map[string]any{"password": apitest.StrongPassword, "code": totpAt(t, enrol.Secret, e.Clock.Now())}).want(200)
		e.Clock.Advance(30 * time.Second)
		ada.do("DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": totpAt(t, enrol.Secret, e.Clock.Now())}).want(204)
		ada.do("DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": "000000"}).want(409)
	}

	{ // passkeys
		d := newDevice(t, tk.User["id"].(string))
		var c ceremony
		ada.do("POST", "/v1/me/passkeys/register/options", map[string]any{"password": apitest.StrongPassword}).want(200).decode(&c)
		bad.as(tk.AccessToken).do("POST", "/v1/me/passkeys/register", map[string]any{"challenge_id": c.ChallengeID}).want(400)
		var added struct {
			Passkey struct{ ID string } `json:"passkey"`
		}
		ada.do("POST", "/v1/me/passkeys/register", map[string]any{"challenge_id": c.ChallengeID, "name": "Laptop", "credential": d.attest(t, c, theRP)}).
			want(201).decode(&added)
		ada.do("GET", "/v1/me/passkeys", nil).want(200)
		api.do("POST", "/v1/auth/passkey/options", nil).want(200).decode(&c)
		api.do("POST", "/v1/auth/passkey/login", map[string]any{"challenge_id": c.ChallengeID, "credential": d.assert(t, c, theRP)}).want(200)
		api.do("POST", "/v1/auth/passkey/login", map[string]any{"challenge_id": c.ChallengeID, "credential": d.assert(t, c, theRP)}).want(401)
		ada.do("DELETE", "/v1/me/passkeys/"+added.Passkey.ID, nil).want(204)
		ada.do("DELETE", "/v1/me/passkeys/"+added.Passkey.ID, nil).want(404)
	}

	{ // providers
		// Sign-in at corp as grace (a new account): authorize, the
		// provider's own login form, the callback, the exchange.
		verifier, challenge := fedtest.PKCE()
		bad.do("GET", "/v1/auth/providers/corp/authorize?redirect_uri="+url.QueryEscape(fedtest.AppRedirect), nil).want(400)
		api.do("GET", fedtest.AuthorizePath("nope", challenge), nil).want(404)
		toOP := api.do("GET", fedtest.AuthorizePath("corp", challenge), nil).want(302).Header.Get("Location")
		back := fed.OP.SignIn(t, fedtest.Browser(t), toOP, grace.Username, grace.Password)
		app, err := url.Parse(api.do("GET", back.RequestURI(), nil).want(302).Header.Get("Location"))
		if err != nil || app.Query().Get("code") == "" {
			t.Fatalf("callback sent the browser to %v (%v), want the app with a code", app, err)
		}
		exchange := map[string]any{"code": app.Query().Get("code"), "code_verifier": verifier}
		api.do("POST", "/v1/auth/providers/exchange", exchange).want(200)
		api.do("POST", "/v1/auth/providers/exchange", exchange).want(400) // spent
		api.do("GET", "/v1/auth/providers/corp/callback?state=forged&code=x", nil).want(400)

		// A native app's ID token.
		claims := idTokenClaims(e, fed, nil)
		api.do("POST", "/v1/auth/providers/corp/id-token", map[string]any{"id_token": fed.OP.IDToken(t, claims)}).want(200)
		api.do("POST", "/v1/auth/providers/corp/id-token", map[string]any{"id_token": "x.y.z"}).want(401)

		// ada links her corp identity, lists and unlinks it.
		var start struct {
			AuthorizeURL string `json:"authorize_url"`
		}
		link := map[string]any{"redirect_uri": fedtest.AppRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "password": apitest.StrongPassword}
		ada.do("POST", "/v1/me/identities/nope/link", link).want(404)
		ada.do("POST", "/v1/me/identities/corp/link", link).want(200).decode(&start)
		back = fed.OP.SignIn(t, fedtest.Browser(t), start.AuthorizeURL, adaAtCorp.Username, adaAtCorp.Password)
		api.do("GET", back.RequestURI(), nil).want(302)
		var ids identitiesJSON
		ada.do("GET", "/v1/me/identities", nil).want(200).decode(&ids)
		if len(ids.Identities) != 1 {
			t.Fatalf("identities %+v; want corp's", ids)
		}
		ada.do("DELETE", "/v1/me/identities/"+ids.Identities[0].ID, nil).want(204)
		ada.do("DELETE", "/v1/me/identities/"+ids.Identities[0].ID, nil).want(404)
	}

	{ // administration
		var at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		admin := api.as(at.AccessToken)
		ada.do("GET", "/v1/users", nil).want(403)
		admin.do("GET", "/v1/users?limit=2", nil).want(200)
		admin.do("GET", "/v1/users?cursor=nonsense", nil).want(400)
		admin.do("GET", "/v1/users/count", nil).want(200)
		var made struct {
			User struct{ ID string } `json:"user"`
		}
		admin.do("POST", "/v1/users", map[string]any{"email": "bob@example.com", "username": "bob", "password": apitest.StrongPassword}).want(201).decode(&made)
		admin.do("POST", "/v1/users", map[string]any{"email": "bob@example.com", "username": "bob", "password": apitest.StrongPassword}).want(409)
		admin.do("POST", "/v1/users/import", map[string]any{"users": []map[string]any{
			{"email": "imp@example.com", "username": "imp", "password_hash": "$2a$04$gVDWfIhN5GMaKX3.lo6rZe.93IPJgwUq7XSLIQ.q1Fq6mlbE9im62", "created_at": "2021-03-04T05:06:07Z"},
			{"email": "bob@example.com", "username": "bob2"}, {"email": "nope", "username": "nope"}}}).want(200)
		ada.do("POST", "/v1/users/import", map[string]any{"users": []map[string]any{{"email": "x@example.com", "username": "xxx"}}}).want(403)
		bob := "/v1/users/" + made.User.ID
		admin.do("GET", bob, nil).want(200)
		admin.do("GET", "/v1/users/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f", nil).want(404)
		admin.do("PATCH", bob, map[string]any{"first_name": "Bob"}).want(200)
		bad.as(at.AccessToken).do("PATCH", bob, map[string]any{"status": "locked"}).want(400)
		api.do("POST", "/v1/auth/login", map[string]any{"login": "bob", "password": apitest.StrongPassword}).want(200)
		admin.do("GET", bob+"/sessions", nil).want(200)
		admin.do("DELETE", bob+"/sessions", nil).want(204)
		admin.do("DELETE", bob+"/mfa", nil).want(204)
		admin.do("DELETE", bob, nil).want(204)
		admin.do("DELETE", bob, nil).want(404)

		admin.do("GET", "/v1/roles", nil).want(200)
		admin.do("POST", "/v1/roles", map[string]any{"name": "auditor", "permissions": []string{"audit:read"}}).want(201)
		admin.do("POST", "/v1/roles", map[string]any{"name": "auditor"}).want(409) // permissions are optional
		admin.do("PATCH", "/v1/roles/auditor", map[string]any{"description": "Reads the audit log"}).want(200)
		admin.do("PATCH", "/v1/roles/nobody", map[string]any{"permissions": []string{}}).want(404)
		admin.do("DELETE", "/v1/roles/auditor", nil).want(204)
		admin.do("DELETE", "/v1/roles/auditor", nil).want(404)

		admin.do("GET", "/v1/audit?limit=5", nil).want(200)
		admin.do("GET", "/v1/audit?cursor=nonsense", nil).want(400)
	}

	{ // service clients (the client credentials grant) and personal access tokens
		var at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		admin := api.as(at.AccessToken)
		const unknown = "/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"

		// A client keeper holds clients:* but not users:read: it may not
		// give a client, or manage one that holds, what it lacks.
		admin.do("POST", "/v1/roles", map[string]any{"name": "keeper", "permissions": []string{"clients:read", "clients:write"}}).want(201)
		admin.do("POST", "/v1/users", map[string]any{"email": "kim@example.com", "username": "kim", "password": apitest.StrongPassword, "roles": []string{"keeper"}}).want(201)
		var kt apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "kim", "password": apitest.StrongPassword}).want(200).decode(&kt)
		keeper := api.as(kt.AccessToken)

		svc := map[string]any{"name": "svc", "description": "A test service", "permissions": []string{"users:read"}}
		bad.do("POST", "/v1/clients", svc).want(401)
		ada.do("POST", "/v1/clients", svc).want(403).says("forbidden")
		keeper.do("POST", "/v1/clients", svc).want(403).says("forbidden") // users:read, which kim lacks
		admin.do("POST", "/v1/clients", map[string]any{"name": "svc", "permissions": []string{"no:such"}}).want(400).says("unknown_permission")
		bad.as(at.AccessToken).do("POST", "/v1/clients", map[string]any{"name": "svc"}).want(400).says("validation_failed")
		var made struct {
			Client       struct{ ID string } `json:"client"`
			ClientSecret string              `json:"client_secret"`
		}
		admin.do("POST", "/v1/clients", svc).want(201).decode(&made)
		client := "/v1/clients/" + made.Client.ID

		bad.do("GET", "/v1/clients", nil).want(401)
		ada.do("GET", "/v1/clients", nil).want(403)
		admin.do("GET", "/v1/clients", nil).want(200)
		keeper.do("GET", client, nil).want(200)
		bad.do("GET", client, nil).want(401)
		ada.do("GET", client, nil).want(403)
		admin.do("GET", "/v1/clients"+unknown, nil).want(404).says("client_not_found")

		bad.do("PATCH", client, map[string]any{"description": "x"}).want(401)
		ada.do("PATCH", client, map[string]any{"description": "x"}).want(403)
		keeper.do("PATCH", client, map[string]any{"description": "x"}).want(403) // the client holds users:read
		admin.do("PATCH", "/v1/clients"+unknown, map[string]any{"description": "x"}).want(404)
		admin.do("PATCH", client, map[string]any{"permissions": []string{"no:such"}}).want(400).says("unknown_permission")
		bad.as(at.AccessToken).do("PATCH", client, map[string]any{"name": ""}).want(400).says("validation_failed")
		admin.do("PATCH", client, map[string]any{"description": "The test service"}).want(200)

		// The token endpoint (RFC 6749 §4.4): form-encoded, OAuth errors.
		grant := url.Values{"grant_type": {"client_credentials"}}
		var issued struct {
			AccessToken string `json:"access_token"`
			Scope       string `json:"scope"`
		}
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", grant).want(200).decode(&issued)
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token",
			url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}).want(200)
		// client_secret_post: the credentials in the form, no HTTP Basic. The
		// document cannot say so (swag's @Security has no "or none"
		// alternative), so the request is not checked; its answer is.
		bad.do("POST", "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {made.Client.ID}, "client_secret": {made.ClientSecret}}).want(200)
		wrong := api.clientBasic(made.Client.ID, "not-the-secret").do("POST", "/v1/oauth/token", grant).want(401).says("invalid_client")
		if !strings.HasPrefix(wrong.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("invalid_client answered WWW-Authenticate %q, want Basic", wrong.Header.Get("WWW-Authenticate"))
		}
		bad.do("POST", "/v1/oauth/token", grant).want(401).says("invalid_client") // no credentials at all
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token",
			url.Values{"grant_type": {"client_credentials"}, "scope": {"roles:write"}}).want(400).says("invalid_scope")
		bad.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", url.Values{"grant_type": {"password"}}).
			want(400).says("unsupported_grant_type")
		bad.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", url.Values{}).want(400).says("invalid_request")
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_secret": {made.ClientSecret}}).want(400).says("invalid_request") // Basic and the form at once

		// The service token acts with its permissions, as no user.
		service := api.as(issued.AccessToken)
		service.do("GET", "/v1/users", nil).want(200)
		service.do("GET", "/v1/clients", nil).want(403)
		service.do("GET", "/v1/me/tokens", nil).want(403).says("session_required")
		fwd := service.do("GET", "/v1/auth/forward", nil).want(200)
		if fwd.Header.Get("X-Auth-Client-Id") != made.Client.ID {
			t.Errorf("forward auth of a service token: X-Auth-Client-Id %q, want %s", fwd.Header.Get("X-Auth-Client-Id"), made.Client.ID)
		}
		var intro struct {
			Active   bool
			ClientID string `json:"client_id"`
			Scope    string
		}
		api.basic().do("POST", "/v1/auth/introspect", map[string]any{"token": issued.AccessToken}).want(200).decode(&intro)
		if !intro.Active || intro.ClientID != made.Client.ID || intro.Scope != "users:read" {
			t.Errorf("introspection of a service token: %+v", intro)
		}

		// A new secret; the old one keeps working for the overlap.
		var rotated struct {
			ClientSecret string `json:"client_secret"`
		}
		bad.do("POST", client+"/secret", nil).want(401)
		ada.do("POST", client+"/secret", nil).want(403)
		keeper.do("POST", client+"/secret", nil).want(403)
		admin.do("POST", "/v1/clients"+unknown+"/secret", nil).want(404)
		admin.do("POST", client+"/secret", map[string]any{"overlap": "25h"}).want(400).says("validation_failed")
		admin.do("POST", client+"/secret", map[string]any{"overlap": "1h"}).want(200).decode(&rotated)
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", grant).want(200)
		admin.do("POST", client+"/secret", nil).want(200).decode(&rotated) // no body: overlap 0s, the others end now
		api.clientBasic(made.Client.ID, made.ClientSecret).do("POST", "/v1/oauth/token", grant).want(401)
		service.do("GET", "/v1/users", nil).want(401)
		api.clientBasic(made.Client.ID, rotated.ClientSecret).do("POST", "/v1/oauth/token", grant).want(200).decode(&issued)
		service = api.as(issued.AccessToken)
		service.do("GET", "/v1/users", nil).want(200)

		// Disabled, its token and its secret are refused; deleted, it is gone.
		admin.do("PATCH", client, map[string]any{"disabled": true}).want(200)
		service.do("GET", "/v1/users", nil).want(401)
		api.clientBasic(made.Client.ID, rotated.ClientSecret).do("POST", "/v1/oauth/token", grant).want(401).says("invalid_client")
		bad.do("DELETE", client, nil).want(401)
		ada.do("DELETE", client, nil).want(403)
		keeper.do("DELETE", client, nil).want(403)
		admin.do("DELETE", client, nil).want(204)
		admin.do("DELETE", client, nil).want(404)

		// Personal access tokens: ada's (no permissions), root's (users:read).
		pat := map[string]any{"name": "script", "expires_in": 3600, "password": apitest.StrongPassword}
		bad.do("POST", "/v1/me/tokens", pat).want(401)
		ada.do("POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 3600, "password": "wrong-Password-1"}).want(401)
		ada.do("POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 3600, "permissions": []string{"users:read"},
			"password": apitest.StrongPassword}).want(403).says("forbidden")
		ada.do("POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 3600, "permissions": []string{"no:such"},
			"password": apitest.StrongPassword}).want(400).says("unknown_permission")
		bad.as(tk.AccessToken).do("POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 60, "password": apitest.StrongPassword}).
			want(400).says("validation_failed")
		var mine struct {
			Token  struct{ ID string } `json:"token"`
			Secret string              `json:"secret"`
		}
		ada.do("POST", "/v1/me/tokens", pat).want(201).decode(&mine)
		script := api.as(mine.Secret)
		script.do("GET", "/v1/me", nil).want(200)
		script.do("GET", "/v1/users", nil).want(403)
		script.do("POST", "/v1/me/tokens", pat).want(403).says("session_required")
		script.do("GET", "/v1/me/tokens", nil).want(403).says("session_required")
		script.do("DELETE", "/v1/me/tokens/"+mine.Token.ID, nil).want(403).says("session_required")
		script.do("GET", "/v1/auth/forward", nil).want(200)
		api.basic().do("POST", "/v1/auth/introspect", map[string]any{"token": mine.Secret}).want(200)
		bad.do("GET", "/v1/me/tokens", nil).want(401)
		ada.do("GET", "/v1/me/tokens", nil).want(200)
		bad.do("DELETE", "/v1/me/tokens/"+mine.Token.ID, nil).want(401)
		ada.do("DELETE", "/v1/me/tokens/"+mine.Token.ID, nil).want(204)
		ada.do("DELETE", "/v1/me/tokens/"+mine.Token.ID, nil).want(404).says("token_not_found")
		script.do("GET", "/v1/me", nil).want(401) // revoked

		var roots struct {
			Token  struct{ ID string } `json:"token"`
			Secret string              `json:"secret"`
		}
		admin.do("POST", "/v1/me/tokens", map[string]any{"name": "reports", "expires_in": 86400, "permissions": []string{"users:read"},
			"password": apitest.AdminPassword}).want(201).decode(&roots)
		api.as(roots.Secret).do("GET", "/v1/users", nil).want(200)

		// An account holds at most 100 live tokens.
		for i := range 100 {
			ada.do("POST", "/v1/me/tokens", map[string]any{"name": "batch " + strconv.Itoa(i), "expires_in": 3600, "password": apitest.StrongPassword}).want(201)
		}
		ada.do("POST", "/v1/me/tokens", pat).want(409).says("too_many_tokens")

		// An administrator reads and revokes a user's tokens.
		rootTokens, adaTokens := "/v1/users/"+at.User["id"].(string)+"/tokens", "/v1/users/"+tk.User["id"].(string)+"/tokens"
		bad.do("GET", adaTokens, nil).want(401)
		ada.do("GET", adaTokens, nil).want(403)
		admin.do("GET", adaTokens, nil).want(200)
		admin.do("GET", "/v1/users"+unknown+"/tokens", nil).want(404).says("user_not_found")
		bad.do("GET", rootTokens+"/"+roots.Token.ID, nil).want(401)
		ada.do("GET", rootTokens+"/"+roots.Token.ID, nil).want(403)
		admin.do("GET", rootTokens+"/"+roots.Token.ID, nil).want(200)
		admin.do("GET", adaTokens+"/"+roots.Token.ID, nil).want(404).says("token_not_found") // root's, not ada's
		bad.do("DELETE", rootTokens+"/"+roots.Token.ID, nil).want(401)
		ada.do("DELETE", rootTokens+"/"+roots.Token.ID, nil).want(403)
		admin.do("DELETE", rootTokens+"/"+roots.Token.ID, nil).want(204)
		admin.do("DELETE", rootTokens+"/"+roots.Token.ID, nil).want(404).says("token_not_found")
		api.as(roots.Secret).do("GET", "/v1/users", nil).want(401) // revoked
		bad.do("DELETE", adaTokens, nil).want(401)
		ada.do("DELETE", adaTokens, nil).want(403)
		admin.do("DELETE", "/v1/users"+unknown+"/tokens", nil).want(404).says("user_not_found")
		admin.do("DELETE", adaTokens, nil).want(204)
		var left struct{ Tokens []any }
		admin.do("GET", adaTokens, nil).want(200).decode(&left)
		if len(left.Tokens) != 0 {
			t.Errorf("ada holds %d tokens after they were all revoked", len(left.Tokens))
		}
	}

	{ // sign-in by email (codes and links), invitations
		var at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		admin := api.as(at.AccessToken)
		var cora struct {
			User struct{ ID string } `json:"user"`
		}
		admin.do("POST", "/v1/users", map[string]any{"email": "cora@example.com", "username": "cora", "password": apitest.StrongPassword,
			"email_verified": true}).want(201).decode(&cora)
		coraPath := "/v1/users/" + cora.User.ID
		flushMail(e)
		api.do("POST", "/v1/auth/email/code", map[string]any{"email": "cora@example.com"}).want(202)
		api.do("POST", "/v1/auth/email/code", map[string]any{"email": "nobody@example.com", "create": true}).want(202)
		bad.do("POST", "/v1/auth/email/code", map[string]any{"email": "not-an-address"}).want(400).says("validation_failed")
		bad.do("POST", "/v1/auth/email/code", `{"email":`).want(400).says("malformed_json")
		e.App.Accounts.Wait()
		flushMail(e)
		m := lastSignInMail(t, mail, "cora@example.com")
		wrong := "00000000"
		if m.Code == wrong {
			wrong = "11111111"
		}
		api.do("POST", "/v1/auth/email/code/verify", map[string]any{"email": "cora@example.com", "code": wrong}).want(401).says("invalid_code")
		api.do("POST", "/v1/auth/email/code/verify", map[string]any{"token": "not-a-token"}).want(401).says("invalid_code")
		bad.do("POST", "/v1/auth/email/code/verify", map[string]any{"email": "cora@example.com", "code": "1234567"}).want(400).says("validation_failed")
		bad.do("POST", "/v1/auth/email/code/verify", map[string]any{"email": "cora@example.com", "token": m.Token}).want(400).says("validation_failed")
		bad.do("POST", "/v1/auth/email/code/verify", map[string]any{}).want(400).says("validation_failed")
		api.do("POST", "/v1/auth/email/code/verify", map[string]any{"email": "cora@example.com", "code": m.Code}).want(200)
		// By link; refused while the account is disabled, which leaves the link unused.
		api.do("POST", "/v1/auth/email/code", map[string]any{"email": "cora@example.com"}).want(202)
		e.App.Accounts.Wait()
		flushMail(e)
		m = lastSignInMail(t, mail, "cora@example.com")
		admin.do("PATCH", coraPath, map[string]any{"status": "disabled"}).want(200)
		api.do("POST", "/v1/auth/email/code/verify", map[string]any{"token": m.Token}).want(403).says("account_disabled")
		admin.do("PATCH", coraPath, map[string]any{"status": "active"}).want(200)
		api.do("POST", "/v1/auth/email/code/verify", map[string]any{"token": m.Token, "remember": true}).want(200)

		var ivy struct {
			User struct{ ID string } `json:"user"`
		}
		admin.do("POST", "/v1/users", map[string]any{"email": "ivy@example.com", "username": "ivy", "invite": true}).want(201).decode(&ivy)
		bad.as(at.AccessToken).do("POST", "/v1/users", map[string]any{"email": "ivo@example.com", "username": "ivo"}).want(400).says("validation_failed")
		bad.as(at.AccessToken).do("POST", "/v1/users", map[string]any{"email": "ivo@example.com", "username": "ivo", "invite": true,
			"password": apitest.StrongPassword}).want(400).says("validation_failed")
		ivyInvite := "/v1/users/" + ivy.User.ID + "/invite"
		bad.do("POST", ivyInvite, nil).want(401)
		ada.do("POST", ivyInvite, nil).want(403).says("forbidden")
		admin.do("POST", "/v1/users/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f/invite", nil).want(404).says("user_not_found")
		admin.do("POST", ivyInvite, nil).want(202)
		flushMail(e)
		tok := inviteToken(t, mail, "ivy@example.com", "ivy")
		api.do("POST", "/v1/auth/invite/accept", map[string]any{"token": "not-a-token", "password": apitest.StrongPassword}).want(400).says("invalid_token")
		api.do("POST", "/v1/auth/invite/accept", map[string]any{"token": tok, "password": "short"}).want(400).says("validation_failed")
		bad.do("POST", "/v1/auth/invite/accept", map[string]any{"token": tok}).want(400).says("validation_failed")
		admin.do("PATCH", "/v1/users/"+ivy.User.ID, map[string]any{"status": "disabled"}).want(200)
		api.do("POST", "/v1/auth/invite/accept", map[string]any{"token": tok, "password": apitest.StrongPassword}).want(403).says("account_disabled")
		admin.do("PATCH", "/v1/users/"+ivy.User.ID, map[string]any{"status": "active"}).want(200)
		api.do("POST", "/v1/auth/invite/accept", map[string]any{"token": tok, "password": apitest.StrongPassword}).want(200)
		admin.do("POST", ivyInvite, nil).want(409).says("already_accepted")

		// Sign-in by email off: both endpoints are 404.
		off := apitest.New(t, "sqlite", apitest.Vars{"EMAIL_LOGIN": "false"})
		srv3 := httptest.NewServer(off.App.Server)
		t.Cleanup(srv3.Close)
		api3 := liveAPI{t: t, base: srv3.URL, client: check.Client(), ctx: context.Background()}
		api3.do("POST", "/v1/auth/email/code", map[string]any{"email": "root@example.com"}).want(404).says("email_login_disabled")
		api3.do("POST", "/v1/auth/email/code/verify", map[string]any{"email": "root@example.com", "code": "12345678"}).want(404).says("email_login_disabled")
	}

	{ // webhooks
		var at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		admin := api.as(at.AccessToken)
		const unknown = "/v1/webhooks/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"
		hook := map[string]any{"url": "https://hooks.example.com/authsvc", "events": []string{"user.created", "user.deleted"}, "description": "CRM"}
		bad.do("POST", "/v1/webhooks", hook).want(401)
		ada.do("POST", "/v1/webhooks", hook).want(403).says("forbidden")
		admin.do("POST", "/v1/webhooks", map[string]any{"url": "http://hooks.example.com/", "events": []string{"*"}}).want(400).says("validation_failed")
		admin.do("POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/", "events": []string{"no.such"}}).want(400).says("validation_failed")
		bad.as(at.AccessToken).do("POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/"}).want(400).says("validation_failed")
		var made struct {
			Webhook struct{ ID string } `json:"webhook"`
			Secret  string              `json:"secret"`
		}
		admin.do("POST", "/v1/webhooks", hook).want(201).decode(&made)
		path := "/v1/webhooks/" + made.Webhook.ID

		bad.do("GET", "/v1/webhooks", nil).want(401)
		ada.do("GET", "/v1/webhooks", nil).want(403)
		admin.do("GET", "/v1/webhooks", nil).want(200)
		bad.do("GET", path, nil).want(401)
		ada.do("GET", path, nil).want(403)
		admin.do("GET", path, nil).want(200)
		admin.do("GET", unknown, nil).want(404).says("webhook_not_found")

		bad.do("PATCH", path, map[string]any{"disabled": true}).want(401)
		ada.do("PATCH", path, map[string]any{"disabled": true}).want(403)
		admin.do("PATCH", unknown, map[string]any{"disabled": true}).want(404).says("webhook_not_found")
		admin.do("PATCH", path, map[string]any{"url": "https://127.0.0.1/"}).want(400).says("validation_failed")
		bad.as(at.AccessToken).do("PATCH", path, map[string]any{"events": []string{}}).want(400).says("validation_failed")
		admin.do("PATCH", path, map[string]any{"events": []string{"*"}, "description": "Everything"}).want(200)

		bad.do("POST", path+"/test", nil).want(401)
		ada.do("POST", path+"/test", nil).want(403)
		admin.do("POST", unknown+"/test", nil).want(404).says("webhook_not_found")
		admin.do("POST", path+"/test", nil).want(202)
		bad.do("GET", path+"/deliveries", nil).want(401)
		ada.do("GET", path+"/deliveries", nil).want(403)
		admin.do("GET", unknown+"/deliveries", nil).want(404).says("webhook_not_found")
		var deliveries struct {
			Deliveries []struct{ Event, Status string } `json:"deliveries"`
		}
		admin.do("GET", path+"/deliveries", nil).want(200).decode(&deliveries)
		if len(deliveries.Deliveries) != 1 || deliveries.Deliveries[0].Event != "webhook.test" || deliveries.Deliveries[0].Status != "pending" {
			t.Errorf("deliveries after a test: %+v; want one pending webhook.test", deliveries.Deliveries)
		}

		bad.do("DELETE", path, nil).want(401)
		ada.do("DELETE", path, nil).want(403)
		admin.do("DELETE", path, nil).want(204)
		admin.do("DELETE", path, nil).want(404).says("webhook_not_found")
	}

	{ // limits, on a second service where they are on (the first has them off, as every test but theirs)
		limited := apitest.New(t, "sqlite", apitest.Vars{"INTROSPECTION_FAILURE_RATE_LIMIT": "2/m", "LOCKOUT_THRESHOLD": "2"})
		srv2 := httptest.NewServer(limited.App.Server)
		t.Cleanup(srv2.Close)
		api2 := liveAPI{t: t, base: srv2.URL, client: check.Client(), ctx: context.Background()}
		grant := url.Values{"grant_type": {"client_credentials"}}
		guess := api2.clientBasic("0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f", "guessed-secret")
		guess.do("POST", "/v1/oauth/token", grant).want(401).says("invalid_client")
		guess.do("POST", "/v1/oauth/token", grant).want(401).says("invalid_client")
		if r := guess.do("POST", "/v1/oauth/token", grant).want(429).says("rate_limited"); r.Header.Get("Retry-After") == "" {
			t.Error("POST /v1/oauth/token: 429 without Retry-After")
		}

		var at apitest.Tokens
		api2.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		wrong := map[string]any{"name": "script", "expires_in": 3600, "password": "wrong-Password-1"}
		api2.as(at.AccessToken).do("POST", "/v1/me/tokens", wrong).want(401)
		api2.as(at.AccessToken).do("POST", "/v1/me/tokens", wrong).want(401)
		api2.as(at.AccessToken).do("POST", "/v1/me/tokens", wrong).want(429).says("too_many_attempts")

		// Wrong sign-in codes count toward the same lockout (1 in 10⁸ that 00000000 is the code mailed).
		api2.do("POST", "/v1/auth/signup", map[string]any{"email": "lou@example.com", "username": "lou", "password": apitest.StrongPassword}).want(201)
		api2.do("POST", "/v1/auth/email/code", map[string]any{"email": "lou@example.com"}).want(202)
		limited.App.Accounts.Wait()
		guessCode := map[string]any{"email": "lou@example.com", "code": "00000000"}
		api2.do("POST", "/v1/auth/email/code/verify", guessCode).want(401).says("invalid_code")
		api2.do("POST", "/v1/auth/email/code/verify", guessCode).want(401).says("invalid_code")
		if r := api2.do("POST", "/v1/auth/email/code/verify", guessCode).want(429).says("too_many_attempts"); r.Header.Get("Retry-After") == "" {
			t.Error("POST /v1/auth/email/code/verify: 429 without Retry-After")
		}
	}

	{ // every body is JSON of at most 1 MiB (handlers/decode.go), before anything else is looked at (but the token endpoint's, below)
		var at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		for _, op := range check.Operations() {
			if !op.Body {
				continue
			}
			path := strings.NewReplacer("{id}", "0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f", "{name}", "corp").Replace(op.Path)
			if strings.HasPrefix(op.Path, "/v1/roles/") {
				path = "/v1/roles/user"
			}
			caller := bad.as(at.AccessToken)
			if op.ID == "introspect" {
				caller = bad.basic()
			}
			if op.ID == "issueToken" {
				// The OAuth token endpoint is the exception, for OAuth
				// libraries' sake (RFC 6749 §3.2, §5.2): it takes a form, not
				// JSON, of at most 16 KiB; a wrong content type is 400
				// invalid_request (no 415), and every error, 413 included,
				// is an OAuth error object, not problem JSON.
				for _, ct := range []string{"text/plain", "application/json"} {
					caller.with("Content-Type", ct).do(op.Method, path, `{"grant_type": "client_credentials"}`).want(400).says("invalid_request")
				}
				big := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Repeat("x", 16<<10)}}
				if r := caller.do(op.Method, path, big).want(413).says("invalid_request"); r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s: 413 as %q, want an OAuth error (application/json)", op, r.Header.Get("Content-Type"))
				}
				continue
			}
			caller.with("Content-Type", "text/plain").do(op.Method, path, "hello").want(415)
			caller.do(op.Method, path, `{"x": "`+strings.Repeat("x", 1<<20)+`"}`).want(413)
		}
	}

	{ // passwords
		const next = "another-Harbor-tunnel-59!"
		ada.do("POST", "/v1/me/password", map[string]any{"old_password": "wrong-Password-1", "new_password": next}).want(401)
		ada.do("POST", "/v1/me/password", map[string]any{"old_password": apitest.StrongPassword, "new_password": next}).want(200)
		flushMail(e)
		api.do("POST", "/v1/auth/password/forgot", map[string]any{"email": adaEmail}).want(202)
		e.App.Accounts.Wait()
		flushMail(e)
		api.do("POST", "/v1/auth/password/reset", map[string]any{"token": "not-a-token", "new_password": next}).want(400)
		api.do("POST", "/v1/auth/password/reset", map[string]any{"token": lastToken(t, mail, adaEmail), "new_password": apitest.StrongPassword}).want(200)
	}

	{ // deletion
		var me, at apitest.Tokens
		api.do("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).want(200).decode(&me)
		api.as(me.AccessToken).do("DELETE", "/v1/me", map[string]any{"password": "wrong-Password-1"}).want(401)
		api.as(me.AccessToken).do("DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).want(204)
		api.do("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.AdminPassword}).want(200).decode(&at)
		admin := api.as(at.AccessToken)
		admin.do("DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "no"}).want(400)
		admin.do("DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "DELETE ALL USERS"}).want(204)
	}

	// Exemptions from the coverage, by operationId, each with its reason. None:
	// every operation is reachable here, ceremonies included (a software
	// authenticator for passkeys, a real OpenID Connect provider for sign-in).
	exempt := map[string]string{}
	for _, op := range check.Unexercised(exempt) {
		t.Errorf("%s: no exchange reached it; exercise it here (or exempt it, saying why)", op)
	}
	seen := check.Seen()
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		t.Logf("%s: %v", id, seen[id])
	}
}
