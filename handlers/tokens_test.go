package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
)

// The helpers of this file are prefixed pat, so that it stands on its own.

// patSecretForm: the prefix, then at least 256 bits in base64url.
var patSecretForm = regexp.MustCompile(`^authsvc_pat_[A-Za-z0-9_-]{43,}$`)

// patToken is a personal access token made through the API.
type patToken struct {
	id, secret string
	view       map[string]any // the token as the creation answer shows it
}

// patCreate makes a personal access token with the session tok (201);
// body overrides the defaults (name, expires_in 3600, the strong password).
func patCreate(t *testing.T, e *apitest.Env, tok string, body map[string]any) patToken {
	t.Helper()
	req := map[string]any{"name": "script", "expires_in": 3600, "password": apitest.StrongPassword}
	for k, v := range body {
		req[k] = v
	}
	var out struct {
		Token  map[string]any `json:"token"`
		Secret string         `json:"secret"`
	}
	e.WithT(t).As(tok, "POST", "/v1/me/tokens", req).Expect(http.StatusCreated).Decode(&out)
	if !patSecretForm.MatchString(out.Secret) {
		t.Fatalf("secret %q: want authsvc_pat_ and at least 43 base64url characters", out.Secret)
	}
	return patToken{id: out.Token["id"].(string), secret: out.Secret, view: out.Token}
}

// patUser makes an active user with roles (besides "user") as the admin and logs it in.
func patUser(t *testing.T, e *apitest.Env, admin, name string, roles ...string) apitest.Tokens {
	t.Helper()
	e.WithT(t).As(admin, "POST", "/v1/users", map[string]any{
		"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "roles": append([]string{"user"}, roles...),
	}).Expect(http.StatusCreated)
	return e.WithT(t).Login(name, apitest.StrongPassword)
}

// patServiceToken makes a service client with perms and returns a token of it.
func patServiceToken(t *testing.T, e *apitest.Env, admin string, perms ...string) string {
	t.Helper()
	e = e.WithT(t)
	var made struct {
		Client       struct{ ID string } `json:"client"`
		ClientSecret string              `json:"client_secret"`
	}
	e.As(admin, "POST", "/v1/clients", map[string]any{"name": "svc", "permissions": append([]string{}, perms...)}).Expect(http.StatusCreated).Decode(&made)
	req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(made.Client.ID, made.ClientSecret)
	return e.Do(req).Expect(http.StatusOK).JSON()["access_token"].(string)
}

// patList lists the session's own tokens.
func patList(t *testing.T, e *apitest.Env, tok string) []map[string]any {
	t.Helper()
	var out struct {
		Tokens []map[string]any `json:"tokens"`
	}
	e.WithT(t).As(tok, "GET", "/v1/me/tokens", nil).Expect(http.StatusOK).Decode(&out)
	return out.Tokens
}

func patIDs(list []map[string]any) []string {
	out := []string{}
	for _, tk := range list {
		out = append(out, tk["id"].(string))
	}
	return out
}

// patRefused checks a personal token is refused (401 code) by the API,
// introspection and forward auth.
func patRefused(t *testing.T, e *apitest.Env, secret, code string) {
	t.Helper()
	e = e.WithT(t)
	e.As(secret, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, code)
	expectInactive(t, introspectJSON(e, secret))
	r := forwardAs(e, "GET", "/v1/auth/forward", secret).ExpectProblem(http.StatusUnauthorized, code)
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="authsvc", error="invalid_token"` {
		t.Fatalf("forward auth challenge %q", got)
	}
}

// patTime parses a JSON timestamp.
func patTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %v: %v", v, err)
	}
	return at
}

// patRoute is a route of the router.
type patRoute struct{ method, path string }

// patOwnRoute: a route registered with own... in routes.go (a session only).
var patOwnRoute = regexp.MustCompile(`e\.(GET|POST|PUT|PATCH|DELETE)\("([^"]+)",\s*[^,()]+,\s*own\.\.\.\)`)

// patOwnRoutes are the routes routes.go marks own... (session only), read
// from the source, so that a route added there is tested here too. Each is
// checked to be served by the router; paths keep their parameters (:id).
func patOwnRoutes(t *testing.T, e *apitest.Env) []patRoute {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[patRoute]bool{}
	for _, r := range e.App.Server.Routes() {
		registered[patRoute{r.Method, r.Path}] = true
	}
	var out []patRoute
	for _, m := range patOwnRoute.FindAllStringSubmatch(string(src), -1) {
		rt := patRoute{m[1], m[2]}
		if !registered[rt] {
			t.Fatalf("%s %s: in routes.go but not served", rt.method, rt.path)
		}
		out = append(out, rt)
	}
	// The list routes.go had when this test was written: none may be lost.
	for _, want := range []string{"/v1/auth/session", "/v1/me/password", "/v1/me/sessions/:id", "/v1/me/mfa/totp", "/v1/me/passkeys",
		"/v1/me/identities/:name/link", "/v1/me/tokens", "/v1/me/tokens/:id"} {
		if !slices.ContainsFunc(out, func(r patRoute) bool { return r.path == want }) {
			t.Fatalf("no own... route %s found in routes.go (found %v)", want, out)
		}
	}
	if len(out) < 19 {
		t.Fatalf("%d own... routes found in routes.go, want at least 19: %v", len(out), out)
	}
	return out
}

