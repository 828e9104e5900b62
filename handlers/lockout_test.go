package handlers_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestLockout: consecutive failures lock an account (its email and username
// together) and an unknown identifier alike; the failure that reaches the
// threshold is still 401, then 429 too_many_attempts with Retry-After, even
// for the right password; locks grow (1, then 2 minutes); a success resets the
// count; an administrator unlocks; the user shows status locked meanwhile.
func TestLockout(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		alice := idOf(e.Signup("alice"))
		attempt := func(login, pw string) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": login, "password": pw})
		}
		const wrong = "wrong-Password-000"
		retryAfter := func(r *apitest.Response) int {
			n, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
			return n
		}
		// An account by email and username together, and an unknown identifier,
		// answer the same sequence.
		for _, who := range [][]string{{"alice", "ALICE@example.com", "alice"}, {"ghost", "Ghost", "ghost"}} {
			for _, login := range who {
				attempt(login, wrong).ExpectProblem(401, "invalid_credentials")
			}
			r := attempt(who[0], wrong).ExpectProblem(http.StatusTooManyRequests, "too_many_attempts")
			if s := retryAfter(r); s < 59 || s > 61 {
				t.Fatalf("%s: Retry-After %d; want about 60", who[0], s)
			}
		}
		// The right password during the lock is refused, without a check: no
		// failure is recorded for it, and the lock does not grow.
		failedBefore := len(auditRowsOf(t, e, "login_failed"))
		attempt("alice", apitest.StrongPassword).ExpectProblem(http.StatusTooManyRequests, "too_many_attempts")
		if n := len(auditRowsOf(t, e, "login_failed")); n != failedBefore {
			t.Fatalf("a locked attempt was counted as a failure (%d → %d)", failedBefore, n)
		}
		u := e.As(admin, "GET", "/v1/users/"+alice, nil).Expect(200).JSON()["user"].(map[string]any)
		if u["status"] != "locked" {
			t.Fatalf("status %v; want locked", u["status"])
		}
		var page struct{ Users []map[string]any }
		e.As(admin, "GET", "/v1/users?status=locked", nil).Expect(200).Decode(&page)
		if len(page.Users) != 1 || page.Users[0]["id"] != alice {
			t.Fatalf("?status=locked found %v", page.Users)
		}
		if n := len(auditRowsOf(t, e, "login_locked")); n != 2 {
			t.Fatalf("%d login_locked events; want 2 (alice and ghost)", n)
		}

		// After a minute the next lock takes two.
		e.Clock.Advance(61 * time.Second)
		for _, login := range []string{"ghost", "ghost", "ghost"} {
			attempt(login, wrong).ExpectProblem(401, "invalid_credentials")
		}
		if s := retryAfter(attempt("ghost", wrong).ExpectProblem(http.StatusTooManyRequests, "too_many_attempts")); s < 119 || s > 121 {
			t.Fatalf("second lock: Retry-After %d; want about 120", s)
		}

		// A success resets the count: two failures, a success, two failures do not lock.
		attempt("alice", wrong).ExpectProblem(401, "invalid_credentials")
		attempt("alice", wrong).ExpectProblem(401, "invalid_credentials")
		e.Login("alice", apitest.StrongPassword)
		attempt("alice", wrong).ExpectProblem(401, "invalid_credentials")
		attempt("alice", wrong).ExpectProblem(401, "invalid_credentials")
		e.Login("alice", apitest.StrongPassword)

		// An administrator unlocks at once.
		for range 3 {
			attempt("alice", wrong).ExpectProblem(401, "invalid_credentials")
		}
		attempt("alice", apitest.StrongPassword).ExpectProblem(http.StatusTooManyRequests, "too_many_attempts")
		e.As(admin, "PATCH", "/v1/users/"+alice, map[string]any{"status": "active"}).Expect(200)
		e.Login("alice", apitest.StrongPassword)
	})
}
