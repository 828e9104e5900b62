package handlers_test

// Fuzz targets of the HTTP API, through the real router on SQLite:
//
//	go test -run='^$' -fuzz='^FuzzWriteEndpoints$' -fuzztime=1m ./handlers/
//	go test -run='^$' -fuzz='^FuzzListQuery$' -fuzztime=1m ./handlers/
//
// Each fuzzing process builds one service and sends every input to it, so the
// database keeps what earlier inputs created (bounded: a few rows per input).
// The database is SQLite, for speed; AUTHSVC_FUZZ_DIALECT=postgres fuzzes on
// PostgreSQL instead.
// The seed corpora are testdata/fuzz/<FuzzName>/ plus the f.Add calls; plain
// `go test` runs them as regression tests.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// fuzzHang is how long one fuzzed request may take before it counts as a
// hang: beyond the router's own 20 s deadline, which would answer 503.
const fuzzHang = 30 * time.Second

// fuzzAccount is an account the harness keeps usable between inputs.
type fuzzAccount struct {
	role                     string // "admin" or "user"
	id, username, password   string
	access, refresh, session string // of its latest login
}

// fuzzService is one service under fuzzing with the accounts inputs act as.
// admin's bearer token goes with authenticated requests; victim is the user
// that /v1/users/:id and the token placeholders name. Inputs may log them
// out, lock, rename, demote or delete them: the keeper, an admin no input
// ever names, repairs or replaces them before the next input.
type fuzzService struct {
	tb                    *apitest.FuzzTB
	env                   *apitest.Env
	keeper, admin, victim *fuzzAccount
	n                     int // for fresh names

	usersCursor, auditCursor string // real cursors, for the placeholders
}

func newFuzzService(f testing.TB) *fuzzService {
	tb := apitest.NewFuzzTB(f)
	dialect := cmp.Or(os.Getenv("AUTHSVC_FUZZ_DIALECT"), "sqlite")
	s := &fuzzService{tb: tb, env: apitest.New(tb, dialect, apitest.Vars{"USER_DIRECTORY_PUBLIC": "true"})}
	s.admin = &fuzzAccount{role: "admin"}
	s.keeper = &fuzzAccount{role: "admin"}
	s.victim = &fuzzAccount{role: "user"}
	s.restoreKeeper(f)
	s.login(f, s.victim)
	for range 3 { // more users and events, for a second page of users and of the audit log
		s.create(f, &fuzzAccount{role: "user"})
	}
	s.usersCursor = s.cursor(f, "/v1/users?limit=1", "next_cursor")
	s.auditCursor = s.cursor(f, "/v1/audit?limit=1", "next_cursor")
	tb.TakeLog()
	return s
}

func (s *fuzzService) cursor(t testing.TB, path, field string) string {
	r := s.env.WithT(t).As(s.keeper.access, "GET", path, nil).Expect(http.StatusOK)
	c, _ := r.JSON()[field].(string)
	if c == "" {
		t.Fatalf("%s: no %s in %s", path, field, r.Body)
	}
	return c
}

// restoreKeeper gives the keeper a live session. If it has none, an input
// wiped every user (DELETE /v1/users as a victim made admin): the service
// bootstraps its admin again, as at a restart, and every account is new.
func (s *fuzzService) restoreKeeper(t testing.TB) {
	e := s.env.WithT(t)
	if s.keeper.id != "" && s.try(t, s.keeper) {
		return
	}
	if err := s.env.App.Bootstrap(context.Background()); err != nil {
		t.Fatalf("harness: bootstrap: %v", err)
	}
	root := &fuzzAccount{role: "admin", username: "root", password: apitest.AdminPassword}
	if !s.try(t, root) {
		t.Fatalf("harness: the bootstrap admin cannot log in")
	}
	r := e.As(root.access, "GET", "/v1/me", nil).Expect(http.StatusOK)
	root.id = r.JSON()["user"].(map[string]any)["id"].(string)
	*s.admin = *root
	s.keeper.access = root.access
	s.create(t, s.keeper) // its own token is root's until it has logged in
	s.login(t, s.keeper)
	s.create(t, s.victim)
}