var patParam = regexp.MustCompile(`:[A-Za-z_]+`)

// patTry sends the request each own... route would do something with, for
// the user with the session ses, as tok: a real session or token id in the
// path, and a valid body, so that a route left unguarded would act (and the
// test see it).
func patTry(e *apitest.Env, tok string, rt patRoute, ses apitest.Tokens, tokenID string) *apitest.Response {
	e.T.Helper()
	path := patParam.ReplaceAllStringFunc(rt.path, func(p string) string {
		switch {
		case p == ":name":
			return "corp"
		case rt.path == "/v1/me/sessions/:id":
			return ses.SessionID
		case rt.path == "/v1/me/tokens/:id":
			return tokenID
		}
		return uuid.NewString()
	})
	bodies := map[string]any{
		"POST /v1/me/password":                  map[string]any{"old_password": apitest.StrongPassword, "new_password": "Brand-new-pass-4471!"},
		"DELETE /v1/me":                         map[string]any{"password": apitest.StrongPassword},
		"POST /v1/me/tokens":                    map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword},
		"POST /v1/me/mfa/totp":                  map[string]any{"password": apitest.StrongPassword},
		"POST /v1/me/passkeys/register/options": map[string]any{"password": apitest.StrongPassword},
		"POST /v1/me/mfa/recovery-codes":        map[string]any{"password": apitest.StrongPassword},
		"DELETE /v1/me/mfa/totp":                map[string]any{"password": apitest.StrongPassword},
	}
	body, ok := bodies[rt.method+" "+rt.path]
	if !ok && rt.method != "GET" {
		body = map[string]any{}
	}
	return e.As(tok, rt.method, path, body)
}

// TestPersonalTokenCreate: a session and the password make one; expires_in
// and permissions are checked; the secret is shown once, in its form.
func TestPersonalTokenCreate(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		e.As(admin, "POST", "/v1/roles", map[string]any{"name": "reader", "permissions": []string{"users:read"}}).Expect(http.StatusCreated)
		rob := patUser(t, e, admin, "rob", "reader")

		now := e.Clock.Now()
		r := e.As(rob.AccessToken, "POST", "/v1/me/tokens", map[string]any{
			"name": " backup ", "expires_in": 7200, "permissions": []string{"users:read"}, "password": apitest.StrongPassword,
		}).Expect(http.StatusCreated)
		expectNoStore(t, "create", r)
		if got := r.Header.Get("Pragma"); got != "no-cache" {
			t.Errorf("Pragma %q on the answer holding the secret", got)
		}
		var made struct {
			Token  map[string]any `json:"token"`
			Secret string         `json:"secret"`
		}
		r.Decode(&made)
		if !patSecretForm.MatchString(made.Secret) {
			t.Fatalf("secret %q: want authsvc_pat_ and at least 43 base64url characters (256 bits)", made.Secret)
		}
		tk := made.Token
		if _, err := uuid.Parse(tk["id"].(string)); err != nil || tk["name"] != "backup" || tk["last_used_at"] != nil ||
			!slices.Equal(toStrings(tk["permissions"]), []string{"users:read"}) {
			t.Fatalf("token %v", tk)
		}
		if !patTime(t, tk["created_at"]).Equal(now) || !patTime(t, tk["expires_at"]).Equal(now.Add(2*time.Hour)) {
			t.Errorf("created_at %v, expires_at %v; want %v and two hours later", tk["created_at"], tk["expires_at"], now)
		}
		if got := patKeys(tk); !slices.Equal(got, []string{"created_at", "expires_at", "id", "last_used_at", "name", "permissions"}) {
			t.Errorf("token members %v", got)
		}
		// Never shown again.
		list := e.As(rob.AccessToken, "GET", "/v1/me/tokens", nil).Expect(http.StatusOK)
		if strings.Contains(string(list.Body), made.Secret) || strings.Contains(string(list.Body), "authsvc_pat_") || strings.Contains(string(list.Body), "secret") {
			t.Errorf("the list shows the secret: %s", list.Body)
		}
		// No permission by default; the bounds of expires_in are allowed.
		none := patCreate(t, e, rob.AccessToken, nil)
		if perms, ok := none.view["permissions"].([]any); !ok || len(perms) != 0 {
			t.Errorf("default permissions %v, want []", none.view["permissions"])
		}
		e.As(none.secret, "GET", "/v1/users", nil).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(none.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		year := patCreate(t, e, rob.AccessToken, map[string]any{"expires_in": 31536000})
		if got := patTime(t, year.view["expires_at"]); !got.Equal(e.Clock.Now().Add(365 * 24 * time.Hour)) {
			t.Errorf("a year's token expires at %v", got)
		}

		bad := []struct {
			name   string
			tok    string
			body   map[string]any
			status int
			code   string
		}{
			{"wrong password", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600, "password": "not-" + apitest.StrongPassword}, 401, "invalid_credentials"},
			{"no password", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600}, 400, "validation_failed"},
			{"no expires_in", rob.AccessToken, map[string]any{"name": "x", "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in 0", rob.AccessToken, map[string]any{"name": "x", "expires_in": 0, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in 3599", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3599, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in 31536001", rob.AccessToken, map[string]any{"name": "x", "expires_in": 31536001, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in negative", rob.AccessToken, map[string]any{"name": "x", "expires_in": -3600, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in a string", rob.AccessToken, map[string]any{"name": "x", "expires_in": "3600", "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in a fraction", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600.5, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"expires_in huge", rob.AccessToken, map[string]any{"name": "x", "expires_in": 1e30, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"no name", rob.AccessToken, map[string]any{"expires_in": 3600, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"blank name", rob.AccessToken, map[string]any{"name": "  ", "expires_in": 3600, "password": apitest.StrongPassword}, 400, "validation_failed"},
			{"unknown field", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword, "roles": []string{"admin"}}, 400, "validation_failed"},
			{"permission not held", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword, "permissions": []string{"users:write"}}, 403, "forbidden"},
			{"one permission of two not held", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword, "permissions": []string{"users:read", "audit:read"}}, 403, "forbidden"},
			{"unknown permission", rob.AccessToken, map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword, "permissions": []string{"users:fly"}}, 400, "unknown_permission"},
			{"a personal token", made.Secret, map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword}, 403, "session_required"},
			{"a service token", patServiceToken(t, e, admin, "users:read"), map[string]any{"name": "x", "expires_in": 3600, "password": apitest.AdminPassword}, 403, "session_required"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				e.WithT(t).As(tc.tok, "POST", "/v1/me/tokens", tc.body).ExpectProblem(tc.status, tc.code)
			})
		}
		e.Request("POST", "/v1/me/tokens", map[string]any{"name": "x", "expires_in": 3600, "password": apitest.StrongPassword}).
			ExpectProblem(http.StatusUnauthorized, "missing_token")
		if got := patIDs(patList(t, e, rob.AccessToken)); len(got) != 3 {
			t.Fatalf("refused creations made tokens: %v", got)
		}

		// The audit trail records the creation, without the secret.
		events := auditEvents(t, e, admin, "type=personal_token_created&user_id="+idOf(rob.User))
		if len(events) != 3 {
			t.Fatalf("%d personal_token_created events, want 3", len(events))
		}
		for _, ev := range events {
			if ev["actor_id"] != idOf(rob.User) || strings.Contains(patJSON(t, ev), "authsvc_pat_") {
				t.Errorf("event %v", ev)
			}
		}
	})
}

