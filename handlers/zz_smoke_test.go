package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
)

func TestSmokeClientsAndPATs(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin()
		r := e.As(admin.AccessToken, "POST", "/v1/clients", map[string]any{"name": "billing", "permissions": []string{"users:read"}}).Expect(201).JSON()
		t.Logf("%v", r)
		id := r["client"].(map[string]any)["id"].(string)
		sec := r["client_secret"].(string)
		req, _ := http.NewRequest("POST", "/v1/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, sec)
		tr := e.Do(req).Expect(200).JSON()
		t.Logf("%v", tr)
		at := tr["access_token"].(string)
		e.As(at, "GET", "/v1/users", nil).Expect(200)
		e.As(at, "GET", "/v1/me", nil).ExpectProblem(403, "session_required")
		e.As(at, "PATCH", "/v1/me", map[string]any{"first_name": "x"}).ExpectProblem(403, "session_required")
		e.As(at, "POST", "/v1/roles", map[string]any{"name": "xx"}).ExpectProblem(403, "forbidden")
		f := e.As(at, "GET", "/v1/auth/forward", nil).Expect(200)
		t.Logf("%v", f.Header)
		e.As(admin.AccessToken, "PATCH", "/v1/clients/"+id, map[string]any{"disabled": true}).Expect(200)
		e.As(at, "GET", "/v1/users", nil).ExpectProblem(401, "session_revoked")

		p := e.As(admin.AccessToken, "POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 3600, "permissions": []string{"users:read"}, "password": apitest.AdminPassword}).Expect(201).JSON()
		t.Logf("%v", p)
		pat := p["secret"].(string)
		e.As(pat, "GET", "/v1/users", nil).Expect(200)
		me := e.As(pat, "GET", "/v1/me", nil).Expect(200).JSON()
		t.Logf("%v", me["amr"])
		e.As(pat, "POST", "/v1/roles", map[string]any{"name": "xx"}).ExpectProblem(403, "forbidden")
		e.As(pat, "GET", "/v1/me/tokens", nil).ExpectProblem(403, "session_required")
		e.As(pat, "GET", "/v1/me/sessions", nil).ExpectProblem(403, "session_required")
		ir := introspectJSON(e, pat).Expect(200).JSON()
		t.Logf("%v", ir)
		tid := p["token"].(map[string]any)["id"].(string)
		e.As(admin.AccessToken, "DELETE", "/v1/me/tokens/"+tid, nil).Expect(204)
		e.As(pat, "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")
	})
}
