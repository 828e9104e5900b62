package handlers_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
)

// TestLoginRateLimits: the 11th attempt in a minute is 429 with Retry-After,
// for one identifier (known or not, any case) and for one client address
// across identifiers; a rotated X-Forwarded-For from an untrusted peer changes
// nothing; the limit lifts as time passes.
func TestLoginRateLimits(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOGIN_RATE_LIMIT": "10/m"}, func(t *testing.T, e *apitest.Env) {
		e.Signup("alice")
		login := func(who, ip string) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": who, "password": "wrong-Password-000"},
				"X-Forwarded-For", ip)
		}
		for _, who := range []string{"alice", "nobody-here"} {
			for i := range 10 {
				login(who, fmt.Sprintf("203.0.113.%d", i)).ExpectProblem(401, "invalid_credentials")
			}
			r := login(" "+who+" ", "198.51.100.7").ExpectProblem(http.StatusTooManyRequests, "rate_limited")
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After for %s", who)
			}
			e.Clock.Advance(time.Minute) // the address's and the identifier's counts both lift
		}

		// One address across identifiers.
		e.Clock.Advance(time.Hour)
		for i := range 10 {
			login(fmt.Sprintf("guess%d", i), "").ExpectProblem(401, "invalid_credentials")
		}
		login("guess-eleven", "").ExpectProblem(http.StatusTooManyRequests, "rate_limited")
		e.Clock.Advance(10 * time.Second) // one attempt is forgiven every 6 s
		login("guess-twelve", "").ExpectProblem(401, "invalid_credentials")
	})
}

// TestSignupAndMailRateLimits: signups per address are 429 past the limit; reset
// mails per address stop quietly, with the same 202.
func TestSignupAndMailRateLimits(t *testing.T) {
	eachDBMail(t, apitest.Vars{"SIGNUP_RATE_LIMIT": "3/h", "MAIL_RATE_LIMIT": "2/h"},
		func(t *testing.T, e *apitest.Env, _ *smtptest.Server, _ apitest.Vars) {
			for i := range 3 {
				e.Signup(fmt.Sprintf("signer%d", i))
			}
			e.Request("POST", "/v1/auth/signup", map[string]any{
				"email": "signer3@example.com", "username": "signer3", "password": apitest.StrongPassword,
			}).ExpectProblem(http.StatusTooManyRequests, "rate_limited")

			for range 3 {
				forgotPW(e, "Signer0@example.com").Expect(http.StatusAccepted)
			}
			deliverMail(e, 2) // the third request sent nothing
			if n := countRows(t, e, "SELECT count(*) FROM password_reset_tokens"); n != 1 {
				t.Fatalf("%d reset tokens; want 1", n)
			}
			evs := auditRowsOf(t, e, "password_reset_requested")
			limited := 0
			for _, ev := range evs {
				if ev.Details == `{"mail":"not_sent","reason":"rate_limited"}` {
					limited++
				}
			}
			if limited != 1 {
				t.Fatalf("%d of %d reset requests were limited; want 1: %+v", limited, len(evs), evs)
			}
		})
}

// TestLongRefreshTokenIsUnknown: any token the service does not know is 401
// invalid_refresh_token, however long (an access token pasted by mistake).
func TestLongRefreshTokenIsUnknown(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("paster")
		for _, tok := range []string{tk.AccessToken, strings.Repeat("x", 257), strings.Repeat("y", 100_000)} {
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tok}).ExpectProblem(401, "invalid_refresh_token")
		}
	})
}

// TestIntrospectionRateLimit: calls per client past INTROSPECTION_RATE_LIMIT are
// 429 with Retry-After; other clients are counted apart.
func TestIntrospectionRateLimit(t *testing.T) {
	const otherSecret = "other-secret-0123456789abcdef0123"
	vars := apitest.Vars{"INTROSPECTION_RATE_LIMIT": "3/m", "INTROSPECTION_CLIENTS": "gateway:" + apitest.GatewaySecret + ",other:" + otherSecret}
	apitest.Each(t, vars, func(t *testing.T, e *apitest.Env) {
		basic := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		}
		call := func(auth string) *apitest.Response {
			return e.Request("POST", "/v1/auth/introspect", map[string]any{"token": "not-a-token"}, "Authorization", auth)
		}
		gw := basic(apitest.GatewayClient, apitest.GatewaySecret)
		for range 3 {
			call(gw).Expect(200)
		}
		if r := call(gw).ExpectProblem(http.StatusTooManyRequests, "rate_limited"); r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		call(basic("other", otherSecret)).Expect(200)
	})
}