// patJSON is v as JSON text, for searching.
func patJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func patKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestPersonalTokenActsAsUser: GET /v1/me with amr ["pat"]; the token acts
// with the intersection of its permissions and its user's current ones,
// and holds no role; a role change ends the sessions, not the token.
func TestPersonalTokenActsAsUser(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		e.As(admin, "POST", "/v1/roles", map[string]any{"name": "reader", "permissions": []string{"users:read", "audit:read"}}).Expect(http.StatusCreated)
		rob := patUser(t, e, admin, "rob", "reader")
		robID := idOf(rob.User)
		p := patCreate(t, e, rob.AccessToken, map[string]any{"permissions": []string{"users:read"}})

		me := e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK).JSON()
		if u := me["user"].(map[string]any); u["id"] != robID || u["username"] != "rob" || !slices.Equal(toStrings(me["amr"]), []string{"pat"}) {
			t.Fatalf("GET /v1/me with the token: %v", me)
		}
		e.As(p.secret, "GET", "/v1/users", nil).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/users/"+robID, nil).Expect(http.StatusOK)
		// The user's other permission is not the token's.
		e.As(rob.AccessToken, "GET", "/v1/audit", nil).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/audit", nil).ExpectProblem(http.StatusForbidden, "forbidden")

		in := introspectJSON(e, p.secret).Expect(http.StatusOK).JSON()
		if in["active"] != true || in["sub"] != robID || !slices.Equal(toStrings(in["amr"]), []string{"pat"}) ||
			!slices.Equal(toStrings(in["permissions"]), []string{"users:read"}) || len(in["roles"].([]any)) != 0 {
			t.Fatalf("introspection %v", in)
		}
		if exp := time.Unix(int64(in["exp"].(float64)), 0); !exp.Equal(patTime(t, p.view["expires_at"])) {
			t.Errorf("introspection exp %v, token expires_at %v", exp, p.view["expires_at"])
		}
		if _, ok := in["client_id"]; ok {
			t.Errorf("a personal token introspected with client_id: %v", in)
		}

		// The role goes: the token keeps only what the user still holds.
		e.As(admin, "PATCH", "/v1/users/"+robID, map[string]any{"roles": []string{"user"}}).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/users", nil).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK) // the token survives the role change
		if in := introspectJSON(e, p.secret).Expect(http.StatusOK).JSON(); in["active"] != true || len(in["permissions"].([]any)) != 0 {
			t.Fatalf("introspection after the role change %v: want active, no permission", in)
		}
		fw := forwardAs(e, "GET", "/v1/auth/forward", p.secret).Expect(http.StatusOK)
		if got := fw.Header.Get("X-Auth-Permissions"); got != "" {
			t.Fatalf("forward auth permissions %q after the role change", got)
		}
		// It comes back: the token acts with the current ones.
		e.As(admin, "PATCH", "/v1/users/"+robID, map[string]any{"roles": []string{"user", "reader"}}).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/users", nil).Expect(http.StatusOK)

		// An admin's token holds no role: no admin-only operation, no role requirement met.
		rootPAT := patCreate(t, e, admin, map[string]any{"password": apitest.AdminPassword, "permissions": []string{"users:read", "users:write", "roles:write"}})
		e.As(rootPAT.secret, "GET", "/v1/users", nil).Expect(http.StatusOK)
		e.As(rootPAT.secret, "DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "DELETE ALL USERS"}).
			ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(rootPAT.secret, "POST", "/v1/users", map[string]any{
			"email": "newadmin@example.com", "username": "newadmin", "password": apitest.StrongPassword, "roles": []string{"admin"},
		}).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(rootPAT.secret, "GET", "/v1/roles", nil).ExpectProblem(http.StatusForbidden, "forbidden") // roles:read was not given
		if in := introspectJSON(e, rootPAT.secret).Expect(http.StatusOK).JSON(); len(in["roles"].([]any)) != 0 {
			t.Fatalf("an admin's token introspected with roles %v", in["roles"])
		}
		if n := len(e.As(admin, "GET", "/v1/users", nil).Expect(http.StatusOK).JSON()["users"].([]any)); n != 2 {
			t.Fatalf("%d users after the refused requests, want 2", n)
		}
	})
}

