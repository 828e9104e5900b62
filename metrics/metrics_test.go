package metrics_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // registers "sqlite" for the pool stats test
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/metrics"
)

// tick is a clock that moves 50ms each time it is read, so every request
// through the middleware takes exactly 50ms.
type tick struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tick) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(50 * time.Millisecond)
	return c.t
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// scrape reads the handler's text output into series → value.
func scrape(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d\n%s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// want checks one series' value.
func want(t *testing.T, got map[string]float64, series string, value float64) {
	t.Helper()
	v, ok := got[series]
	if !ok {
		t.Errorf("no series %s", series)
	} else if v != value {
		t.Errorf("%s = %v, want %v", series, v, value)
	}
}

func newRouter(m *metrics.Metrics) *echo.Echo {
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/v1/users/:id", func(c echo.Context) error {
		if c.Param("id") == "missing" {
			return echo.NewHTTPError(http.StatusNotFound, "no such user") // a handler's own 404
		}
		return c.String(http.StatusOK, c.Param("id"))
	})
	e.DELETE("/v1/users/:id/roles/:role", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	return e
}

func serve(e *echo.Echo, method, path string) int {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code
}

func TestMiddlewareLabelsByRouteTemplate(t *testing.T) {
	clk := &tick{}
	m := metrics.New(quietLog(), clk.now, metrics.Sources{})
	e := newRouter(m)

	for _, r := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/users/1", 200},
		{"GET", "/v1/users/2", 200},
		{"GET", "/v1/users/missing", 404},
		{"DELETE", "/v1/users/1/roles/admin", 204},
		{"DELETE", "/v1/users/2/roles/viewer", 204},
		{"POST", "/v1/users/3", 405},
		{"GET", "/nope/123", 404},
		{"GET", "/v1/users/1/bogus", 404},
		{"GET", "/v1/users/1/roles/x/y", 405}, // Echo routes this to the nearest template, as 405
		{"BREW", "/v1/users/1", 405},
	} {
		if got := serve(e, r.method, r.path); got != r.status {
			t.Fatalf("%s %s = %d, want %d", r.method, r.path, got, r.status)
		}
	}

	got := scrape(t, m)
	want(t, got, `authsvc_http_requests_total{method="GET",route="/v1/users/:id",status="200"}`, 2)
	want(t, got, `authsvc_http_requests_total{method="GET",route="/v1/users/:id",status="404"}`, 1)
	want(t, got, `authsvc_http_requests_total{method="DELETE",route="/v1/users/:id/roles/:role",status="204"}`, 2)
	want(t, got, `authsvc_http_requests_total{method="POST",route="/v1/users/:id",status="405"}`, 1)
	want(t, got, `authsvc_http_requests_total{method="OTHER",route="/v1/users/:id",status="405"}`, 1)
	want(t, got, `authsvc_http_requests_total{method="GET",route="unmatched",status="404"}`, 2)
	want(t, got, `authsvc_http_requests_total{method="GET",route="/v1/users/:id/roles/:role",status="405"}`, 1)
	want(t, got, `authsvc_http_request_duration_seconds_count{method="GET",route="/v1/users/:id"}`, 3)
	want(t, got, `authsvc_http_request_duration_seconds_bucket{method="GET",route="/v1/users/:id",le="0.025"}`, 0)
	want(t, got, `authsvc_http_request_duration_seconds_bucket{method="GET",route="/v1/users/:id",le="0.05"}`, 3)
	for series := range got {
		if strings.Contains(series, "nope") || strings.Contains(series, "bogus") ||
			strings.Contains(series, "/v1/users/1") || strings.Contains(series, "BREW") {
			t.Errorf("a raw path or method became a label: %s", series)
		}
	}
}

// The status is the one sent even when the handler's error is rendered by the
// error handler, inside or outside another middleware that renders errors.
func TestMiddlewareSeesTheStatusSent(t *testing.T) {
	m := metrics.New(quietLog(), (&tick{}).now, metrics.Sources{})
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/teapot/:n", func(c echo.Context) error { return echo.NewHTTPError(http.StatusTeapot) })
	e.GET("/boom/:n", func(c echo.Context) error { return errors.New("boom") })
	serve(e, "GET", "/teapot/1")
	serve(e, "GET", "/boom/1")

	got := scrape(t, m)
	want(t, got, `authsvc_http_requests_total{method="GET",route="/teapot/:n",status="418"}`, 1)
	want(t, got, `authsvc_http_requests_total{method="GET",route="/boom/:n",status="500"}`, 1)
}

