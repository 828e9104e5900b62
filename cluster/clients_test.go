package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
)

// Service clients and personal access tokens across instances: a credential
// made on one instance works on the others, and once its end (a client
// disabled, a token revoked) is answered on one, the others refuse it on
// their very next request, whether or not they had it cached: the change is
// awaited across instances (PostgreSQL NOTIFY and its acknowledgements), so
// nothing here sleeps or retries.

// TestClientsAcrossInstances runs three instances on one fresh PostgreSQL database.
func TestClientsAcrossInstances(t *testing.T) {
	c := startCluster(t, clusterVars(t), 3)
	t.Run("service client: created on A, token from B, disabled on C, refused at once on A and B", c.serviceClientDisabled)
	t.Run("personal access token: created on A, used on B, revoked on C, refused at once on A and B", c.personalTokenRevoked)
	t.Run("token endpoint: 30 grants for one client on A, B and C at once", c.concurrentGrants)
}

// grant asks instance nd for a service token with the client's id and secret
// (client_secret_basic: each form-encoded, then HTTP Basic).
func (c *cluster) grant(nd *node, ip, id, secret string) (res, error) {
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	h := http.Header{
		"Authorization": {req.Header.Get("Authorization")},
		"Content-Type":  {"application/x-www-form-urlencoded"},
	}
	return c.send(nd, ip, "POST", "/v1/oauth/token", h, []byte(url.Values{"grant_type": {"client_credentials"}}.Encode()))
}

// mustGrant is grant, which must answer 200 with a bearer token.
func (c *cluster) mustGrant(t *testing.T, nd *node, ip, id, secret string) string {
	t.Helper()
	r, err := c.grant(nd, ip, id, secret)
	if err != nil {
		t.Fatalf("instance %s: POST /v1/oauth/token: %v", nd.name, err)
	}
	tok := r.str("access_token")
	if r.status != http.StatusOK || tok == "" || r.str("token_type") != "Bearer" || r.str("scope") != "users:read" {
		t.Fatalf("client credentials grant on %s: %v; want 200, a Bearer token with scope users:read", nd.name, r)
	}
	return tok
}