// TestPersonalTokenForwardAuth: forward auth passes a personal token's user
// with amr pat, and no role.
func TestPersonalTokenForwardAuth(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.AdminLogin()
		p := patCreate(t, e, tk.AccessToken, map[string]any{"password": apitest.AdminPassword, "permissions": []string{"users:read"}})
		r := forwardAs(e, "GET", "/v1/auth/forward", p.secret).Expect(http.StatusOK)
		want := map[string]string{
			"X-Auth-User-Id": idOf(tk.User), "X-Auth-Username": "root", "X-Auth-Email": "root@example.com",
			"X-Auth-AMR": "pat", "X-Auth-Roles": "", "X-Auth-Permissions": "users:read", "X-Auth-Client-Id": "",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		forwardAs(e, "GET", "/v1/auth/forward?amr=pat&permission=users:read", p.secret).Expect(http.StatusOK)
		for _, q := range []string{"role=admin", "role=user", "permission=users:write", "amr=pwd"} {
			forwardAs(e, "GET", "/v1/auth/forward?"+q, p.secret).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		forwardAs(e, "GET", "/v1/auth/forward?role=admin", tk.AccessToken).Expect(http.StatusOK) // the session does
	})
}

// TestPersonalTokenGarbage: an unknown token of the right form, or garbage
// after the prefix, is invalid_token everywhere.
func TestPersonalTokenGarbage(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		real := patCreate(t, e, admin, map[string]any{"password": apitest.AdminPassword})
		for _, secret := range []string{
			"authsvc_pat_xxx", "authsvc_pat_", "authsvc_pat_" + strings.Repeat("A", 43),
			real.secret[:len(real.secret)-1], real.secret + "A", "authsvc_pat_" + strings.Repeat("é", 30), "authsvc_pat_%00",
		} {
			patRefused(t, e, secret, "invalid_token")
		}
		e.As(real.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
	})
}

// TestPersonalTokenSessionOnly: a personal token is refused (403
// session_required) on every route marked own... in routes.go, and on an
// email change; a names-only PATCH /v1/me works.
func TestPersonalTokenSessionOnly(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		ann := patUser(t, e, admin, "ann")
		p := patCreate(t, e, ann.AccessToken, nil)
		for _, rt := range patOwnRoutes(t, e) {
			r := patTry(e, p.secret, rt, ann, p.id)
			if r.Status != http.StatusForbidden {
				t.Errorf("%s %s with a personal token: %d %s, want 403 session_required", rt.method, rt.path, r.Status, r.Body)
				continue
			}
			r.ExpectProblem(http.StatusForbidden, "session_required")
		}
		// Nothing was done: the session, the password, the account and the token live.
		e.As(ann.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		if got := patIDs(patList(t, e, e.Login("ann", apitest.StrongPassword).AccessToken)); !slices.Equal(got, []string{p.id}) {
			t.Fatalf("tokens after the refused requests: %v", got)
		}

		// The profile's names change; the email does not.
		r := e.As(p.secret, "PATCH", "/v1/me", map[string]any{"first_name": "Ann", "last_name": "Lee"}).Expect(http.StatusOK)
		if u := r.JSON()["user"].(map[string]any); u["first_name"] != "Ann" || u["last_name"] != "Lee" {
			t.Fatalf("names-only PATCH: %v", u)
		}
		for _, body := range []map[string]any{
			{"email": "other@example.com"},
			{"email": "other@example.com", "password": apitest.StrongPassword},
			{"email": "other@example.com", "first_name": "Eve"},
		} {
			e.As(p.secret, "PATCH", "/v1/me", body).ExpectProblem(http.StatusForbidden, "session_required")
		}
		u := e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK).JSON()["user"].(map[string]any)
		if u["email"] != "ann@example.com" || u["first_name"] != "Ann" {
			t.Fatalf("after the refused email changes: %v", u)
		}
	})
}

