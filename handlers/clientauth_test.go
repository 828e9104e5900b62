package handlers_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// clientFailureVars turns on the limit of failed client authentications at
// its default, 10 a minute.
var clientFailureVars = apitest.Vars{"INTROSPECTION_FAILURE_RATE_LIMIT": "10/m"}

// gatewayCall calls introspection (or, with feed, the revocation feed) from ip
// with the Basic credentials id:secret.
func gatewayCall(e *apitest.Env, ip, id, secret string, feed bool) *apitest.Response {
	e.T.Helper()
	req := httptest.NewRequest("POST", "/v1/auth/introspect", strings.NewReader(`{"token":"not-a-token"}`))
	if feed {
		req = httptest.NewRequest("GET", "/v1/auth/revocations", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	req.RemoteAddr = ip + ":40000"
	return e.Do(req)
}

func expectClientRateLimited(t *testing.T, r *apitest.Response, wantRetry string) {
	t.Helper()
	r.ExpectProblem(http.StatusTooManyRequests, "rate_limited")
	if got := r.Header.Get("Retry-After"); got != wantRetry {
		t.Fatalf("Retry-After %q, want %q (a minute / 10)", got, wantRetry)
	}
}

// TestClientFailuresLimitedPerAddress: past 10 wrong credentials a minute, an
// address has nothing checked, at introspection and the feed alike, not even
// a correct secret; a correct client elsewhere is served.
func TestClientFailuresLimitedPerAddress(t *testing.T) {
	apitest.Each(t, clientFailureVars, func(t *testing.T, e *apitest.Env) {
		const attacker = "198.51.100.7"
		for range 15 { // successes are not failures
			gatewayCall(e, attacker, apitest.GatewayClient, apitest.GatewaySecret, false).Expect(200)
		}
		for i := range 10 {
			gatewayCall(e, attacker, fmt.Sprintf("guess%d", i), apitest.GatewaySecret, i%2 == 0).ExpectProblem(401, "invalid_client")
		}
		expectClientRateLimited(t, gatewayCall(e, attacker, "guess10", apitest.GatewaySecret, false), "6")
		expectClientRateLimited(t, gatewayCall(e, attacker, apitest.GatewayClient, apitest.GatewaySecret, false), "6")
		expectClientRateLimited(t, gatewayCall(e, attacker, apitest.GatewayClient, apitest.GatewaySecret, true), "6")

		gatewayCall(e, "203.0.113.9", apitest.GatewayClient, apitest.GatewaySecret, false).Expect(200)
		gatewayCall(e, "203.0.113.9", apitest.GatewayClient, apitest.GatewaySecret, true).Expect(200)
		gatewayCall(e, "203.0.113.9", "guess11", apitest.GatewaySecret, false).ExpectProblem(401, "invalid_client")

		e.Clock.Advance(6 * time.Second) // one failure is forgiven
		gatewayCall(e, attacker, apitest.GatewayClient, apitest.GatewaySecret, false).Expect(200)
		gatewayCall(e, attacker, "guess12", apitest.GatewaySecret, false).ExpectProblem(401, "invalid_client")
		expectClientRateLimited(t, gatewayCall(e, attacker, "guess13", apitest.GatewaySecret, false), "6")
	})
}

// TestClientFailuresLimitedPerClientID: the 11th wrong secret for one client
// id in a minute is refused wherever it comes from; the client itself, with
// its secret, is still served, and other ids are counted apart.
func TestClientFailuresLimitedPerClientID(t *testing.T) {
	apitest.Each(t, clientFailureVars, func(t *testing.T, e *apitest.Env) {
		wrong := strings.Repeat("w", 40)
		for i := range 10 {
			gatewayCall(e, fmt.Sprintf("198.51.100.%d", i+1), apitest.GatewayClient, wrong, i%2 == 1).ExpectProblem(401, "invalid_client")
		}
		expectClientRateLimited(t, gatewayCall(e, "198.51.100.11", apitest.GatewayClient, wrong, false), "6")
		expectClientRateLimited(t, gatewayCall(e, "198.51.100.12", apitest.GatewayClient, "", true), "6")

		r := gatewayCall(e, "203.0.113.9", apitest.GatewayClient, apitest.GatewaySecret, false).Expect(200)
		if strings.TrimSpace(string(r.Body)) != `{"active":false}` {
			t.Fatalf("introspection by the real client: %s", r.Body)
		}
		gatewayCall(e, "198.51.100.13", "edge", wrong, false).ExpectProblem(401, "invalid_client")
	})
}