// create makes a anew through the keeper: a fresh name, a random password.
func (s *fuzzService) create(t testing.TB, a *fuzzAccount) {
	for {
		s.n++
		a.username, a.password = fmt.Sprintf("fz-%s-%d", a.role, s.n), "Fz-"+rand.Text()
		r := s.env.WithT(t).As(s.keeper.access, "POST", "/v1/users", map[string]any{
			"email": a.username + "@fuzz.invalid", "username": a.username, "password": a.password, "roles": []string{a.role},
		})
		if r.Status == http.StatusConflict {
			continue // an input took the name
		}
		r.Expect(http.StatusCreated)
		a.id = r.JSON()["user"].(map[string]any)["id"].(string)
		return
	}
}

// try logs a in with what the harness knows of it.
func (s *fuzzService) try(t testing.TB, a *fuzzAccount) bool {
	r := s.env.WithT(t).Request("POST", "/v1/auth/login", map[string]any{"login": a.username, "password": a.password})
	if r.Status != http.StatusOK {
		return false
	}
	var tk apitest.Tokens
	r.Decode(&tk)
	a.access, a.refresh, a.session = tk.AccessToken, tk.RefreshToken, tk.SessionID
	return true
}

// login logs a in, repairing it first if need be.
func (s *fuzzService) login(t testing.TB, a *fuzzAccount) {
	if s.try(t, a) {
		return
	}
	s.repair(t, a)
	if !s.try(t, a) {
		t.Fatalf("harness: cannot log %s in after repairing it", a.username)
	}
}

// repair makes a active again, with its role and a new random password; a
// deleted account is created anew.
func (s *fuzzService) repair(t testing.TB, a *fuzzAccount) {
	pw := "Fz-" + rand.Text()
	patch := func() *apitest.Response {
		return s.env.WithT(t).As(s.keeper.access, "PATCH", "/v1/users/"+a.id, map[string]any{
			"status": "active", "password": pw, "roles": []string{a.role},
		})
	}
	r := patch()
	if r.Status == http.StatusUnauthorized {
		s.restoreKeeper(t) // which may have made a anew
		r = patch()
	}
	switch r.Status {
	case http.StatusOK:
		a.password = pw
		a.username = r.JSON()["user"].(map[string]any)["username"].(string)
	case http.StatusNotFound:
		s.create(t, a)
	default:
		t.Fatalf("harness: the keeper cannot repair %s: %d %s", a.username, r.Status, r.Body)
	}
}

// ensureAdmin gives the admin a live session and the admin role again if the
// last input took them away (logout, a role or password change, a ban).
func (s *fuzzService) ensureAdmin(t *testing.T) {
	r := s.env.WithT(t).As(s.admin.access, "GET", "/v1/auth/session", nil)
	var got struct {
		User struct {
			Roles []string `json:"roles"`
		} `json:"user"`
	}
	if r.Status == http.StatusOK && json.Unmarshal(r.Body, &got) == nil && slices.Contains(got.User.Roles, "admin") {
		return
	}
	s.repair(t, s.admin)
	s.login(t, s.admin)
}

// do sends req through the router and fails on a hang.
func (s *fuzzService) do(t *testing.T, req *http.Request) *apitest.Response {
	done := make(chan *apitest.Response, 1)
	go func() { done <- s.env.WithT(t).Do(req) }()
	select {
	case r := <-done:
		return r
	case <-time.After(fuzzHang):
		t.Fatalf("%s %s: no answer within %v", req.Method, req.URL, fuzzHang)
		return nil
	}
}

