package handlers_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/token"
)

// gatewayAuth is the Basic header of the test configuration's introspection client.
func gatewayAuth() []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(apitest.GatewayClient+":"+apitest.GatewaySecret))}
}

func introspectJSON(e *apitest.Env, tok string, headers ...string) *apitest.Response {
	return e.Request("POST", "/v1/auth/introspect", map[string]any{"token": tok}, append(gatewayAuth(), headers...)...)
}

// expectInactive checks the answer is exactly {"active": false}.
func expectInactive(t *testing.T, r *apitest.Response) {
	t.Helper()
	r.Expect(http.StatusOK)
	if got := strings.TrimSpace(string(r.Body)); got != `{"active":false}` {
		t.Fatalf("body %s, want exactly {\"active\":false}", got)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
}

func TestIntrospection(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		e.As(f.admin.AccessToken, "PATCH", "/v1/users/"+f.uID, map[string]any{"resources": []string{"assistant-3"}}).Expect(200)
		tk := e.Login("ursula", apitest.StrongPassword)

		r := introspectJSON(e, tk.AccessToken).Expect(200)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}
		got := r.JSON()
		claims := claimsOf(t, tk.AccessToken)
		for _, k := range []string{"sub", "sid", "exp", "iat", "nbf", "iss", "jti", "username", "email"} {
			if got[k] != claims[k] || got[k] == nil {
				t.Errorf("%s = %v, token has %v", k, got[k], claims[k])
			}
		}
		if got["active"] != true || got["token_type"] != "Bearer" || got["sid"] != tk.SessionID ||
			!slices.Equal(toStrings(got["aud"]), []string{"authsvc"}) ||
			!slices.Equal(toStrings(got["roles"]), []string{"user"}) ||
			!slices.Equal(toStrings(got["resources"]), []string{"assistant-3"}) {
			t.Fatalf("introspection = %v", got)
		}
		if perms, ok := got["permissions"].([]any); !ok || len(perms) != 0 {
			t.Fatalf("permissions = %v, want []", got["permissions"])
		}

		// RFC 7662's form encoding works the same.
		form := url.Values{"token": {tk.AccessToken}, "token_type_hint": {"access_token"}}.Encode()
		fr := e.Request("POST", "/v1/auth/introspect", form, append(gatewayAuth(), "Content-Type", "application/x-www-form-urlencoded")...).Expect(200)
		if fr.JSON()["active"] != true || fr.JSON()["sub"] != f.uID {
			t.Fatalf("form introspection = %s", fr.Body)
		}
		e.Request("POST", "/v1/auth/introspect", "token_type_hint=access_token", append(gatewayAuth(), "Content-Type", "application/x-www-form-urlencoded")...).ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/introspect", map[string]any{"token": tk.AccessToken, "extra": 1}, gatewayAuth()...).ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/introspect", map[string]any{}, gatewayAuth()...).ExpectProblem(400, "validation_failed")

		// Garbage, forged and foreign tokens are inactive, not errors.
		expectInactive(t, introspectJSON(e, "garbage"))
		expectInactive(t, introspectJSON(e, f.admin.RefreshToken))
		parts := strings.Split(tk.AccessToken, ".")
		expectInactive(t, introspectJSON(e, parts[0]+"."+parts[1]+"."+strings.Repeat("A", len(parts[2]))))
		other := token.NewIssuer(e.App.Keys.KeySet, token.Config{Issuer: "https://evil.example", Audience: "authsvc", TTL: time.Minute}, e.Clock.Now)
		forged, _, err := other.Issue(token.Subject{UserID: mustUUID(t, f.uID), SessionID: mustUUID(t, tk.SessionID)})
		if err != nil {
			t.Fatal(err)
		}
		expectInactive(t, introspectJSON(e, forged))

		// Logged out: inactive at once, though the token has not expired.
		introspectJSON(e, f.master.AccessToken).Expect(200)
		e.As(f.master.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
		expectInactive(t, introspectJSON(e, f.master.AccessToken))

		// Revoked by an admin, and disabled: inactive too.
		second := e.Login("ursula", apitest.StrongPassword)
		e.As(f.admin.AccessToken, "DELETE", "/v1/users/"+f.uID+"/sessions", nil).Expect(204)
		expectInactive(t, introspectJSON(e, second.AccessToken))

		// Expired: inactive.
		live := e.AdminLogin()
		introspectJSON(e, live.AccessToken).Expect(200)
		e.Clock.Advance(15*time.Minute + token.Leeway + time.Second)
		expectInactive(t, introspectJSON(e, live.AccessToken))
	})
}

func TestIntrospectionClientAuth(t *testing.T) {
	const edgeSecret = "s3cr3t:with+colon%-and-32-characters"
	vars := apitest.Vars{"INTROSPECTION_CLIENTS": "gateway:" + apitest.GatewaySecret + ",edge:" + edgeSecret}
	apitest.Each(t, vars, func(t *testing.T, e *apitest.Env) {
		tk := e.AdminLogin()
		basic := func(id, secret string) []string {
			return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}
		}
		cases := []struct {
			name    string
			headers []string
		}{
			{"no credentials", nil},
			{"wrong secret", basic("gateway", apitest.GatewaySecret[:len(apitest.GatewaySecret)-1]+"x")},
			{"unknown client", basic("nobody", apitest.GatewaySecret)},
			{"empty secret", basic("gateway", "")},
			{"secret of another client", basic("gateway", edgeSecret)},
			{"bearer token instead", apitest.Bearer(tk.AccessToken)},
			{"not base64", []string{"Authorization", "Basic !!!"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/introspect", map[string]any{"token": tk.AccessToken}, tc.headers...).ExpectProblem(401, "invalid_client")
				if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="authsvc"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if strings.Contains(string(r.Body), `"active"`) {
					t.Fatalf("answered about the token: %s", r.Body)
				}
			})
		}
		// A secret with reserved characters passes as is and form-encoded (RFC 6749 §2.3.1).
		for _, secret := range []string{edgeSecret, url.QueryEscape(edgeSecret)} {
			r := e.Request("POST", "/v1/auth/introspect", map[string]any{"token": tk.AccessToken}, basic("edge", secret)...).Expect(200)
			if r.JSON()["active"] != true {
				t.Fatalf("edge client with %q: %s", secret, r.Body)
			}
		}
	})
}

func TestIntrospectionWithoutClients(t *testing.T) {
	apitest.Each(t, apitest.Vars{"INTROSPECTION_CLIENTS": ""}, func(t *testing.T, e *apitest.Env) {
		tk := e.AdminLogin()
		introspectJSON(e, tk.AccessToken).ExpectProblem(401, "invalid_client")
	})
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
