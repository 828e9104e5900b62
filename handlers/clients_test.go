package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
)

// The helpers of this file are prefixed cl, so that the file stands on its own
// beside the other service-client tests (oauth_test.go, tokens_test.go).

// clClient is a service client made through the API, with its secret.
type clClient struct {
	id, secret string
}

// clSecretForm: at least 256 bits, base64url without padding.
var clSecretForm = regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)

// clCreate makes a client as tok (201) and checks the secret's form.
func clCreate(t *testing.T, e *apitest.Env, tok, name string, perms ...string) clClient {
	t.Helper()
	if perms == nil {
		perms = []string{}
	}
	r := e.WithT(t).As(tok, "POST", "/v1/clients", map[string]any{"name": name, "permissions": perms}).Expect(http.StatusCreated)
	var out struct {
		Client       map[string]any `json:"client"`
		ClientSecret string         `json:"client_secret"`
	}
	r.Decode(&out)
	if !clSecretForm.MatchString(out.ClientSecret) {
		t.Fatalf("client_secret %q: want at least 43 base64url characters", out.ClientSecret)
	}
	return clClient{id: out.Client["id"].(string), secret: out.ClientSecret}
}

// clGrant asks the token endpoint for a token with HTTP Basic (client_secret_basic).
func clGrant(e *apitest.Env, id, secret string, extra url.Values) *apitest.Response {
	e.T.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return e.Do(req)
}

// clToken is a service token for the client (all of its permissions).
func clToken(t *testing.T, e *apitest.Env, c clClient) string {
	t.Helper()
	r := clGrant(e.WithT(t), c.id, c.secret, nil).Expect(http.StatusOK)
	tok, _ := r.JSON()["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.Body)
	}
	return tok
}

// clInvalidClient checks the token endpoint refuses the credentials as invalid_client.
func clInvalidClient(t *testing.T, e *apitest.Env, id, secret string) {
	t.Helper()
	r := clGrant(e.WithT(t), id, secret, nil).Expect(http.StatusUnauthorized)
	if got := r.JSON()["error"]; got != "invalid_client" {
		t.Fatalf("error %v, want invalid_client; body %s", got, r.Body)
	}
}

// clLive checks the service token is accepted by the API, introspection and forward auth.
func clLive(t *testing.T, e *apitest.Env, tok string) {
	t.Helper()
	e = e.WithT(t)
	e.As(tok, "GET", "/v1/users", nil).Expect(http.StatusOK)
	if r := introspectJSON(e, tok).Expect(http.StatusOK).JSON(); r["active"] != true {
		t.Fatalf("introspection of a live service token: %v", r)
	}
	forwardAs(e, "GET", "/v1/auth/forward", tok).Expect(http.StatusOK)
}