// TestServiceTokenSelfService: a service token has no account: GET and PATCH
// /v1/me and every own... route are 403 session_required, never a 500.
func TestServiceTokenSelfService(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		svc := patServiceToken(t, e, admin, "users:read", "users:write")
		e.As(svc, "GET", "/v1/me", nil).ExpectProblem(http.StatusForbidden, "session_required")
		for _, body := range []map[string]any{{"first_name": "x"}, {"email": "svc@example.com", "password": "x"}, {}} {
			e.As(svc, "PATCH", "/v1/me", body).ExpectProblem(http.StatusForbidden, "session_required")
		}
		ann := patUser(t, e, admin, "ann")
		for _, rt := range patOwnRoutes(t, e) {
			r := patTry(e, svc, rt, ann, uuid.NewString())
			if r.Status != http.StatusForbidden {
				t.Errorf("%s %s with a service token: %d %s, want 403 session_required", rt.method, rt.path, r.Status, r.Body)
				continue
			}
			r.ExpectProblem(http.StatusForbidden, "session_required")
		}
		e.As(svc, "GET", "/v1/users", nil).Expect(http.StatusOK) // it is live, and acts with its permissions
		e.As(ann.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
	})
}

// TestLogoutWithScopedTokens: logging out with a personal or a service
// token as the bearer ends no session, not even with all, nor the token.
func TestLogoutWithScopedTokens(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		root := e.AdminLogin()
		ann := patUser(t, e, root.AccessToken, "ann")
		p := patCreate(t, e, ann.AccessToken, nil)
		svc := patServiceToken(t, e, root.AccessToken, "users:read")
		cursor := func() string { f, _ := readFeed(t, e, ""); return f.NextCursor }()
		for _, tok := range []string{p.secret, svc} {
			for _, body := range []any{nil, map[string]any{"all": true}} {
				e.As(tok, "POST", "/v1/auth/logout", body).Expect(http.StatusOK)
			}
		}
		e.As(ann.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(root.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(svc, "GET", "/v1/users", nil).Expect(http.StatusOK)
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": ann.RefreshToken}).Expect(http.StatusOK)
		if f, _ := readFeed(t, e, cursor); len(f.Revocations) != 0 {
			t.Fatalf("logouts with scoped tokens revoked %v", sids(f))
		}
	})
}

// TestPersonalTokenLifecycle: a password change does not end a personal
// token; disabling or deleting its user does, at once, everywhere.
func TestPersonalTokenLifecycle(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		ann := patUser(t, e, admin, "ann")
		annID := idOf(ann.User)
		p := patCreate(t, e, ann.AccessToken, nil)

		const newPassword = "Brand-new-pass-4471!"
		e.As(ann.AccessToken, "POST", "/v1/me/password", map[string]any{"old_password": apitest.StrongPassword, "new_password": newPassword}).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		if in := introspectJSON(e, p.secret).Expect(http.StatusOK).JSON(); in["active"] != true {
			t.Fatalf("introspection after a password change: %v", in)
		}
		// Nor does a password reset by an admin, or a revocation of the sessions.
		e.As(admin, "PATCH", "/v1/users/"+annID, map[string]any{"password": "Admin-set-pass-8812!"}).Expect(http.StatusOK)
		e.As(admin, "DELETE", "/v1/users/"+annID+"/sessions", nil).Expect(http.StatusNoContent)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)

		e.As(admin, "PATCH", "/v1/users/"+annID, map[string]any{"status": "disabled"}).Expect(http.StatusOK)
		// Disabling deletes the account's personal tokens: they are unknown from then on.
		patRefused(t, e, p.secret, "invalid_token")
		e.As(p.secret, "GET", "/v1/users/"+annID, nil).ExpectProblem(http.StatusUnauthorized, "invalid_token")

		bob := patUser(t, e, admin, "bob")
		q := patCreate(t, e, bob.AccessToken, nil)
		e.As(q.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(admin, "DELETE", "/v1/users/"+idOf(bob.User), nil).Expect(http.StatusNoContent)
		e.As(q.secret, "GET", "/v1/me", nil).Expect(http.StatusUnauthorized)
		expectInactive(t, introspectJSON(e, q.secret))
		forwardAs(e, "GET", "/v1/auth/forward", q.secret).Expect(http.StatusUnauthorized)
	})
}