func TestOutcomeCounters(t *testing.T) {
	m := metrics.New(quietLog(), time.Now, metrics.Sources{})
	got := scrape(t, m)
	want(t, got, `authsvc_logins_total{outcome="locked"}`, 0) // present before the first event
	want(t, got, `authsvc_token_refreshes_total{outcome="reused"}`, 0)

	m.Login(metrics.LoginSuccess)
	m.Login(metrics.LoginSuccess)
	m.Login(metrics.LoginOverloaded)
	m.Login("typo")
	m.Refresh(metrics.RefreshReused)
	m.RateLimited("login_ip")
	m.RateLimited("login_ip")
	m.RateLimited("login_user")
	m.HookCall("token", metrics.HookOK, 20*time.Millisecond)
	m.HookCall("token", metrics.HookFailed, 2*time.Second)
	m.HookCall("signup", metrics.HookOK, time.Millisecond)

	got = scrape(t, m)
	want(t, got, `authsvc_logins_total{outcome="success"}`, 2)
	want(t, got, `authsvc_logins_total{outcome="overloaded"}`, 1)
	want(t, got, `authsvc_logins_total{outcome="other"}`, 1)
	want(t, got, `authsvc_token_refreshes_total{outcome="reused"}`, 1)
	want(t, got, `authsvc_rate_limited_total{scope="login_ip"}`, 2)
	want(t, got, `authsvc_rate_limited_total{scope="login_user"}`, 1)
	want(t, got, `authsvc_hook_calls_total{hook="token",outcome="ok"}`, 1)
	want(t, got, `authsvc_hook_calls_total{hook="token",outcome="failed"}`, 1)
	want(t, got, `authsvc_hook_calls_total{hook="signup",outcome="ok"}`, 1)
	want(t, got, `authsvc_hook_duration_seconds_count{hook="token"}`, 2)
	want(t, got, `authsvc_hook_duration_seconds_bucket{hook="token",le="0.025"}`, 1)
}

type fakeQueue struct{}

func (fakeQueue) Depth() int       { return 7 }
func (fakeQueue) Rejected() uint64 { return 42 }

func TestSources(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(3)

	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	m := metrics.New(log, time.Now, metrics.Sources{
		HashQueue:      fakeQueue{},
		DB:             db,
		OutboxBacklog:  func(ctx context.Context) (int64, error) { return 5, ctx.Err() },
		OutboxFailing:  func(context.Context) (int64, error) { return 0, errors.New("database is locked") },
		WebhookBacklog: func(context.Context) (int64, error) { return 12, nil },
		WebhookFailing: func(context.Context) (int64, error) { return 3, nil },
	})

	got := scrape(t, m) // 200 although a source failed
	want(t, got, `authsvc_password_hash_queue_depth`, 7)
	want(t, got, `authsvc_password_hash_rejected_total`, 42)
	want(t, got, `authsvc_mail_outbox_backlog`, 5)
	want(t, got, `authsvc_webhook_deliveries_backlog`, 12)
	want(t, got, `authsvc_webhook_deliveries_failing`, 3)
	want(t, got, `go_sql_max_open_connections{db_name="authsvc"}`, 3)
	if _, ok := got["authsvc_mail_outbox_failing"]; ok {
		t.Error("a failing source was reported with a value")
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := got["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the failing source was not logged: %q", logs.String())
	}
}

func TestAbsentSourcesAreLeftOut(t *testing.T) {
	got := scrape(t, metrics.New(quietLog(), time.Now, metrics.Sources{}))
	for series := range got {
		if strings.HasPrefix(series, "authsvc_password_hash") || strings.HasPrefix(series, "authsvc_mail") || strings.HasPrefix(series, "authsvc_webhook") ||
			strings.HasPrefix(series, "go_sql") {
			t.Errorf("series without a source: %s", series)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
