package handlers_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// TestSessionAbsoluteExpiry: once a session reaches its absolute expiry, its
// access tokens are refused at once, however long their own exp still runs, and
// its refresh token is refused.
//
// Config requires SESSION_TTL >= ACCESS_TOKEN_TTL, so an access token outlives
// its session only when it was issued by a refresh late in the session: with
// both at 15m, a refresh at +10m gives a token valid until +25m in a session
// that ends at +15m.
func TestSessionAbsoluteExpiry(t *testing.T) {
	apitest.Each(t, apitest.Vars{"SESSION_TTL": "15m", "ACCESS_TOKEN_TTL": "15m"}, func(t *testing.T, e *apitest.Env) {
		e.Signup("sue")
		login := e.Login("sue", apitest.StrongPassword)
		e.Clock.Advance(10 * time.Minute)
		var late apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": login.RefreshToken}).Expect(http.StatusOK).Decode(&late)
		if late.SessionID != login.SessionID || late.ExpiresIn != 15*60 {
			t.Fatalf("refresh = session %s, expires_in %d", late.SessionID, late.ExpiresIn)
		}
		exp := int64(claimsOf(t, late.AccessToken)["exp"].(float64))
		sessionEnd := e.Clock.Now().Add(5 * time.Minute) // login + SESSION_TTL

		// Just before the session ends, everything works.
		e.Clock.Advance(5*time.Minute - time.Second)
		e.As(late.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
		if r := introspectJSON(e, late.AccessToken).Expect(http.StatusOK).JSON(); r["active"] != true {
			t.Fatalf("introspection before the session's end = %v", r)
		}

		// At the session's end the access token is still within its exp…
		e.Clock.Advance(time.Second)
		if now := e.Clock.Now(); !now.Equal(sessionEnd) || now.Unix() >= exp {
			t.Fatalf("now %v, session end %v, token exp %v: the token must outlive the session", now, sessionEnd, time.Unix(exp, 0))
		}
		// …but the session is over: refused at once, everywhere.
		e.As(late.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		e.As(late.AccessToken, "GET", "/v1/me/sessions", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		expectInactive(t, introspectJSON(e, late.AccessToken))
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": late.RefreshToken}).ExpectProblem(http.StatusUnauthorized, "invalid_refresh_token")

		// A new login starts a new session that works.
		again := e.Login("sue", apitest.StrongPassword)
		if again.SessionID == login.SessionID {
			t.Fatal("the new login reused the ended session")
		}
		e.As(again.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK)
	})
}

// TestLoginUnknownUserCostsAHash: a login naming no user takes about as long
// as one with a wrong password, because it spends a hash on nothing. Without
// the dummy hash an unknown login answers in a millisecond and tells an
// attacker which logins exist.
//
// The hashing cost is raised so that one hash (tens of milliseconds) dwarfs
// the rest of a request; logins alternate so that load on the machine hits
// both kinds alike, and medians ignore stragglers. One database is enough:
// storage is not what is measured.
func TestLoginUnknownUserCostsAHash(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	for _, lockout := range []string{"0", "1000"} { // off; on, counting failures that never reach it
		t.Run("LOCKOUT_THRESHOLD="+lockout, func(t *testing.T) {
			e := apitest.New(t, store.SQLite, apitest.Vars{
				"PASSWORD_HASH_MEMORY_KIB": "32768", "PASSWORD_HASH_ITERATIONS": "2", "LOCKOUT_THRESHOLD": lockout,
			})
			e.Signup("known")
			attempt := func(login string) time.Duration {
				start := time.Now()
				e.Request("POST", "/v1/auth/login", map[string]any{"login": login, "password": "Wrong-guess-4471-zebra!"}).
					ExpectProblem(http.StatusUnauthorized, "invalid_credentials")
				return time.Since(start)
			}
			attempt("known") // warm up
			attempt("nobody")
			const rounds = 15
			var known, unknown []time.Duration
			for i := range rounds {
				if i%2 == 0 {
					known = append(known, attempt("known"))
					unknown = append(unknown, attempt("nobody"))
				} else {
					unknown = append(unknown, attempt("nobody@example.com"))
					known = append(known, attempt("known@example.com"))
				}
			}
			median := func(d []time.Duration) time.Duration {
				s := slices.Clone(d)
				slices.Sort(s)
				return s[len(s)/2]
			}
			mk, mu := median(known), median(unknown)
			t.Logf("login with a wrong password, median of %d: known user %v, unknown user %v", rounds, mk, mu)
			if mu < mk/2 {
				t.Fatalf("an unknown login takes %v, a known one with a wrong password %v: unknown logins skip the hash", mu, mk)
			}
			if lockout != "0" && (mu*10 < mk*6 || mu*6 > mk*10) {
				t.Fatalf("counting failures: unknown %v against known %v; an account and an unknown identifier must cost alike", mu, mk)
			}
		})
	}
}
