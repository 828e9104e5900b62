package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestMetricsMove: /metrics counts a login, a failed login and a refresh, and
// labels requests by route template, never by raw path.
func TestMetricsMove(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		scrape, value := metricsOf(e)
		before := scrape()
		tk := e.SignupLogin("metered")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "metered", "password": "wrong-Password-000"}).ExpectProblem(401, "invalid_credentials")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200)
		e.As(tk.AccessToken, "GET", "/v1/users/"+idOf(tk.User), nil)
		after := scrape()
		for series, want := range map[string]float64{
			`authsvc_logins_total{outcome="success"}`:          1,
			`authsvc_logins_total{outcome="invalid"}`:          1,
			`authsvc_token_refreshes_total{outcome="success"}`: 1,
		} {
			if got := value(after, series) - value(before, series); got != want {
				t.Errorf("%s moved by %v; want %v", series, got, want)
			}
		}
		if value(after, `authsvc_http_requests_total{method="GET",route="/v1/users/:id",status="401"}`)+
			value(after, `authsvc_http_requests_total{method="GET",route="/v1/users/:id",status="200"}`) != 1 {
			t.Errorf("no request counted under the route template:\n%s", after)
		}
		if regexp.MustCompile(`route="/v1/users/[0-9a-f]{8}-`).MatchString(after) {
			t.Error("a raw path became a label")
		}
	})
}

// metricsOf scrapes /metrics, and reads one series' value out of a scrape (0 when absent).
func metricsOf(e *apitest.Env) (scrape func() string, value func(text, series string) float64) {
	scrape = func() string { return string(e.Request("GET", "/metrics", nil).Expect(200).Body) }
	value = func(text, series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			e.T.Fatal(err)
		}
		return v
	}
	return scrape, value
}

// A login with TOTP is one success: the password step counts as
// mfa_required, a wrong code as invalid, the second step as the success.
func TestMetricsCountATOTPLoginOnce(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		scrape, value := metricsOf(e)
		_, secret, _ := mfaUser(e, "ada")
		before := scrape()
		tok := mfaToken(e, "ada", false)
		secondStep(e, tok, map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, tok, map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).Expect(200)
		after := scrape()
		for series, want := range map[string]float64{
			`authsvc_logins_total{outcome="success"}`:      1,
			`authsvc_logins_total{outcome="mfa_required"}`: 1,
			`authsvc_logins_total{outcome="invalid"}`:      1,
		} {
			if got := value(after, series) - value(before, series); got != want {
				t.Errorf("%s moved by %v; want %v", series, got, want)
			}
		}
	})
}

// /metrics counts the token hook's calls by outcome, and shows the webhook
// deliveries waiting and failing.
func TestMetricsOfHooksAndWebhooks(t *testing.T) {
	eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
		failing := &atomic.Bool{}
		hook := newHookServer(t, func(w http.ResponseWriter, b map[string]any) {
			if failing.Load() {
				jsonAnswer(500, `{}`)(w, b)
				return
			}
			jsonAnswer(200, `{"claims": {"tenant": "t1"}}`)(w, b)
		})
		hook.failing = failing
		return apitest.Vars{"TOKEN_HOOK_URL": hook.URL, "TOKEN_HOOK_SECRET": testHookSecret,
			"HOOK_FAILURE": "open", "WEBHOOK_ALLOW_PRIVATE": "true"}, hook
	}, func(t *testing.T, e *apitest.Env, _ *apitest.LogBuffer, hook *hookServer) {
		scrape, value := metricsOf(e)
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(down.Close)
		admin := e.AdminLogin().AccessToken // a token hook call
		whCreate(t, e, admin, map[string]any{"url": down.URL, "events": []string{"user.created"}})
		before := scrape()
		e.Signup("counted")
		e.Signup("counted2")
		e.Login("counted", apitest.StrongPassword)
		hook.failing.Store(true)
		e.Login("counted2", apitest.StrongPassword) // open: the login goes on

		mid := scrape()
		for series, want := range map[string]float64{
			`authsvc_hook_calls_total{hook="token",outcome="ok"}`:     1,
			`authsvc_hook_calls_total{hook="token",outcome="failed"}`: 1,
			`authsvc_hook_duration_seconds_count{hook="token"}`:       2,
		} {
			if got := value(mid, series) - value(before, series); got != want {
				t.Errorf("%s moved by %v; want %v", series, got, want)
			}
		}
		if got := value(mid, "authsvc_webhook_deliveries_backlog"); got != 2 {
			t.Errorf("webhook backlog %v before any attempt; want the two signups'", got)
		}
		if got := value(mid, "authsvc_webhook_deliveries_failing"); got != 0 {
			t.Errorf("webhook deliveries failing %v before any attempt; want 0", got)
		}
		if _, err := e.App.Webhooks.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := scrape()
		if b, f := value(after, "authsvc_webhook_deliveries_backlog"), value(after, "authsvc_webhook_deliveries_failing"); b != 2 || f != 2 {
			t.Errorf("after a failed attempt each: backlog %v, failing %v; want 2 and 2", b, f)
		}
	})
}