// check fails on a server error, on an error that is not problem JSON, and on
// a success whose body is not JSON.
func (s *fuzzService) check(t *testing.T, req *http.Request, body string, r *apitest.Response) {
	t.Helper()
	fail := func(why string) {
		t.Fatalf("%s %s (Content-Type %q, Authorization %q)\nbody: %q\n%s: status %d, Content-Type %q\nanswer: %s\nservice log:\n%s",
			req.Method, req.URL, req.Header.Get("Content-Type"), req.Header.Get("Authorization"), body,
			why, r.Status, r.Header.Get("Content-Type"), r.Body, s.tb.TakeLog())
	}
	if testing.Verbose() {
		t.Logf("%s %s → %d %.200s", req.Method, req.URL, r.Status, r.Body)
	}
	if r.Status >= 500 {
		fail("server error")
	}
	if r.Status >= 400 && req.URL.Path == "/v1/oauth/token" {
		// The token endpoint answers as OAuth libraries expect: RFC 6749 §5.2 objects.
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(r.Body, &oe) != nil ||
			oe.Error == "" || oe.Description == "" {
			fail("a token endpoint error that is not an OAuth error object")
		}
		return
	}
	if r.Status >= 400 {
		if r.Header.Get("Content-Type") != "application/problem+json" {
			fail("an error that is not problem JSON")
		}
		var p struct {
			Title  string `json:"title"`
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != r.Status || p.Code == "" || p.Title == "" {
			fail("a malformed problem")
		}
		return
	}
	if len(r.Body) > 0 && !json.Valid(r.Body) {
		fail("a success whose body is not JSON")
	}
}

// Placeholders a fuzzed body, path or query may hold, replaced per request by
// live values the fuzzer could not know: tokens and ids of this process.
func (s *fuzzService) expand(t *testing.T, in string) string {
	if !strings.Contains(in, "@@") {
		return in
	}
	if strings.Contains(in, "@@REFRESH@@") || strings.Contains(in, "@@ACCESS@@") || strings.Contains(in, "@@SESSION@@") {
		s.login(t, s.victim) // a fresh session per use: refresh tokens are single use
	}
	return strings.NewReplacer(
		"@@REFRESH@@", s.victim.refresh,
		"@@ACCESS@@", s.victim.access,
		"@@SESSION@@", s.victim.session,
		"@@ADMIN_SESSION@@", s.admin.session,
		"@@VICTIM@@", s.victim.id,
		"@@ADMIN@@", s.admin.id,
		"@@VICTIM_NAME@@", s.victim.username,
		"@@VICTIM_PASSWORD@@", s.victim.password,
		"@@USERS_CURSOR@@", s.usersCursor,
		"@@AUDIT_CURSOR@@", s.auditCursor,
	).Replace(in)
}

type fuzzAuth int

const (
	authNone   fuzzAuth = iota
	authBearer          // the admin's access token
	authBasic           // the introspection client's credentials
)

// fuzzEndpoint is a route a fuzzed request goes to. A ":param" in the path is
// replaced by the input's target.
type fuzzEndpoint struct {
	method, path string
	auth         fuzzAuth
}

// writeEndpoints are every route that takes a request body or changes state
// (TestFuzzWriteEndpointsCoverRoutes keeps the list complete). Inputs pick one
// by index: append new routes at the end, so the corpora keep their meaning.
var writeEndpoints = []fuzzEndpoint{
	{"POST", "/v1/auth/signup", authNone},                    // 0
	{"POST", "/v1/auth/login", authNone},                     // 1
	{"POST", "/v1/auth/refresh", authNone},                   // 2
	{"POST", "/v1/auth/logout", authBearer},                  // 3
	{"POST", "/v1/auth/password/forgot", authNone},           // 4
	{"POST", "/v1/auth/password/reset", authNone},            // 5
	{"POST", "/v1/auth/introspect", authBasic},               // 6
	{"PATCH", "/v1/me", authBearer},                          // 7
	{"DELETE", "/v1/me", authBearer},                         // 8
	{"POST", "/v1/me/password", authBearer},                  // 9
	{"DELETE", "/v1/me/sessions/:id", authBearer},            // 10
	{"POST", "/v1/users", authBearer},                        // 11
	{"DELETE", "/v1/users", authBearer},                      // 12
	{"PATCH", "/v1/users/:id", authBearer},                   // 13
	{"DELETE", "/v1/users/:id", authBearer},                  // 14
	{"DELETE", "/v1/users/:id/sessions", authBearer},         // 15
	{"POST", "/v1/roles", authBearer},                        // 16
	{"PATCH", "/v1/roles/:name", authBearer},                 // 17
	{"DELETE", "/v1/roles/:name", authBearer},                // 18
	{"POST", "/v1/auth/mfa", authNone},                       // 19
	{"POST", "/v1/auth/email/verify", authNone},              // 20
	{"POST", "/v1/auth/email/resend", authNone},              // 21
	{"POST", "/v1/me/mfa/totp", authBearer},                  // 22
	{"POST", "/v1/me/mfa/totp/confirm", authBearer},          // 23
	{"DELETE", "/v1/me/mfa/totp", authBearer},                // 24
	{"POST", "/v1/me/mfa/recovery-codes", authBearer},        // 25
	{"DELETE", "/v1/users/:id/mfa", authBearer},              // 26
	{"POST", "/v1/auth/passkey/options", authNone},           // 27
	{"POST", "/v1/auth/passkey/login", authNone},             // 28
	{"POST", "/v1/me/passkeys/register/options", authBearer}, // 29
	{"POST", "/v1/me/passkeys/register", authBearer},         // 30
	{"DELETE", "/v1/me/passkeys/:id", authBearer},            // 31
	{"POST", "/v1/auth/providers/exchange", authNone},        // 32
	{"POST", "/v1/auth/providers/:name/id-token", authNone},  // 33
	{"POST", "/v1/me/identities/:name/link", authBearer},     // 34
	{"DELETE", "/v1/me/identities/:id", authBearer},          // 35
	{"POST", "/v1/auth/forward", authBearer},                 // 36
	{"POST", "/v1/me/tokens", authBearer},                    // 37
	{"DELETE", "/v1/me/tokens/:id", authBearer},              // 38
	{"DELETE", "/v1/users/:id/tokens", authBearer},           // 39
	{"DELETE", "/v1/users/:id/tokens/:tid", authBearer},      // 40
	{"POST", "/v1/clients", authBearer},                      // 41
	{"PATCH", "/v1/clients/:id", authBearer},                 // 42
	{"POST", "/v1/clients/:id/secret", authBearer},           // 43
	{"DELETE", "/v1/clients/:id", authBearer},                // 44
	{"POST", "/v1/oauth/token", authNone},                    // 45
	{"POST", "/v1/auth/email/code", authNone},                // 46
	{"POST", "/v1/auth/email/code/verify", authNone},         // 47
	{"POST", "/v1/auth/invite/accept", authNone},             // 48
	{"POST", "/v1/users/:id/invite", authBearer},             // 49
	{"PUT", "/v1/oauth/token", authNone},                     // 50
	{"PATCH", "/v1/oauth/token", authNone},                   // 51
	{"DELETE", "/v1/oauth/token", authNone},                  // 52
	{"POST", "/v1/webhooks", authBearer},                     // 53
	{"PATCH", "/v1/webhooks/:id", authBearer},                // 54
	{"DELETE", "/v1/webhooks/:id", authBearer},               // 55
	{"POST", "/v1/webhooks/:id/test", authBearer},            // 56
	{"POST", "/v1/users/import", authBearer},                 // 57
}

// fuzzContentTypes are what variant%5 picks.
var fuzzContentTypes = []string{
	"application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "text/plain", "",
}

// authorization is the Authorization header for variant/5%4: the endpoint's
// own (0), none (1), the victim's bearer token (2), or a wrong one (3).
func (s *fuzzService) authorization(t *testing.T, ep fuzzEndpoint, variant uint8) string {
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	switch variant / 5 % 4 {
	case 1:
		return ""
	case 2:
		if ep.auth == authBasic {
			return basic("gateway", "wrong-secret")
		}
		s.login(t, s.victim)
		return "Bearer " + s.victim.access
	case 3:
		if ep.auth == authBasic {
			return "Bearer " + s.admin.access
		}
		return "Bearer eyJhbGciOiJub25lIn0.e30."
	}
	switch ep.auth {
	case authBearer:
		return "Bearer " + s.admin.access
	case authBasic:
		return basic(apitest.GatewayClient, apitest.GatewaySecret)
	}
	return ""
}

// fuzzPath is the endpoint's path, escaped, with its parameter filled by the
// target: a placeholder expanded, anything else path-escaped.
func (s *fuzzService) fuzzPath(t *testing.T, path, target string) string {
	i := strings.IndexByte(path, ':')
	if i < 0 {
		return path
	}
	j := strings.IndexByte(path[i:], '/')
	if j < 0 {
		j = len(path) - i
	}
	return path[:i] + url.PathEscape(s.expand(t, target)) + path[i+j:]
}

// setPath gives req the escaped path, as a client would send it.
func setPath(req *http.Request, escaped string) {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		panic(err) // fuzzPath escaped it
	}
	req.URL.Path, req.URL.RawPath = p, ""
	if p != escaped {
		req.URL.RawPath = escaped
	}
	req.RequestURI = req.URL.RequestURI()
}