// TestPersonalTokenDiesWithDisabledUser: "it dies ... when its user is
// disabled": re-enabling the account (as with its sessions) brings no token
// back; the user makes new ones.
func TestPersonalTokenDiesWithDisabledUser(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		ann := patUser(t, e, admin, "ann")
		annID := idOf(ann.User)
		p := patCreate(t, e, ann.AccessToken, nil)
		e.As(admin, "PATCH", "/v1/users/"+annID, map[string]any{"status": "disabled"}).Expect(http.StatusOK)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusUnauthorized)
		e.As(admin, "PATCH", "/v1/users/"+annID, map[string]any{"status": "active"}).Expect(http.StatusOK)
		e.As(ann.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusUnauthorized) // the session stays ended
		if r := e.As(p.secret, "GET", "/v1/me", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("the personal token of a disabled, then re-enabled user: %d %s; want it ended (401), as the sessions are", r.Status, r.Body)
		}
		if got := patIDs(patList(t, e, e.Login("ann", apitest.StrongPassword).AccessToken)); len(got) != 0 {
			t.Fatalf("the re-enabled user still lists tokens %v", got)
		}
	})
}

// TestPersonalTokenExpiry: at expires_at the token is token_expired
// everywhere, and leaves the lists.
func TestPersonalTokenExpiry(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		ann := e.SignupLogin("ann")
		annID := idOf(ann.User)
		short := patCreate(t, e, ann.AccessToken, map[string]any{"expires_in": 3600})
		long := patCreate(t, e, ann.AccessToken, map[string]any{"expires_in": 7200})

		e.Clock.Advance(time.Hour - time.Second)
		e.As(short.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.Clock.Advance(time.Second)
		patRefused(t, e, short.secret, "token_expired")
		e.As(long.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)

		session := e.Login("ann", apitest.StrongPassword).AccessToken
		if got := patIDs(patList(t, e, session)); !slices.Equal(got, []string{long.id}) {
			t.Fatalf("own list %v, want the live one only (%s)", got, long.id)
		}
		admin := e.AdminLogin().AccessToken
		var listed struct {
			Tokens []map[string]any `json:"tokens"`
		}
		e.As(admin, "GET", "/v1/users/"+annID+"/tokens", nil).Expect(http.StatusOK).Decode(&listed)
		if got := patIDs(listed.Tokens); !slices.Equal(got, []string{long.id}) {
			t.Fatalf("admin's list %v, want the live one only", got)
		}
		// An expired token is not found, like one revoked (not a 500).
		if r := e.As(admin, "GET", "/v1/users/"+annID+"/tokens/"+short.id, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET an expired token: %d %s, want 404 token_not_found", r.Status, r.Body)
		} else {
			r.ExpectProblem(http.StatusNotFound, "token_not_found")
		}
		e.As(admin, "GET", "/v1/users/"+annID+"/tokens/"+long.id, nil).Expect(http.StatusOK)
		e.Clock.Advance(time.Hour)
		patRefused(t, e, long.secret, "token_expired")
	})
}

// TestPersonalTokenListAndRevoke: the own list is newest first, without
// secrets; revoking ends a token at once; another user's is 404.
func TestPersonalTokenListAndRevoke(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		ann := e.SignupLogin("ann")
		bob := e.SignupLogin("bob")
		var made []patToken
		for _, name := range []string{"first", "second", "third"} {
			made = append(made, patCreate(t, e, ann.AccessToken, map[string]any{"name": name}))
			e.Clock.Advance(time.Second)
		}
		bobs := patCreate(t, e, bob.AccessToken, nil)

		r := e.As(ann.AccessToken, "GET", "/v1/me/tokens", nil).Expect(http.StatusOK)
		for _, m := range made {
			if strings.Contains(string(r.Body), m.secret) {
				t.Fatalf("the list shows a secret: %s", r.Body)
			}
		}
		list := patList(t, e, ann.AccessToken)
		if got, want := patIDs(list), []string{made[2].id, made[1].id, made[0].id}; !slices.Equal(got, want) {
			t.Fatalf("list %v, want newest first %v", got, want)
		}
		if list[0]["name"] != "third" || !patSameView(list[2], made[0].view) {
			t.Errorf("list entries %v; first made %v", list, made[0].view)
		}

		// Revoke one: 204, refused at once; again: 404.
		e.As(ann.AccessToken, "DELETE", "/v1/me/tokens/"+made[1].id, nil).Expect(http.StatusNoContent)
		patRefused(t, e, made[1].secret, "invalid_token")
		e.As(ann.AccessToken, "DELETE", "/v1/me/tokens/"+made[1].id, nil).ExpectProblem(http.StatusNotFound, "token_not_found")
		if got := patIDs(patList(t, e, ann.AccessToken)); !slices.Equal(got, []string{made[2].id, made[0].id}) {
			t.Fatalf("after the revocation: %v", got)
		}
		// Another user's token, an unknown and a malformed id: 404, and nothing ends.
		for _, id := range []string{bobs.id, uuid.NewString(), "not-a-uuid"} {
			e.As(ann.AccessToken, "DELETE", "/v1/me/tokens/"+id, nil).ExpectProblem(http.StatusNotFound, "token_not_found")
		}
		e.As(bobs.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(made[0].secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		if got := patIDs(patList(t, e, bob.AccessToken)); !slices.Equal(got, []string{bobs.id}) {
			t.Fatalf("bob's list %v", got)
		}

		admin := e.AdminLogin().AccessToken
		events := auditEvents(t, e, admin, "type=personal_token_revoked&user_id="+idOf(ann.User))
		if len(events) != 1 || events[0]["actor_id"] != idOf(ann.User) {
			t.Fatalf("personal_token_revoked events %v, want one by ann", events)
		}
		if d, _ := events[0]["details"].(map[string]any); d["token_id"] != made[1].id {
			t.Errorf("revocation details %v", d)
		}
	})
}

