// Package clients tests authsvc with clients nobody here wrote.
package clients

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
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
		return nil, &refused{msg: strings.TrimSpace(stderr.String())}
	}
	var res struct{ Payload map[string]any }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("jose printed %q: %v", out, err)
	}
	return res.Payload, nil
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
