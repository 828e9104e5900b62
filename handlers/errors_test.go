package handlers_test

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// TestPanicRecovered: a handler that panics answers 500 problem JSON with no
// stack trace or panic text, and the server keeps serving.
func TestPanicRecovered(t *testing.T) {
	e := apitest.New(t, store.SQLite, nil)
	e.App.Server.GET("/test/panic", func(echo.Context) error { panic("secret internal detail") })
	r := e.Request("GET", "/test/panic", nil).ExpectProblem(500, "internal")
	if body := string(r.Body); strings.Contains(body, "secret internal detail") || strings.Contains(body, "goroutine") {
		t.Fatalf("the response leaks the panic: %s", body)
	}
	e.Request("GET", "/healthz", nil).Expect(200)
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