func FuzzWriteEndpoints(f *testing.F) {
	f.Add(uint8(0), uint8(0), "", `{"email":"ada@example.com","username":"ada","password":"violet-Harbor-tunnel-58!"}`)
	f.Add(uint8(13), uint8(0), "@@VICTIM@@", `{"first_name":"\u0000","roles":["admin"],"status":"disabled"}`)
	s := newFuzzService(f)
	f.Fuzz(s.write)
}

// write sends one fuzzed request to a write endpoint and checks the answer.
func (s *fuzzService) write(t *testing.T, endpoint, variant uint8, target, body string) {
	s.ensureAdmin(t)
	ep := writeEndpoints[int(endpoint)%len(writeEndpoints)]
	authorization := s.authorization(t, ep, variant) // before expand: it may repair the victim
	path := s.fuzzPath(t, ep.path, target)
	body = s.expand(t, body)
	req := httptest.NewRequest(ep.method, "/", strings.NewReader(body))
	setPath(req, path)
	if ct := fuzzContentTypes[int(variant)%len(fuzzContentTypes)]; ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	s.tb.TakeLog()
	s.check(t, req, body, s.do(t, req))
}

// TestWriteEndpointsLargeBodies sends bodies too large to be good fuzzing
// seeds (the fuzzer would spend its time minimising them) through the same
// checks: long strings, long arrays, deep nesting.
func TestWriteEndpointsLargeBodies(t *testing.T) {
	s := newFuzzService(t)
	long := strings.Repeat("a", 70_000)
	list := func(item string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	for _, c := range []struct {
		endpoint, variant uint8
		target, body      string
	}{
		{0, 0, "", `{"email":"` + long + `@example.com","username":"longmail","password":"violet-Harbor-tunnel-58!"}`},
		{0, 0, "", `{"email":"long@example.com","username":"longname","password":"violet-Harbor-tunnel-58!","first_name":"` + long + `"}`},
		{1, 0, "", `{"login":"root","password":"` + long + `"}`},
		{5, 0, "", `{"token":"` + long + `","new_password":"violet-Harbor-tunnel-58!"}`},
		{9, 0, "", `{"old_password":"x","new_password":"` + long + `"}`},
		{11, 0, "", `{"email":"many@fuzz.invalid","username":"many-roles","password":"violet-Harbor-tunnel-58!","roles":` + list(`"user"`, 5000) + `}`},
		{13, 0, "@@VICTIM@@", `{"resources":` + list(`"r"`, 5000) + `}`},
		{16, 0, "", `{"name":"many","permissions":` + list(`"users:read"`, 5000) + `}`},
		{16, 0, "", strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000)},
		{7, 0, "", strings.Repeat("[", 100_000)},
		{7, 0, "", `{"first_name":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`},
		{2, 0, "", `{"refresh_token":"` + strings.Repeat("\\u0000", 10_000) + `"}`},
		{6, 2, "", "token=" + strings.Repeat("%41", 20_000)},
		{6, 0, "", `{"token":"` + strings.Repeat("A", 8193) + `"}`},
		{1, 0, "", strings.Repeat(" ", 1<<20) + "{}"}, // beyond MaxBodyBytes: 413
		{13, 0, strings.Repeat("a", 10_000), "{}"},
		{46, 0, "", `{"email":"` + long + `@example.com","create":true}`},
		{47, 0, "", `{"email":"a@example.com","code":"` + long + `"}`},
		{47, 0, "", `{"token":"` + long + `"}`},
		{48, 0, "", `{"token":"` + long + `","password":"violet-Harbor-tunnel-58!"}`},
		{48, 0, "", `{"token":"x","password":"` + long + `"}`},
		{49, 0, strings.Repeat("a", 10_000), ""},
		{53, 0, "", `{"url":"https://hooks.example.com/` + long + `","events":["*"]}`},
		{53, 0, "", `{"url":"https://hooks.example.com/","events":` + list(`"user.created"`, 5000) + `}`},
		{54, 0, strings.Repeat("a", 10_000), `{"description":"x"}`},
	} {
		s.write(t, c.endpoint, c.variant, c.target, c.body)
	}
}

