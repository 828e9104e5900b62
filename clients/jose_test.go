// Package clients tests authsvc with clients nobody here wrote.
package clients

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// jose runs clients/jose/verify.mjs (the jose npm package, installed by
// `npm ci --prefix clients/jose`) on a token. Without Node.js or the package
// the test is skipped, except in CI, where that is a failure.
func jose(t *testing.T, jwksURL, token string, now time.Time) (map[string]any, error) {
	t.Helper()
	payload, _, err := joseVerify(t, jwksURL, token, now)
	return payload, err
}

// joseVerify is jose with the protected header jose read as well.
func joseVerify(t *testing.T, jwksURL, token string, now time.Time) (payload, header map[string]any, err error) {
	t.Helper()
	needTools(t, joseMissing())
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs", jwksURL, "http://authsvc.test", "authsvc", token)
	cmd.Dir = "jose"
	cmd.Env = append(os.Environ(), "NOW="+strconv.FormatInt(now.Unix(), 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, &refused{msg: strings.TrimSpace(stderr.String())}
	}
	var res struct{ Payload, ProtectedHeader map[string]any }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("jose printed %q: %v", out, err)
	}
	return res.Payload, res.ProtectedHeader, nil
}

type refused struct{ msg string }

func (r *refused) Error() string { return r.msg }

// TestJoseVerifiesAccessTokens: jose (createRemoteJWKSet + jwtVerify, typ
// at+jwt) accepts authsvc's access tokens, for each signing algorithm, and
// refuses a tampered one, an expired one and the revocation feed's JWS.
func TestJoseVerifiesAccessTokens(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			e := apitest.New(t, "sqlite", apitest.Vars{"JWT_ALG": alg})
			srv := httptest.NewServer(e.App.Server)
			defer srv.Close()
			jwks := srv.URL + "/.well-known/jwks.json"
			tk := e.SignupLogin("ada")

			payload, err := jose(t, jwks, tk.AccessToken, e.Clock.Now())
			if err != nil {
				t.Fatalf("jose refused a valid %s token: %v", alg, err)
			}
			if payload["sub"] != tk.User["id"] || payload["sid"] != tk.SessionID {
				t.Fatalf("jose read %v", payload)
			}
			tampered := tk.AccessToken[:len(tk.AccessToken)-6] + "AAAAAA"
			if _, err := jose(t, jwks, tampered, e.Clock.Now()); err == nil {
				t.Error("jose accepted a tampered token")
			}
			if _, err := jose(t, jwks, tk.AccessToken, e.Clock.Now().Add(16*time.Minute)); err == nil {
				t.Error("jose accepted an expired token")
			}
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(apitest.GatewayClient+":"+apitest.GatewaySecret))
			feed := e.Request("GET", "/v1/auth/revocations", nil, "Authorization", basic).Expect(200)
			if _, err := jose(t, jwks, string(feed.Body), e.Clock.Now()); err == nil || !strings.Contains(err.Error(), "typ") {
				t.Errorf("jose did not refuse the feed as an access token for its typ: %v", err)
			}
		})
	}
}

// TestJoseVerifiesServiceTokens: jose verifies a service client's token
// (client credentials, POST /v1/oauth/token) offline from the JWKS, as it does
// a user's (typ at+jwt), and reads the client's claims: client_id, the sub
// equal to it, scope and permissions as granted, no roles.
func TestJoseVerifiesServiceTokens(t *testing.T) {
	needTools(t, joseMissing())
	e := apitest.New(t, "sqlite", nil)
	srv := httptest.NewServer(e.App.Server)
	defer srv.Close()
	admin := e.AdminLogin()
	made := e.As(admin.AccessToken, "POST", "/v1/clients", map[string]any{"name": "svc", "permissions": []string{"users:read", "audit:read"}}).
		Expect(201).JSON()
	id, secret := made["client"].(map[string]any)["id"].(string), made["client_secret"].(string)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}}
	req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	tok := e.Do(req).Expect(200).JSON()["access_token"].(string)

	payload, header, err := joseVerify(t, srv.URL+"/.well-known/jwks.json", tok, e.Clock.Now())
	if err != nil {
		t.Fatalf("jose refused a service token: %v", err)
	}
	if header["typ"] != "at+jwt" {
		t.Errorf("typ %v, want at+jwt", header["typ"])
	}
	if payload["client_id"] != id || payload["sub"] != id || payload["scope"] != "users:read" {
		t.Errorf("jose read client_id %v, sub %v, scope %v; want %s, %s, users:read", payload["client_id"], payload["sub"], payload["scope"], id, id)
	}
	if perms, _ := payload["permissions"].([]any); len(perms) != 1 || perms[0] != "users:read" {
		t.Errorf("permissions %v, want [users:read] (the scope asked for)", payload["permissions"])
	}
	if roles, _ := payload["roles"].([]any); len(roles) != 0 || payload["username"] != nil {
		t.Errorf("a service token with roles %v, username %v", payload["roles"], payload["username"])
	}
	if _, err := jose(t, srv.URL+"/.well-known/jwks.json", tok, e.Clock.Now().Add(16*time.Minute)); err == nil {
		t.Error("jose accepted an expired service token")
	}
}