// clRefused checks the service token is refused at once by the API,
// introspection and forward auth, though it has not expired.
func clRefused(t *testing.T, e *apitest.Env, tok string) {
	t.Helper()
	e = e.WithT(t)
	if exp := time.Unix(int64(claimsOf(t, tok)["exp"].(float64)), 0); !e.Clock.Now().Before(exp) {
		t.Fatalf("the token expired at %v: its refusal would prove nothing", exp)
	}
	e.As(tok, "GET", "/v1/users", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
	expectInactive(t, introspectJSON(e, tok))
	r := forwardAs(e, "GET", "/v1/auth/forward", tok).ExpectProblem(http.StatusUnauthorized, "session_revoked")
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="authsvc", error="invalid_token"` {
		t.Fatalf("forward auth challenge %q", got)
	}
}

// clSID is the sid claim of a token.
func clSID(t *testing.T, tok string) string {
	t.Helper()
	sid, _ := claimsOf(t, tok)["sid"].(string)
	if _, err := uuid.Parse(sid); err != nil {
		t.Fatalf("sid %q: %v", sid, err)
	}
	return sid
}

// clFeedCursor is the revocation feed's cursor now: entries after it are new.
func clFeedCursor(t *testing.T, e *apitest.Env) string {
	t.Helper()
	p, _ := readFeed(t, e.WithT(t), "")
	return p.NextCursor
}

// clFeedLists checks whether the feed after cursor lists sid.
func clFeedLists(t *testing.T, e *apitest.Env, cursor, sid string) bool {
	t.Helper()
	p, _ := readFeed(t, e.WithT(t), cursor)
	return slices.Contains(sids(p), sid)
}

// clGet reads a client as tok.
func clGet(t *testing.T, e *apitest.Env, tok, id string) map[string]any {
	t.Helper()
	return e.WithT(t).As(tok, "GET", "/v1/clients/"+id, nil).Expect(http.StatusOK).JSON()["client"].(map[string]any)
}

// clTime parses a JSON timestamp.
func clTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("timestamp %v is not a string", v)
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return at
}

// TestClientCRUD: create (201, the secret in this answer only), list, read,
// change each field, delete; strict JSON and validation; 404 for unknown and
// malformed ids.
func TestClientCRUD(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		createdAt := e.Clock.Now()
		r := e.As(admin, "POST", "/v1/clients", map[string]any{
			"name": "  billing ", "description": "The billing service", "permissions": []string{"users:read", "roles:read", "users:read"},
		}).Expect(http.StatusCreated)
		expectNoStore(t, "create", r)
		if got := r.Header.Get("Pragma"); got != "no-cache" {
			t.Errorf("Pragma %q on the answer holding the secret", got)
		}
		var made struct {
			Client       map[string]any `json:"client"`
			ClientSecret string         `json:"client_secret"`
		}
		r.Decode(&made)
		if !clSecretForm.MatchString(made.ClientSecret) {
			t.Fatalf("client_secret %q: want at least 43 base64url characters (256 bits)", made.ClientSecret)
		}
		c := made.Client
		id, _ := c["id"].(string)
		if _, err := uuid.Parse(id); err != nil {
			t.Fatalf("id %q: %v", id, err)
		}
		if c["name"] != "billing" || c["description"] != "The billing service" || c["disabled"] != false ||
			!slices.Equal(toStrings(c["permissions"]), []string{"roles:read", "users:read"}) || c["last_used_at"] != nil {
			t.Fatalf("created client %v", c)
		}
		if !clTime(t, c["created_at"]).Equal(createdAt) {
			t.Errorf("created_at %v, want %v", c["created_at"], createdAt)
		}
		wantKeys := []string{"created_at", "description", "disabled", "id", "last_used_at", "name", "permissions"}
		if got := clKeys(c); !slices.Equal(got, wantKeys) {
			t.Errorf("client members %v, want %v", got, wantKeys)
		}
		// A second one, with no description and no permission.
		e.Clock.Advance(time.Second)
		other := clCreate(t, e, admin, "reporting")

		// The secret is never shown again: not in a read, a list or a change.
		secretFree := func(what string, r *apitest.Response) {
			t.Helper()
			if strings.Contains(string(r.Body), made.ClientSecret) || strings.Contains(string(r.Body), "secret") {
				t.Errorf("%s shows a secret: %s", what, r.Body)
			}
		}
		got := e.As(admin, "GET", "/v1/clients/"+id, nil).Expect(http.StatusOK)
		secretFree("GET", got)
		if g := got.JSON()["client"].(map[string]any); !clSame(g, c) {
			t.Errorf("GET %v, created %v", g, c)
		}
		list := e.As(admin, "GET", "/v1/clients", nil).Expect(http.StatusOK)
		secretFree("list", list)
		var clients struct {
			Clients []map[string]any `json:"clients"`
		}
		list.Decode(&clients)
		if len(clients.Clients) != 2 || clients.Clients[0]["id"] != id || clients.Clients[1]["id"] != other.id {
			t.Fatalf("list %s: want billing, then reporting (oldest first)", list.Body)
		}
		if perms, ok := clients.Clients[1]["permissions"].([]any); !ok || len(perms) != 0 || clients.Clients[1]["description"] != "" {
			t.Errorf("a client without permissions or description: %v", clients.Clients[1])
		}

		// Each field changes alone; the others stay.
		changes := []struct {
			body  map[string]any
			field string
			want  any
		}{
			{map[string]any{"name": " invoicing "}, "name", "invoicing"},
			{map[string]any{"description": "Invoices"}, "description", "Invoices"},
			{map[string]any{"description": ""}, "description", ""},
			{map[string]any{"permissions": []string{"users:read", "audit:read"}}, "permissions", []any{"audit:read", "users:read"}},
			{map[string]any{"permissions": []string{}}, "permissions", []any{}},
			{map[string]any{"disabled": true}, "disabled", true},
			{map[string]any{"disabled": false}, "disabled", false},
			{map[string]any{}, "name", "invoicing"},
		}
		for _, ch := range changes {
			before := clGet(t, e, admin, id)
			r := e.As(admin, "PATCH", "/v1/clients/"+id, ch.body).Expect(http.StatusOK)
			secretFree("PATCH", r)
			answer := r.JSON()["client"].(map[string]any)
			after := clGet(t, e, admin, id)
			if !clSame(answer, after) {
				t.Errorf("PATCH %v answered %v, GET then %v", ch.body, answer, after)
			}
			if !clEqual(after[ch.field], ch.want) {
				t.Errorf("PATCH %v: %s = %v, want %v", ch.body, ch.field, after[ch.field], ch.want)
			}
			for k, v := range before {
				if _, changed := ch.body[k]; !changed && k != ch.field && !clEqual(after[k], v) {
					t.Errorf("PATCH %v changed %s too: %v → %v", ch.body, k, v, after[k])
				}
			}
		}

		// Strict JSON and validation.
		invalid := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"unknown field at create", "POST", "/v1/clients", map[string]any{"name": "x", "permissions": []string{}, "secret": "mine"}, 400, "validation_failed"},
			{"no name", "POST", "/v1/clients", map[string]any{"permissions": []string{}}, 400, "validation_failed"},
			{"blank name", "POST", "/v1/clients", map[string]any{"name": "   ", "permissions": []string{}}, 400, "validation_failed"},
			{"long name", "POST", "/v1/clients", map[string]any{"name": strings.Repeat("n", 101), "permissions": []string{}}, 400, "validation_failed"},
			{"long description", "POST", "/v1/clients", map[string]any{"name": "x", "description": strings.Repeat("d", 201), "permissions": []string{}}, 400, "validation_failed"},
			{"no permissions", "POST", "/v1/clients", map[string]any{"name": "x"}, 400, "validation_failed"},
			{"permissions not a list", "POST", "/v1/clients", map[string]any{"name": "x", "permissions": "users:read"}, 400, "validation_failed"},
			{"not JSON", "POST", "/v1/clients", "{name", 400, "malformed_json"},
			{"unknown field at change", "PATCH", "/v1/clients/" + id, map[string]any{"nam": "x"}, 400, "validation_failed"},
			{"blank name at change", "PATCH", "/v1/clients/" + id, map[string]any{"name": ""}, 400, "validation_failed"},
			{"disabled not a boolean", "PATCH", "/v1/clients/" + id, map[string]any{"disabled": "yes"}, 400, "validation_failed"},
			{"unknown field at rotation", "POST", "/v1/clients/" + id + "/secret", map[string]any{"overlap": "1m", "keep": true}, 400, "validation_failed"},
		}
		for _, tc := range invalid {
			t.Run(tc.name, func(t *testing.T) {
				e.WithT(t).As(admin, tc.method, tc.path, tc.body).ExpectProblem(tc.status, tc.code)
			})
		}
		e.Request("POST", "/v1/clients", "name=x", append(apitest.Bearer(admin), "Content-Type", "application/x-www-form-urlencoded")...).
			ExpectProblem(http.StatusUnsupportedMediaType, "unsupported_media_type")
		if after := clGet(t, e, admin, id); after["name"] != "invoicing" {
			t.Errorf("a refused change changed the client: %v", after)
		}
		if n := len(e.As(admin, "GET", "/v1/clients", nil).Expect(http.StatusOK).JSON()["clients"].([]any)); n != 2 {
			t.Errorf("refused creations made clients: %d listed", n)
		}

		// Unknown and malformed ids: 404 client_not_found everywhere.
		for _, missing := range []string{uuid.NewString(), "not-a-uuid", "1"} {
			for _, rq := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/v1/clients/" + missing, nil},
				{"PATCH", "/v1/clients/" + missing, map[string]any{"name": "x"}},
				{"POST", "/v1/clients/" + missing + "/secret", map[string]any{}},
				{"DELETE", "/v1/clients/" + missing, nil},
			} {
				r := e.As(admin, rq.method, rq.path, rq.body)
				if r.Status != http.StatusNotFound {
					t.Errorf("%s %s: %d %s, want 404 client_not_found", rq.method, rq.path, r.Status, r.Body)
					continue
				}
				r.ExpectProblem(http.StatusNotFound, "client_not_found")
			}
		}

		// Delete: 204, then gone.
		e.As(admin, "DELETE", "/v1/clients/"+id, nil).Expect(http.StatusNoContent)
		e.As(admin, "GET", "/v1/clients/"+id, nil).ExpectProblem(http.StatusNotFound, "client_not_found")
		e.As(admin, "DELETE", "/v1/clients/"+id, nil).ExpectProblem(http.StatusNotFound, "client_not_found")
		clInvalidClient(t, e, id, made.ClientSecret)
		var left struct {
			Clients []map[string]any `json:"clients"`
		}
		e.As(admin, "GET", "/v1/clients", nil).Expect(http.StatusOK).Decode(&left)
		if len(left.Clients) != 1 || left.Clients[0]["id"] != other.id {
			t.Fatalf("after the deletion: %v", left.Clients)
		}
		clToken(t, e, other) // the other one is untouched
	})
}

func clKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// clEqual compares decoded JSON scalars and lists of scalars.
func clEqual(a, b any) bool {
	la, okA := a.([]any)
	lb, okB := b.([]any)
	if okA || okB {
		return okA && okB && slices.Equal(la, lb)
	}
	return a == b
}

func clSame(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !clEqual(v, b[k]) {
			return false
		}
	}
	return true
}

// TestClientPermissions: clients:read and clients:write are needed; the
// permissions given must be known and held by the caller, and so must those
// of a client the caller changes, rotates or deletes.
func TestClientPermissions(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		role := func(name string, perms ...string) {
			e.As(admin, "POST", "/v1/roles", map[string]any{"name": name, "permissions": perms}).Expect(http.StatusCreated)
		}
		user := func(name string, roles ...string) string {
			e.As(admin, "POST", "/v1/users", map[string]any{
				"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "roles": append(roles, "user"),
			}).Expect(http.StatusCreated)
			return e.Login(name, apitest.StrongPassword).AccessToken
		}
		role("client-admin", "clients:read", "clients:write")
		role("client-reader", "clients:read")
		manager := user("manny", "client-admin")
		reader := user("rita", "client-reader")
		plain := e.SignupLogin("plain").AccessToken

		adminsClient := clCreate(t, e, admin, "directory", "users:read")

		// Unknown permissions: 400 unknown_permission, at create and at change.
		for _, tok := range []string{admin, manager} {
			e.As(tok, "POST", "/v1/clients", map[string]any{"name": "x", "permissions": []string{"users:read", "users:fly"}}).
				ExpectProblem(http.StatusBadRequest, "unknown_permission")
			e.As(tok, "PATCH", "/v1/clients/"+adminsClient.id, map[string]any{"permissions": []string{"nope"}}).
				ExpectProblem(http.StatusBadRequest, "unknown_permission")
		}
		// The manager gives what it holds, and nothing else.
		e.As(manager, "POST", "/v1/clients", map[string]any{"name": "x", "permissions": []string{"users:read"}}).
			ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(manager, "POST", "/v1/clients", map[string]any{"name": "x", "permissions": []string{"clients:read", "users:read"}}).
			ExpectProblem(http.StatusForbidden, "forbidden")
		own := clCreate(t, e, manager, "own", "clients:read")
		e.As(manager, "PATCH", "/v1/clients/"+own.id, map[string]any{"permissions": []string{"clients:read", "users:read"}}).
			ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(manager, "PATCH", "/v1/clients/"+own.id, map[string]any{"permissions": []string{"clients:read", "clients:write"}}).Expect(http.StatusOK)
		// A client holding what the manager lacks is read, but not changed, rotated or deleted.
		if got := clGet(t, e, manager, adminsClient.id); got["name"] != "directory" {
			t.Fatalf("the manager reads %v", got)
		}
		e.As(manager, "PATCH", "/v1/clients/"+adminsClient.id, map[string]any{"name": "mine"}).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(manager, "PATCH", "/v1/clients/"+adminsClient.id, map[string]any{"disabled": true}).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(manager, "POST", "/v1/clients/"+adminsClient.id+"/secret", map[string]any{}).ExpectProblem(http.StatusForbidden, "forbidden")
		e.As(manager, "DELETE", "/v1/clients/"+adminsClient.id, nil).ExpectProblem(http.StatusForbidden, "forbidden")
		if got := clGet(t, e, admin, adminsClient.id); got["name"] != "directory" || got["disabled"] != false {
			t.Fatalf("refused changes changed the client: %v", got)
		}
		clToken(t, e, adminsClient) // its secret was not rotated

		// clients:read reads; writing needs clients:write; a plain user does neither.
		e.As(reader, "GET", "/v1/clients", nil).Expect(http.StatusOK)
		clGet(t, e, reader, own.id)
		writes := func(id string) []struct {
			method, path string
			body         any
		} {
			return []struct {
				method, path string
				body         any
			}{
				{"POST", "/v1/clients", map[string]any{"name": "x", "permissions": []string{}}},
				{"PATCH", "/v1/clients/" + id, map[string]any{"name": "x"}},
				{"POST", "/v1/clients/" + id + "/secret", map[string]any{}},
				{"DELETE", "/v1/clients/" + id, nil},
			}
		}
		for _, rq := range writes(own.id) {
			e.As(reader, rq.method, rq.path, rq.body).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		reads := []string{"/v1/clients", "/v1/clients/" + own.id}
		for _, p := range reads {
			e.As(plain, "GET", p, nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.Request("GET", p, nil).ExpectProblem(http.StatusUnauthorized, "missing_token")
		}
		for _, rq := range writes(own.id) {
			e.As(plain, rq.method, rq.path, rq.body).ExpectProblem(http.StatusForbidden, "forbidden")
			e.Request(rq.method, rq.path, rq.body).ExpectProblem(http.StatusUnauthorized, "missing_token")
		}
		// Refused before the body is read: a plain user's malformed body is still 403.
		e.As(plain, "POST", "/v1/clients", "{oops").ExpectProblem(http.StatusForbidden, "forbidden")
		if got := clGet(t, e, admin, own.id); got["name"] != "own" {
			t.Fatalf("refused writes changed the client: %v", got)
		}
		clToken(t, e, own)
	})
}

// TestClientLastUsed: last_used_at is empty until a grant, then the grant's
// time, written at most once a minute; so is the client_token_issued event.
func TestClientLastUsed(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		c := clCreate(t, e, admin, "batch", "users:read")
		if got := clGet(t, e, admin, c.id)["last_used_at"]; got != nil {
			t.Fatalf("last_used_at %v before any grant", got)
		}
		issued := func() int { return len(auditEvents(t, e, admin, "type=client_token_issued")) }
		first := e.Clock.Now()
		clToken(t, e, c)
		if got := clTime(t, clGet(t, e, admin, c.id)["last_used_at"]); !got.Equal(first) {
			t.Fatalf("last_used_at %v, want the grant's time %v", got, first)
		}
		if n := issued(); n != 1 {
			t.Fatalf("%d client_token_issued events after one grant", n)
		}
		e.Clock.Advance(30 * time.Second)
		clToken(t, e, c)
		if got := clTime(t, clGet(t, e, admin, c.id)["last_used_at"]); !got.Equal(first) {
			t.Fatalf("last_used_at %v rewritten within the minute (first use %v)", got, first)
		}
		if n := issued(); n != 1 {
			t.Fatalf("%d client_token_issued events within a minute, want 1 (sampled)", n)
		}
		e.Clock.Advance(31 * time.Second)
		second := e.Clock.Now()
		clToken(t, e, c)
		admin = e.AdminLogin().AccessToken
		if got := clTime(t, clGet(t, e, admin, c.id)["last_used_at"]); !got.Equal(second) {
			t.Fatalf("last_used_at %v, want %v (a minute later)", got, second)
		}
		events := auditEvents(t, e, admin, "type=client_token_issued")
		if len(events) != 2 {
			t.Fatalf("%d client_token_issued events, want 2", len(events))
		}
		if ev := events[0]; ev["actor_id"] != c.id {
			t.Errorf("client_token_issued actor %v, want the client %s", ev["actor_id"], c.id)
		}
		// A failed grant is no use.
		clInvalidClient(t, e, c.id, c.secret+"x")
		e.Clock.Advance(2 * time.Minute)
		clInvalidClient(t, e, c.id, c.secret+"x")
		admin = e.AdminLogin().AccessToken
		if got := clTime(t, clGet(t, e, admin, c.id)["last_used_at"]); !got.Equal(second) {
			t.Fatalf("last_used_at %v after failed grants, want %v", got, second)
		}
	})
}

// TestClientAuditTrail: each management action leaves its event, naming the
// client and the actor, and no secret.
func TestClientAuditTrail(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.AdminLogin()
		admin, adminID := tk.AccessToken, idOf(tk.User)
		c := clCreate(t, e, admin, "audited", "users:read")
		e.As(admin, "PATCH", "/v1/clients/"+c.id, map[string]any{"name": "audited-2"}).Expect(http.StatusOK)
		r := e.As(admin, "POST", "/v1/clients/"+c.id+"/secret", map[string]any{"overlap": "1h"}).Expect(http.StatusOK)
		rotated := r.JSON()["client_secret"].(string)
		e.As(admin, "DELETE", "/v1/clients/"+c.id, nil).Expect(http.StatusNoContent)

		for _, typ := range []string{"client_created", "client_updated", "client_secret_rotated", "client_deleted"} {
			events := auditEvents(t, e, admin, "type="+typ)
			if len(events) != 1 {
				t.Errorf("%s: %d events, want 1", typ, len(events))
				continue
			}
			ev := events[0]
			details, _ := ev["details"].(map[string]any)
			if ev["type"] != typ || ev["actor_id"] != adminID || details["client_id"] != c.id {
				t.Errorf("%s event %v: want the admin as actor and the client in details", typ, ev)
			}
			for _, s := range []string{c.secret, rotated} {
				if strings.Contains(clJSON(t, ev), s) {
					t.Errorf("%s event holds a secret: %v", typ, ev)
				}
			}
		}
		if ev := auditEvents(t, e, admin, "type=client_secret_rotated"); len(ev) == 1 {
			if d, _ := ev[0]["details"].(map[string]any); d["overlap"] != "1h0m0s" {
				t.Errorf("rotation details %v: want the overlap", d)
			}
		}
	})
}

// TestClientTokensEnd: disabling, deleting or narrowing a client refuses
// the tokens issued to it at once, everywhere, and lists their sid in the
// revocation feed; other changes leave them live.
func TestClientTokensEnd(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		cases := []struct {
			name     string
			end      func(t *testing.T, id string)
			newGrant bool // a grant afterwards succeeds, and its token is live
		}{
			{"disabled", func(t *testing.T, id string) {
				e.WithT(t).As(admin, "PATCH", "/v1/clients/"+id, map[string]any{"disabled": true}).Expect(http.StatusOK)
			}, false},
			{"deleted", func(t *testing.T, id string) {
				e.WithT(t).As(admin, "DELETE", "/v1/clients/"+id, nil).Expect(http.StatusNoContent)
			}, false},
			{"narrowed", func(t *testing.T, id string) {
				e.WithT(t).As(admin, "PATCH", "/v1/clients/"+id, map[string]any{"permissions": []string{"users:read"}}).Expect(http.StatusOK)
			}, true},
			{"narrowed and renamed", func(t *testing.T, id string) {
				e.WithT(t).As(admin, "PATCH", "/v1/clients/"+id, map[string]any{"name": "x", "permissions": []string{"users:read", "audit:read"}}).Expect(http.StatusOK)
			}, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				c := clCreate(t, e, admin, "svc", "users:read", "roles:read")
				tok := clToken(t, e, c)
				clLive(t, e, tok)
				cursor := clFeedCursor(t, e)
				tc.end(t, c.id)
				clRefused(t, e, tok)
				if !clFeedLists(t, e, cursor, clSID(t, tok)) {
					t.Fatalf("the revocation feed does not list the token's sid")
				}
				if tc.newGrant {
					fresh := clToken(t, e, c)
					clLive(t, e, fresh)
					if clSID(t, fresh) == clSID(t, tok) {
						t.Fatalf("a new grant carries the ended sid")
					}
				} else {
					clInvalidClient(t, e, c.id, c.secret)
				}
			})
		}

		// What takes nothing away leaves tokens live and the feed as it was.
		t.Run("changes that end nothing", func(t *testing.T) {
			e := e.WithT(t)
			c := clCreate(t, e, admin, "svc", "users:read", "roles:read")
			tok := clToken(t, e, c)
			cursor := clFeedCursor(t, e)
			for _, body := range []map[string]any{
				{"name": "renamed"}, {"description": "described"}, {"disabled": false},
				{"permissions": []string{"users:read", "roles:read", "audit:read"}}, {},
			} {
				e.As(admin, "PATCH", "/v1/clients/"+c.id, body).Expect(http.StatusOK)
				clLive(t, e, tok)
			}
			if p, _ := readFeed(t, e, cursor); len(p.Revocations) != 0 {
				t.Fatalf("changes that take nothing away listed %v in the feed", sids(p))
			}
			// A widened client's old token keeps what it was granted, no more.
			in := introspectJSON(e, tok).Expect(http.StatusOK).JSON()
			if got := toStrings(in["permissions"]); !slices.Equal(got, []string{"roles:read", "users:read"}) {
				t.Fatalf("the old token's permissions after widening: %v", got)
			}
			e.As(tok, "GET", "/v1/audit", nil).ExpectProblem(http.StatusForbidden, "forbidden")
		})

		// Re-enabling does not revive the old tokens; new grants work.
		t.Run("re-enabled", func(t *testing.T) {
			e := e.WithT(t)
			c := clCreate(t, e, admin, "svc", "users:read")
			tok := clToken(t, e, c)
			e.As(admin, "PATCH", "/v1/clients/"+c.id, map[string]any{"disabled": true}).Expect(http.StatusOK)
			clInvalidClient(t, e, c.id, c.secret)
			e.As(admin, "PATCH", "/v1/clients/"+c.id, map[string]any{"disabled": false}).Expect(http.StatusOK)
			clRefused(t, e, tok)
			fresh := clToken(t, e, c)
			clLive(t, e, fresh)
			clRefused(t, e, tok)
		})
	})
}

// TestClientSecretRotation: without overlap the old secret and its tokens end
// at once; with one they work until it ends, and then are refused and listed
// in the feed; an overlap is a duration from 0s to 24h.
func TestClientSecretRotation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		rotate := func(t *testing.T, id string, body any) string {
			t.Helper()
			r := e.WithT(t).As(admin, "POST", "/v1/clients/"+id+"/secret", body).Expect(http.StatusOK)
			expectNoStore(t, "rotation", r)
			if got := r.Header.Get("Pragma"); got != "no-cache" {
				t.Errorf("Pragma %q on the answer holding the secret", got)
			}
			sec, _ := r.JSON()["client_secret"].(string)
			if !clSecretForm.MatchString(sec) {
				t.Fatalf("client_secret %q: want at least 43 base64url characters", sec)
			}
			if m := r.JSON(); len(m) != 1 {
				t.Errorf("rotation answer %v: want client_secret alone", m)
			}
			return sec
		}

		// No overlap: by default, and as 0s.
		for _, body := range []any{nil, map[string]any{}, map[string]any{"overlap": "0s"}, map[string]any{"overlap": "0"}} {
			t.Run(fmt.Sprintf("no overlap, body %v", body), func(t *testing.T) {
				e := e.WithT(t)
				c := clCreate(t, e, admin, "svc", "users:read")
				tok := clToken(t, e, c)
				cursor := clFeedCursor(t, e)
				next := rotate(t, c.id, body)
				if next == c.secret {
					t.Fatal("the new secret is the old one")
				}
				clInvalidClient(t, e, c.id, c.secret)
				clRefused(t, e, tok)
				if !clFeedLists(t, e, cursor, clSID(t, tok)) {
					t.Fatal("the feed does not list the old secret's sid")
				}
				fresh := clToken(t, e, clClient{c.id, next})
				clLive(t, e, fresh)
			})
		}

		t.Run("an hour's overlap", func(t *testing.T) {
			e := e.WithT(t)
			admin = e.AdminLogin().AccessToken
			c := clCreate(t, e, admin, "svc", "users:read")
			old := clToken(t, e, c)
			next := clClient{c.id, rotate(t, c.id, map[string]any{"overlap": "1h"})}
			clLive(t, e, old)
			clLive(t, e, clToken(t, e, c)) // the old secret still grants
			clLive(t, e, clToken(t, e, next))

			e.Clock.Advance(59 * time.Minute)
			late := clToken(t, e, c) // the old secret, a minute before its end
			clLive(t, e, late)
			cursor := clFeedCursor(t, e)
			if clFeedLists(t, e, "", clSID(t, late)) {
				t.Fatal("the feed lists the old secret's sid before its overlap ended")
			}

			e.Clock.Advance(2 * time.Minute)
			clInvalidClient(t, e, c.id, c.secret)
			clRefused(t, e, late) // it would live another 13 minutes
			if !clFeedLists(t, e, cursor, clSID(t, late)) {
				t.Fatal("the feed read after the overlap does not list the old secret's sid")
			}
			fresh := clToken(t, e, next)
			clLive(t, e, fresh)
			if clSID(t, fresh) == clSID(t, late) {
				t.Fatal("the new secret's tokens carry the old sid")
			}
		})

		t.Run("a rotation during an overlap", func(t *testing.T) {
			e := e.WithT(t)
			admin = e.AdminLogin().AccessToken
			c := clCreate(t, e, admin, "svc", "users:read")
			second := clClient{c.id, rotate(t, c.id, map[string]any{"overlap": "1h"})}
			// A longer overlap does not lengthen the first one's.
			third := clClient{c.id, rotate(t, c.id, map[string]any{"overlap": "2h"})}
			for _, s := range []clClient{c, second, third} {
				clToken(t, e, s)
			}
			e.Clock.Advance(61 * time.Minute)
			clInvalidClient(t, e, c.id, c.secret)
			clToken(t, e, second)
			clToken(t, e, third)
			// Without overlap, every older secret ends at once.
			admin = e.AdminLogin().AccessToken
			r := e.As(admin, "POST", "/v1/clients/"+c.id+"/secret", map[string]any{"overlap": "0s"}).Expect(http.StatusOK)
			clInvalidClient(t, e, c.id, second.secret)
			clInvalidClient(t, e, c.id, third.secret)
			clToken(t, e, clClient{c.id, r.JSON()["client_secret"].(string)})
		})

		t.Run("deleted during an overlap", func(t *testing.T) {
			e := e.WithT(t)
			admin = e.AdminLogin().AccessToken
			c := clCreate(t, e, admin, "svc", "users:read")
			next := clClient{c.id, rotate(t, c.id, map[string]any{"overlap": "1h"})}
			old, fresh := clToken(t, e, c), clToken(t, e, next)
			cursor := clFeedCursor(t, e)
			e.As(admin, "DELETE", "/v1/clients/"+c.id, nil).Expect(http.StatusNoContent)
			for _, tok := range []string{old, fresh} {
				clRefused(t, e, tok)
				if !clFeedLists(t, e, cursor, clSID(t, tok)) {
					t.Fatalf("the feed does not list sid %s", clSID(t, tok))
				}
			}
			clInvalidClient(t, e, c.id, c.secret)
			clInvalidClient(t, e, c.id, next.secret)
		})

		t.Run("invalid overlaps", func(t *testing.T) {
			e := e.WithT(t)
			admin = e.AdminLogin().AccessToken
			c := clCreate(t, e, admin, "svc", "users:read")
			tok := clToken(t, e, c)
			for _, overlap := range []any{"24h0m1s", "25h", "-1s", "-1h", "garbage", "1", "1 h", "10x", 3600, true} {
				r := e.As(admin, "POST", "/v1/clients/"+c.id+"/secret", map[string]any{"overlap": overlap})
				if r.Status != http.StatusBadRequest {
					t.Errorf("overlap %v: %d %s, want 400 validation_failed", overlap, r.Status, r.Body)
					continue
				}
				r.ExpectProblem(http.StatusBadRequest, "validation_failed")
			}
			// Nothing was rotated: the secret and its token live on.
			clLive(t, e, tok)
			clToken(t, e, c)
			// The bound itself is allowed.
			next := rotate(t, c.id, map[string]any{"overlap": "24h"})
			clToken(t, e, c)
			clToken(t, e, clClient{c.id, next})
		})
	})
}

// clJSON is v as JSON text, for searching.
func clJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientActionsAudited: what a service client does through the API is
// recorded as the client's: the actor is the client, and the event does not
// say it came from the command line (accounts.Actor.Details takes any actor
// without an account for the operator).
func TestClientActionsAudited(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		c := clCreate(t, e, admin, "provisioner", "users:read", "users:write", "clients:write")
		svc := clToken(t, e, c)
		var made struct{ User map[string]any }
		e.As(svc, "POST", "/v1/users", map[string]any{
			"email": "prov@example.com", "username": "prov", "password": apitest.StrongPassword,
		}).Expect(http.StatusCreated).Decode(&made)
		e.As(svc, "PATCH", "/v1/users/"+idOf(made.User), map[string]any{"first_name": "Pro"}).Expect(http.StatusOK)
		child := clCreate(t, e, svc, "child", "users:read")

		// The same actions by the admin, for comparison: no "via".
		var byAdmin struct{ User map[string]any }
		e.As(admin, "POST", "/v1/users", map[string]any{
			"email": "byadmin@example.com", "username": "byadmin", "password": apitest.StrongPassword,
		}).Expect(http.StatusCreated).Decode(&byAdmin)

		check := func(query, subject string) {
			t.Helper()
			var found bool
			for _, ev := range auditEvents(t, e, admin, query) {
				d, _ := ev["details"].(map[string]any)
				if subject != "" && ev["user_id"] != subject && d["client_id"] != subject {
					continue
				}
				found = true
				if ev["actor_id"] != c.id {
					t.Errorf("%s: actor %v, want the client %s", query, ev["actor_id"], c.id)
				}
				if d["via"] == "command line" {
					t.Errorf("%s by a service client: details say via command line: %v", query, ev)
				}
			}
			if !found {
				t.Errorf("no %s event for %s", query, subject)
			}
		}
		check("type=user_created&user_id="+idOf(made.User), idOf(made.User))
		check("type=user_updated&user_id="+idOf(made.User), idOf(made.User))
		check("type=client_created", child.id)
		byAdminEvents := auditEvents(t, e, admin, "type=user_created&user_id="+idOf(byAdmin.User))
		if len(byAdminEvents) != 1 {
			t.Fatalf("%d user_created events for the admin's user", len(byAdminEvents))
		}
		if d, _ := byAdminEvents[0]["details"].(map[string]any); d["via"] != nil {
			t.Errorf("the admin's user_created says via %v", d["via"])
		}
	})
}