func FuzzListQuery(f *testing.F) {
	f.Add(uint8(0), uint8(0), "", "10", "", "root", "admin", "active", "", "")
	f.Add(uint8(0), uint8(0), "", "1", "@@USERS_CURSOR@@", "", "", "", "", "")
	f.Add(uint8(2), uint8(0), "", "", "@@AUDIT_CURSOR@@", "", "", "", "user_created", "@@VICTIM@@")
	f.Add(uint8(0), uint8(1), "", "", "", "fz", "admin", "", "", "")
	f.Add(uint8(0), uint8(0), "limit=1&limit=2&cursor=%ZZ", "", "", "", "", "", "", "")
	s := newFuzzService(f)
	f.Fuzz(func(t *testing.T, endpoint, as uint8, raw, limit, cursor, q, role, status, typ, userID string) {
		s.ensureAdmin(t)
		ep := listEndpoints[int(endpoint)%len(listEndpoints)]
		v := url.Values{}
		for k, val := range map[string]string{
			"limit": limit, "cursor": cursor, "q": q, "role": role, "status": status, "type": typ, "user_id": userID,
		} {
			if val != "" {
				v.Set(k, s.expand(t, val))
			}
		}
		query := v.Encode()
		if raw != "" {
			query += "&" + s.expand(t, raw)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = query
		setPath(req, strings.ReplaceAll(ep, ":id", s.victim.id))
		if as%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+s.admin.access)
		} else {
			s.login(t, s.victim) // a plain user: the public directory, 403s
			req.Header.Set("Authorization", "Bearer "+s.victim.access)
		}
		s.tb.TakeLog()
		s.check(t, req, "", s.do(t, req))
	})
}

