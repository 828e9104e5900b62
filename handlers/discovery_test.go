package handlers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestDiscoveryDocuments: /.well-known/oauth-authorization-server (RFC 8414)
// and /.well-known/openid-configuration serve the same metadata, holding only
// what is true: each endpoint it names answers as it says, the issuer is the
// tokens' iss, the one grant is client credentials (service clients), no
// response type is claimed, and no OpenID Connect field is there (authsvc
// issues no ID tokens).
func TestDiscoveryDocuments(t *testing.T) {
	e := apitest.New(t, store.SQLite, apitest.Vars{"JWT_ISSUER": "https://issuer.example"})
	oauth := e.Request("GET", "/.well-known/oauth-authorization-server", nil).Expect(http.StatusOK)
	oidc := e.Request("GET", "/.well-known/openid-configuration", nil).Expect(http.StatusOK)
	if !bytes.Equal(oauth.Body, oidc.Body) {
		t.Errorf("the two documents differ:\n%s\n%s", oauth.Body, oidc.Body)
	}
	for _, r := range []*apitest.Response{oauth, oidc} {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
			t.Errorf("Cache-Control %q; want it public with a max-age", cc)
		}
	}
	doc := oauth.JSON()
	want := map[string]any{
		"issuer":                                "https://issuer.example",
		"jwks_uri":                              "http://authsvc.test/.well-known/jwks.json",
		"token_endpoint":                        "http://authsvc.test/v1/oauth/token",
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
		"grant_types_supported":                 []any{"client_credentials"},
		"response_types_supported":              []any{},
		"introspection_endpoint":                "http://authsvc.test/v1/auth/introspect",
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic"},
		"revocation_feed_endpoint":                      "http://authsvc.test/v1/auth/revocations",
	}
	for k, v := range want {
		if got, ok := doc[k]; !ok || !equalJSON(got, v) {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for k := range doc {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected member %s = %v", k, doc[k])
		}
	}

	// Each endpoint does what the document says.
	path := func(k string) string {
		p, ok := strings.CutPrefix(doc[k].(string), "http://authsvc.test")
		if !ok {
			t.Fatalf("%s = %v is not under PUBLIC_URL", k, doc[k])
		}
		return p
	}
	e.Request("GET", path("jwks_uri"), nil).Expect(http.StatusOK)
	// The token endpoint is the client credentials grant of a service client.
	admin := e.AdminLogin().AccessToken
	var client struct {
		Client       struct{ ID string } `json:"client"`
		ClientSecret string              `json:"client_secret"`
	}
	e.As(admin, "POST", "/v1/clients", map[string]any{"name": "discovery", "permissions": []string{}}).Expect(http.StatusCreated).Decode(&client)
	grant := httptest.NewRequest("POST", path("token_endpoint"), strings.NewReader("grant_type=client_credentials"))
	grant.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	grant.SetBasicAuth(client.Client.ID, client.ClientSecret) // client_secret_basic
	tk := e.Do(grant).Expect(http.StatusOK).JSON()
	claims := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(tk["access_token"].(string), claims)
	testdb.Must(t, err)
	if claims["iss"] != doc["issuer"] {
		t.Errorf("token iss %v, issuer %v", claims["iss"], doc["issuer"])
	}
	basic := gatewayAuth()
	e.Request("POST", path("introspection_endpoint"), map[string]any{"token": tk["access_token"]}).Expect(http.StatusUnauthorized)
	if r := e.Request("POST", path("introspection_endpoint"), map[string]any{"token": tk["access_token"]}, basic...).Expect(http.StatusOK).JSON(); r["active"] != true {
		t.Errorf("introspection with client_secret_basic: %v", r)
	}
	e.Request("GET", path("revocation_feed_endpoint"), nil, basic...).Expect(http.StatusOK)
}

// equalJSON compares decoded JSON values: strings and arrays of strings.
func equalJSON(got, want any) bool {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		return ok && slices.Equal(g, w)
	default:
		return got == want
	}
}
