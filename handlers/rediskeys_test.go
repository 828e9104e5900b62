package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/testdb"
)

// TestRedisKeysCarryNoIdentifiers: with REDIS_URL, after limited logins,
// signups, reset mails and client failures, every key in Redis starts with
// REDIS_PREFIX and none holds an email, an address or a client id; a service
// with another prefix on the same Redis counts apart.
func TestRedisKeysCarryNoIdentifiers(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		addr := redistest.FreeAddr(t)
		redistest.Start(t, addr) // a Redis of its own: every key in it is this test's
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		vars := apitest.Vars{
			"REDIS_URL": "redis://" + addr, "REDIS_PREFIX": "eu-1:authsvc:",
			"LOGIN_RATE_LIMIT": "3/m", "SIGNUP_RATE_LIMIT": "5/h", "MAIL_RATE_LIMIT": "2/h",
			"INTROSPECTION_FAILURE_RATE_LIMIT": "10/m",
		}
		e := apitest.New(t, dialect, vars)
		login := func(e *apitest.Env) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "Ada@Example.com", "password": "wrong-Password-000"})
		}
		e.Signup("ada")
		for range 3 {
			login(e).ExpectProblem(401, "invalid_credentials")
		}
		login(e).ExpectProblem(http.StatusTooManyRequests, "rate_limited")
		forgotPW(e, "ada@example.com").Expect(http.StatusAccepted)
		gatewayCall(e, "198.51.100.7", "edge-gateway", "wrong", false).ExpectProblem(401, "invalid_client")

		keys, err := rdb.Keys(context.Background(), "*").Result()
		testdb.Must(t, err)
		if len(keys) < 5 { // login per identifier and per address, signup, mail, client failures
			t.Fatalf("keys %q; want the limits counted in Redis", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "eu-1:authsvc:rate:") {
				t.Errorf("key %q does not start with REDIS_PREFIX", k)
			}
			for _, id := range []string{"ada@example.com", "192.0.2.1", "198.51.100.7", "edge-gateway"} {
				if strings.Contains(strings.ToLower(k), id) {
					t.Errorf("key %q holds %q", k, id)
				}
			}
		}

		// Another deployment on the same Redis (and database) counts for itself.
		vars["REDIS_PREFIX"] = "us-1:authsvc:"
		other := apitest.NewOn(t, e.URL, vars)
		login(other).ExpectProblem(401, "invalid_credentials")
		login(e).ExpectProblem(http.StatusTooManyRequests, "rate_limited")
		if n := len(rdb.Keys(context.Background(), "us-1:authsvc:rate:*").Val()); n == 0 {
			t.Fatal("the other deployment wrote no keys under its prefix")
		}
	})
}
