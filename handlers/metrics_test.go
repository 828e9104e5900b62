package handlers_test

import (
	"regexp"
	"strconv"
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