// listEndpoints are the GET routes that read query parameters.
var listEndpoints = []string{"/v1/users", "/v1/users/count", "/v1/audit", "/v1/me/sessions", "/v1/users/:id/sessions", "/v1/roles"}

// TestFuzzWriteEndpointsCoverRoutes keeps writeEndpoints in step with the
// router: every route that is not a GET is fuzzed.
func TestFuzzWriteEndpointsCoverRoutes(t *testing.T) {
	e := apitest.New(t, "sqlite", nil)
	fuzzed := map[string]bool{}
	for _, ep := range writeEndpoints {
		fuzzed[ep.method+" "+ep.path] = true
	}
	for _, r := range e.App.Server.Routes() {
		if slices.Contains([]string{"GET", "HEAD", "OPTIONS", "echo_route_not_found"}, r.Method) || strings.HasPrefix(r.Path, "/apidocs") {
			continue
		}
		// Forward auth takes every method and reads no body: its POST stands for all.
		if strings.HasPrefix(r.Path, "/v1/auth/forward") && fuzzed["POST /v1/auth/forward"] {
			continue
		}
		if !fuzzed[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in writeEndpoints (handlers/fuzz_test.go): append it", r.Method, r.Path)
		}
	}
}

// TestFuzzHarnessRecovers: inputs that log the admin out, demote it, make the
// victim an admin and wipe every user leave the harness able to go on.
func TestFuzzHarnessRecovers(t *testing.T) {
	s := newFuzzService(t)
	keeper := s.keeper.id
	s.write(t, 3, 0, "", `{"all":true}`)                   // logout
	s.write(t, 13, 0, "@@ADMIN@@", `{"roles":["user"]}`)   // self-demotion
	s.write(t, 13, 0, "@@VICTIM@@", `{"roles":["admin"]}`) // the victim becomes an admin
	s.write(t, 12, 10, "", `{"password":"@@VICTIM_PASSWORD@@","confirm":"DELETE ALL USERS"}`)
	s.write(t, 11, 0, "", `{"email":"after@example.com","username":"after","password":"violet-Harbor-tunnel-58!"}`)
	if s.keeper.id == keeper {
		t.Fatal("the wipe did not happen: the keeper is the same")
	}
	s.env.As(s.admin.access, "GET", "/v1/users?q=after", nil).Expect(http.StatusOK)
	if !strings.Contains(string(s.env.As(s.admin.access, "GET", "/v1/users?q=after", nil).Body), "after@example.com") {
		t.Fatal("the user created after the wipe is missing")
	}
}
