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