// patSameView compares a listed token with the one created: the same, but
// for last_used_at.
func patSameView(a, b map[string]any) bool {
	for _, k := range []string{"id", "name", "created_at", "expires_at"} {
		if a[k] != b[k] {
			return false
		}
	}
	return slices.Equal(toStrings(a["permissions"]), toStrings(b["permissions"]))
}

// TestPersonalTokenLastUsed: last_used_at is written on use, at most once a minute.
func TestPersonalTokenLastUsed(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		ann := e.SignupLogin("ann")
		p := patCreate(t, e, ann.AccessToken, nil)
		lastUsed := func() any {
			t.Helper()
			list := patList(t, e, ann.AccessToken)
			if len(list) != 1 {
				t.Fatalf("list %v", list)
			}
			return list[0]["last_used_at"]
		}
		if got := lastUsed(); got != nil {
			t.Fatalf("last_used_at %v before any use", got)
		}
		first := e.Clock.Now()
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		if got := patTime(t, lastUsed()); !got.Equal(first) {
			t.Fatalf("last_used_at %v, want %v", got, first)
		}
		e.Clock.Advance(30 * time.Second)
		e.As(p.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		introspectJSON(e, p.secret).Expect(http.StatusOK)
		if got := patTime(t, lastUsed()); !got.Equal(first) {
			t.Fatalf("last_used_at %v rewritten within the minute (first use %v)", got, first)
		}
		e.Clock.Advance(31 * time.Second)
		second := e.Clock.Now()
		forwardAs(e, "GET", "/v1/auth/forward", p.secret).Expect(http.StatusOK)
		if got := patTime(t, lastUsed()); !got.Equal(second) {
			t.Fatalf("last_used_at %v, want %v (past the minute)", got, second)
		}
		// A refused use is no use.
		e.Clock.Advance(2 * time.Minute)
		e.As(p.secret+"x", "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "invalid_token")
		if got := patTime(t, lastUsed()); !got.Equal(second) {
			t.Fatalf("last_used_at %v after a refused token", got)
		}
	})
}