// introspect asks instance nd about tok as the gateway client.
func (c *cluster) introspect(t *testing.T, nd *node, ip, tok string) res {
	t.Helper()
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(apitest.GatewayClient, apitest.GatewaySecret)
	h := http.Header{"Authorization": {req.Header.Get("Authorization")}, "Content-Type": {"application/json"}}
	body, _ := json.Marshal(map[string]string{"token": tok})
	r, err := c.send(nd, ip, "POST", "/v1/auth/introspect", h, body)
	if err != nil {
		t.Fatalf("instance %s: POST /v1/auth/introspect: %v", nd.name, err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("introspection on %s: %v", nd.name, r)
	}
	return r
}

// wantInactive: introspection answered exactly {"active": false}.
func wantInactive(t *testing.T, what string, r res) {
	t.Helper()
	if len(r.body) != 1 || r.body["active"] != false {
		t.Errorf("%s: introspection answered %v; want exactly {\"active\": false}", what, r.body)
	}
}

// newServiceClient has the admin create a client holding users:read on
// instance i; it returns its id and secret.
func (c *cluster) newServiceClient(t *testing.T, i int, name string) (id, secret string) {
	t.Helper()
	r := c.must(t, c.node(i), c.ip(), "POST", "/v1/clients", c.admin(t), map[string]any{
		"name": name + "-" + c.run, "permissions": []string{"users:read"}, "description": "cluster test",
	})
	client, _ := r.body["client"].(map[string]any)
	id, _ = client["id"].(string)
	secret = r.str("client_secret")
	if r.status != http.StatusCreated || id == "" || len(secret) < 43 {
		t.Fatalf("POST /v1/clients on %s: %v; want 201 with an id and a secret of at least 256 bits", c.node(i).name, r)
	}
	return id, secret
}

// serviceClientDisabled: a client made on A gets a token from B that works
// on A, B and C; disabled on C, its token is refused on A and B on their next
// request (both had it cached), introspection on A says inactive, and B
// grants it no new token.
func (c *cluster) serviceClientDisabled(t *testing.T) {
	ip := c.ip()
	id, secret := c.newServiceClient(t, 0, "billing") // A
	tok := c.mustGrant(t, c.node(1), ip, id, secret)  // B
	for j := range 3 {
		if r := c.must(t, c.node(j), ip, "GET", "/v1/users", tok, nil); r.status != http.StatusOK {
			t.Fatalf("GET /v1/users on %s with the service token from B: %v; want 200", c.node(j).name, r)
		}
	}
	if r := c.must(t, c.node(1), ip, "GET", "/v1/auth/forward", tok, nil); r.status != http.StatusOK || r.header.Get("X-Auth-Client-Id") != id {
		t.Fatalf("forward auth on B with the service token: %d %v; want 200 with X-Auth-Client-Id", r.status, r.header)
	}
	if r := c.introspect(t, c.node(0), ip, tok); r.body["active"] != true || r.str("client_id") != id || r.str("scope") != "users:read" {
		t.Fatalf("introspection on A before the client is disabled: %v; want active, client_id and scope", r.body)
	}

	r := c.must(t, c.node(2), ip, "PATCH", "/v1/clients/"+id, c.admin(t), map[string]any{"disabled": true}) // C
	if client, _ := r.body["client"].(map[string]any); r.status != http.StatusOK || client["disabled"] != true {
		t.Fatalf("PATCH /v1/clients/{id} {disabled: true} on C: %v", r)
	}
	// At once: no sleep, no retry.
	for _, j := range []int{0, 1} {
		if r := c.must(t, c.node(j), ip, "GET", "/v1/users", tok, nil); r.status != http.StatusUnauthorized {
			t.Errorf("client disabled on C; its token on %s right after: %v; want 401", c.node(j).name, r)
		}
	}
	wantInactive(t, "the disabled client's token on A", c.introspect(t, c.node(0), ip, tok))
	if r := c.must(t, c.node(1), ip, "GET", "/v1/auth/forward", tok, nil); r.status != http.StatusUnauthorized {
		t.Errorf("forward auth on B with the disabled client's token: %v; want 401", r)
	}
	if r := c.must(t, c.node(2), ip, "GET", "/v1/users", tok, nil); r.status != http.StatusUnauthorized {
		t.Errorf("the disabled client's token on C, where it was disabled: %v; want 401", r)
	}
	r, err := c.grant(c.node(1), ip, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusUnauthorized || r.str("error") != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("a grant for the disabled client on B: %v; want 401 invalid_client with WWW-Authenticate: Basic", r)
	}
}

// personalTokenRevoked: the admin's personal access token made on A works on
// B; revoked on C, it is refused on A and B on their next request (both had
// it cached), and introspection on A says inactive.
func (c *cluster) personalTokenRevoked(t *testing.T) {
	ip := c.ip()
	r := c.must(t, c.node(0), ip, "POST", "/v1/me/tokens", c.admin(t), map[string]any{ // A
		"name": "backup script " + c.run, "expires_in": 3600, "permissions": []string{"users:read"}, "password": adminPassword,
	})
	tk, _ := r.body["token"].(map[string]any)
	id, _ := tk["id"].(string)
	pat := r.str("secret")
	if r.status != http.StatusCreated || id == "" || !strings.HasPrefix(pat, "authsvc_pat_") {
		t.Fatalf("POST /v1/me/tokens on A: %v; want 201 with an authsvc_pat_ secret", r)
	}
	for _, j := range []int{1, 0} { // B, then A: both have it cached
		if r := c.must(t, c.node(j), ip, "GET", "/v1/users", pat, nil); r.status != http.StatusOK {
			t.Fatalf("GET /v1/users on %s with the personal token: %v; want 200", c.node(j).name, r)
		}
	}
	if u := c.meUser(t, 1, ip, pat); u["email"] != adminEmail {
		t.Fatalf("GET /v1/me on B with the admin's personal token: %v", u)
	}
	if r := c.introspect(t, c.node(0), ip, pat); r.body["active"] != true || r.str("sid") != id {
		t.Fatalf("introspection on A before the revocation: %v; want active with sid the token's id", r.body)
	}

	if r := c.must(t, c.node(2), ip, "DELETE", "/v1/me/tokens/"+id, c.admin(t), nil); r.status != http.StatusNoContent { // C
		t.Fatalf("DELETE /v1/me/tokens/{id} on C: %v; want 204", r)
	}
	// At once: no sleep, no retry.
	for _, j := range []int{0, 1} {
		if r := c.must(t, c.node(j), ip, "GET", "/v1/users", pat, nil); r.status != http.StatusUnauthorized {
			t.Errorf("personal token revoked on C; on %s right after: %v; want 401", c.node(j).name, r)
		}
	}
	wantInactive(t, "the revoked personal token on A", c.introspect(t, c.node(0), ip, pat))
	if r := c.must(t, c.node(1), ip, "GET", "/v1/me", pat, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/me on B with the revoked personal token: %v; want 401", r)
	}
	if r := c.must(t, c.node(0), ip, "DELETE", "/v1/me/tokens/"+id, c.admin(t), nil); r.status != http.StatusNotFound {
		t.Errorf("the token revoked again on A: %v; want 404", r)
	}
}

// concurrentGrants: one client's grants sent to the three instances at once
// are all served, and every token they give works on every instance.
func (c *cluster) concurrentGrants(t *testing.T) {
	id, secret := c.newServiceClient(t, 1, "reports") // B
	const n = 30
	toks := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			nd := c.node(i)
			r, err := c.grant(nd, c.ip(), id, secret)
			if err == nil && (r.status != http.StatusOK || r.str("access_token") == "") {
				err = fmt.Errorf("%v", r)
			}
			if err != nil {
				errs[i] = fmt.Errorf("grant %d on %s: %w", i, nd.name, err)
				return
			}
			toks[i] = r.str("access_token")
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	for i, tok := range toks {
		nd := c.node(i + 1) // another instance than the one that issued it
		if r := c.must(t, nd, "", "GET", "/v1/users", tok, nil); r.status != http.StatusOK {
			t.Errorf("token %d (from %s) on %s: %v; want 200", i, c.node(i).name, nd.name, r)
		}
	}
	// One sampled client_token_issued event a minute across the instances.
	db := c.db(t)
	if k := queryInt(t, db, `SELECT count(*) FROM audit_events WHERE type = 'client_token_issued' AND actor_id = $1`, id); k != 1 {
		t.Errorf("%d client_token_issued events for 30 grants within a minute; want 1", k)
	}
}
