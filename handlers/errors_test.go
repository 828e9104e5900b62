package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// TestPanicRecovered: a handler that panics answers 500 problem JSON with no
// stack trace or panic text, and the server keeps serving.
func TestPanicRecovered(t *testing.T) {
	var logs bytes.Buffer
	e := apitest.New(t, store.SQLite, nil, apitest.LogTo(&logs))
	e.App.Server.GET("/test/panic", func(echo.Context) error { panic("secret internal detail") })
	r := e.Request("GET", "/test/panic", nil).ExpectProblem(500, "internal")
	if body := string(r.Body); strings.Contains(body, "secret internal detail") || strings.Contains(body, "goroutine") {
		t.Fatalf("the response leaks the panic: %s", body)
	}
	e.Request("GET", "/healthz", nil).Expect(200)

	// The log keeps what the response hides, tagged with the request's id.
	rid := r.Header.Get("X-Request-Id")
	found := false
	for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == "panic recovered" {
			found = rec["request_id"] == rid && strings.Contains(fmt.Sprint(rec["error"]), "secret internal detail")
		}
	}
	if rid == "" || !found {
		t.Fatalf("no panic log line with request_id %q:\n%s", rid, logs.String())
	}
}

// TestDatabaseDown: with the database gone, endpoints answer 503 problem JSON
// rather than crashing or leaking the driver's error.
func TestDatabaseDown(t *testing.T) {
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		t.Run("db="+dialect, func(t *testing.T) {
			e := apitest.New(t, dialect, nil)
			tk := e.SignupLogin("outage")
			e.App.Store.Close()
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "outage", "password": apitest.StrongPassword}).ExpectProblem(503, "unavailable")
			e.Request("POST", "/v1/auth/password/forgot", map[string]any{"email": "outage@example.com"}).ExpectProblem(503, "unavailable")
			r := e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(503, "unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
}

// TestHostileStrings: NUL bytes and invalid UTF-8, which PostgreSQL refuses to
// store or compare, get a 4xx wherever a client can send them, never a 500.
func TestHostileStrings(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		adm := e.AdminLogin()
		tk := e.SignupLogin("probe")
		cases := []struct {
			name, method, path string
			body               any
			token              string
			status             int
			code               string
		}{
			{"NUL in a signup field", "POST", "/v1/auth/signup", map[string]any{"email": "n@example.com", "username": "nully", "password": apitest.StrongPassword, "first_name": "a\x00b"}, "", 400, "validation_failed"},
			{"NUL in a login", "POST", "/v1/auth/login", map[string]any{"login": "a\x00b@x.com", "password": "x"}, "", 400, "validation_failed"},
			{"NUL in forgot", "POST", "/v1/auth/password/forgot", map[string]any{"email": "a\x00b@example.com"}, "", 400, "validation_failed"},
			{"NUL in a refresh token", "POST", "/v1/auth/refresh", map[string]any{"refresh_token": "a\x00b"}, "", 400, "validation_failed"},
			{"NUL in a profile", "PATCH", "/v1/me", map[string]any{"first_name": "x\x00"}, tk.AccessToken, 400, "validation_failed"},
			{"NUL in a role description", "POST", "/v1/roles", map[string]any{"name": "ops", "description": "d\x00"}, adm.AccessToken, 400, "validation_failed"},
			{"NUL in a resource grant", "POST", "/v1/users", map[string]any{"email": "c@example.com", "username": "cc1", "password": apitest.StrongPassword, "resources": []string{"r\x00"}}, adm.AccessToken, 400, "validation_failed"},
			{"NUL in a query", "GET", "/v1/users?q=%00", nil, adm.AccessToken, 400, "malformed_request"},
			{"invalid UTF-8 in a query", "GET", "/v1/users?q=%FF", nil, adm.AccessToken, 400, "malformed_request"},
			{"invalid UTF-8 in a filter", "GET", "/v1/audit?type=%FF", nil, adm.AccessToken, 400, "malformed_request"},
			{"NUL in a path", "PATCH", "/v1/roles/%00", map[string]any{"description": "d"}, adm.AccessToken, 400, "malformed_request"},
			{"invalid UTF-8 in a path", "DELETE", "/v1/roles/%FF", nil, adm.AccessToken, 400, "malformed_request"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				var r *apitest.Response
				if tc.token != "" {
					r = e.As(tc.token, tc.method, tc.path, tc.body)
				} else {
					r = e.Request(tc.method, tc.path, tc.body)
				}
				r.ExpectProblem(tc.status, tc.code)
			})
		}
		// Invalid UTF-8 inside a JSON string is replaced by the decoder: stored, not refused.
		e.Request("POST", "/v1/auth/signup", `{"email":"u8@example.com","username":"utf8","password":"`+apitest.StrongPassword+"\",\"first_name\":\"\xff\xfe\"}").Expect(201)
		// A user agent is stored with sessions and audit events: made storable, not refused.
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "probe", "password": apitest.StrongPassword}, "User-Agent", "agent\x00\xff").Expect(200)
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "probe", "password": "wrong"}, "User-Agent", "agent\xff").ExpectProblem(401, "invalid_credentials")
	})
}