// TestPersonalTokenAdmin: an admin lists (users:read), reads, revokes one
// and all (users:write) of a user's tokens, refused at once; a plain user
// may not.
func TestPersonalTokenAdmin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		e.As(admin, "POST", "/v1/roles", map[string]any{"name": "reader", "permissions": []string{"users:read"}}).Expect(http.StatusCreated)
		reader := patUser(t, e, admin, "rita", "reader").AccessToken
		ann := patUser(t, e, admin, "ann")
		annID := idOf(ann.User)
		plain := e.SignupLogin("plain")
		var made []patToken
		for range 3 {
			made = append(made, patCreate(t, e, ann.AccessToken, nil))
			e.Clock.Advance(time.Second)
		}
		others := patCreate(t, e, plain.AccessToken, nil)
		base := "/v1/users/" + annID + "/tokens"

		for _, tok := range []string{admin, reader} {
			r := e.As(tok, "GET", base, nil).Expect(http.StatusOK)
			var list struct {
				Tokens []map[string]any `json:"tokens"`
			}
			r.Decode(&list)
			if got := patIDs(list.Tokens); !slices.Equal(got, []string{made[2].id, made[1].id, made[0].id}) {
				t.Fatalf("admin list %v", got)
			}
			if strings.Contains(string(r.Body), "authsvc_pat_") {
				t.Fatalf("the admin list shows secrets: %s", r.Body)
			}
			one := e.As(tok, "GET", base+"/"+made[0].id, nil).Expect(http.StatusOK).JSON()["token"].(map[string]any)
			if !patSameView(one, made[0].view) {
				t.Fatalf("GET one %v, made %v", one, made[0].view)
			}
		}
		e.As(admin, "GET", base+"/"+others.id, nil).ExpectProblem(http.StatusNotFound, "token_not_found")
		e.As(admin, "GET", base+"/not-a-uuid", nil).ExpectProblem(http.StatusNotFound, "token_not_found")
		e.As(admin, "GET", "/v1/users/"+uuid.NewString()+"/tokens", nil).ExpectProblem(http.StatusNotFound, "user_not_found")
		e.As(admin, "DELETE", "/v1/users/"+uuid.NewString()+"/tokens", nil).ExpectProblem(http.StatusNotFound, "user_not_found")
		e.As(admin, "DELETE", base+"/"+others.id, nil).ExpectProblem(http.StatusNotFound, "token_not_found")

		// Who may not: 403, and nothing ends.
		for _, tok := range []string{plain.AccessToken, reader} {
			e.As(tok, "DELETE", base+"/"+made[0].id, nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "DELETE", base, nil).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		for _, path := range []string{base, base + "/" + made[0].id} {
			e.As(plain.AccessToken, "GET", path, nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.Request("GET", path, nil).ExpectProblem(http.StatusUnauthorized, "missing_token")
		}
		for _, m := range made {
			e.As(m.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		}

		// One, then all: refused at once.
		e.As(admin, "DELETE", base+"/"+made[0].id, nil).Expect(http.StatusNoContent)
		patRefused(t, e, made[0].secret, "invalid_token")
		e.As(made[1].secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		e.As(admin, "DELETE", base, nil).Expect(http.StatusNoContent)
		for _, m := range made[1:] {
			patRefused(t, e, m.secret, "invalid_token")
		}
		e.As(others.secret, "GET", "/v1/me", nil).Expect(http.StatusOK)
		var left struct {
			Tokens []map[string]any `json:"tokens"`
		}
		e.As(admin, "GET", base, nil).Expect(http.StatusOK).Decode(&left)
		if len(left.Tokens) != 0 {
			t.Fatalf("after revoking all: %v", left.Tokens)
		}
		e.As(admin, "DELETE", base, nil).Expect(http.StatusNoContent) // none left: still 204

		events := auditEvents(t, e, admin, "type=personal_token_revoked&user_id="+annID)
		if len(events) != 2 {
			t.Fatalf("%d personal_token_revoked events, want 2 (one, then all)", len(events))
		}
	})
}

// TestScopedTokensOnEveryRoute: a personal token and a service token, each
// with every permission, on every route of the router: refusals and
// answers, never a 500 (a scoped principal has no role, a service client no
// account).
func TestScopedTokensOnEveryRoute(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		root := e.AdminLogin()
		all := []string{"users:read", "users:write", "roles:read", "roles:write", "sessions:read", "sessions:write", "audit:read", "clients:read", "clients:write"}
		p := patCreate(t, e, root.AccessToken, map[string]any{"password": apitest.AdminPassword, "permissions": all})
		svc := patServiceToken(t, e, root.AccessToken, all...)
		victim := idOf(e.Signup("victim"))
		param := regexp.MustCompile(`:[A-Za-z_]+|\*`)
		seen := map[patRoute]bool{}
		for _, rt := range e.App.Server.Routes() {
			if strings.HasPrefix(rt.Path, "/apidocs") || rt.Method == "CONNECT" || rt.Method == "TRACE" || rt.Method == "PROPFIND" || rt.Method == "REPORT" {
				continue
			}
			path := param.ReplaceAllStringFunc(rt.Path, func(s string) string {
				switch s {
				case ":name":
					return "nobody"
				case "*":
					return "x"
				case ":tid":
					return uuid.NewString()
				}
				return victim
			})
			key := patRoute{rt.Method, path}
			if seen[key] {
				continue
			}
			seen[key] = true
			for who, tok := range map[string]string{"personal": p.secret, "service": svc} {
				var body any
				if rt.Method != "GET" && rt.Method != "HEAD" {
					body = map[string]any{}
				}
				if r := e.As(tok, rt.Method, path, body); r.Status >= 500 {
					t.Errorf("%s %s with a %s token: %d %s", rt.Method, path, who, r.Status, r.Body)
				}
			}
		}
		if len(seen) < 60 {
			t.Fatalf("only %d routes tried", len(seen))
		}
		// The admin's session is untouched by all this.
		e.As(root.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
	})
}

// TestPersonalTokenLimit: an account holds at most 100 live tokens (409
// too_many_tokens); a revoked or expired one makes room.
func TestPersonalTokenLimit(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		ann := e.SignupLogin("ann")
		first := patCreate(t, e, ann.AccessToken, map[string]any{"expires_in": 3600})
		var last patToken
		for range 99 {
			last = patCreate(t, e, ann.AccessToken, map[string]any{"expires_in": 7200})
		}
		body := map[string]any{"name": "one more", "expires_in": 7200, "password": apitest.StrongPassword}
		e.As(ann.AccessToken, "POST", "/v1/me/tokens", body).ExpectProblem(http.StatusConflict, "too_many_tokens")
		e.As(ann.AccessToken, "DELETE", "/v1/me/tokens/"+last.id, nil).Expect(http.StatusNoContent)
		patCreate(t, e, ann.AccessToken, map[string]any{"expires_in": 7200})
		e.As(ann.AccessToken, "POST", "/v1/me/tokens", body).ExpectProblem(http.StatusConflict, "too_many_tokens")
		e.Clock.Advance(time.Hour) // the first one expires
		session := e.Login("ann", apitest.StrongPassword).AccessToken
		e.As(first.secret, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "token_expired")
		patCreate(t, e, session, nil)
		if n := len(patList(t, e, session)); n != 100 {
			t.Fatalf("%d tokens listed, want 100", n)
		}
	})
}
