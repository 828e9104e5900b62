package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authsvc/authsvc/internal/apitest"
)

// The helpers of this file are prefixed oa, so that it stands on its own.

// oaClient makes a service client as the admin and returns its id and secret.
func oaClient(t *testing.T, e *apitest.Env, admin string, perms ...string) (id, secret string) {
	t.Helper()
	var out struct {
		Client       struct{ ID string } `json:"client"`
		ClientSecret string              `json:"client_secret"`
	}
	e.WithT(t).As(admin, "POST", "/v1/clients", map[string]any{"name": "svc", "permissions": append([]string{}, perms...)}).
		Expect(http.StatusCreated).Decode(&out)
	return out.Client.ID, out.ClientSecret
}

// oaPost sends a token request: body with the content type ct (none when
// empty), and an Authorization header when auth is not empty.
func oaPost(e *apitest.Env, ct, body, auth string) *apitest.Response {
	e.T.Helper()
	req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return e.Do(req)
}

const oaForm = "application/x-www-form-urlencoded"

// oaBasic is the Basic header of RFC 6749 §2.3.1: id and secret form-encoded first.
func oaBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// oaRawBasic is a Basic header of exactly user:pass.
func oaRawBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// oaPercentAll percent-encodes every byte, as a client may (RFC 6749 §2.3.1).
func oaPercentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// oaExpectError checks an RFC 6749 §5.2 error answer: JSON (not a problem
// document) with error and error_description, never cached.
func oaExpectError(t *testing.T, r *apitest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json (an OAuth error object); body %s", ct, r.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	desc, _ := body["error_description"].(string)
	if body["error"] != code || desc == "" {
		t.Fatalf("body %s, want error %q with an error_description", r.Body, code)
	}
	for _, k := range []string{"type", "title", "code", "status", "detail"} {
		if _, ok := body[k]; ok {
			t.Fatalf("body %s has the problem member %q", r.Body, k)
		}
	}
	oaExpectNoCache(t, r)
	challenge := r.Header.Get("WWW-Authenticate")
	if status == http.StatusUnauthorized && !strings.HasPrefix(challenge, "Basic") {
		t.Fatalf("401 with WWW-Authenticate %q, want Basic", challenge)
	}
	if status != http.StatusUnauthorized && challenge != "" {
		t.Fatalf("%d with WWW-Authenticate %q", status, challenge)
	}
}

func oaExpectNoCache(t *testing.T, r *apitest.Response) {
	t.Helper()
	if cc, pragma := r.Header.Values("Cache-Control"), r.Header.Get("Pragma"); len(cc) != 1 || cc[0] != "no-store" || pragma != "no-cache" {
		t.Fatalf("Cache-Control %q, Pragma %q: want no-store and no-cache", cc, pragma)
	}
}

// TestOAuthClientCredentialsLibrary: golang.org/x/oauth2's client credentials
// flow works against the token endpoint over real HTTP, with either way of
// authenticating the client, with and without scopes, and reads the errors.
func TestOAuthClientCredentialsLibrary(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		srv := httptest.NewServer(e.App.Server)
		t.Cleanup(srv.Close)
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read", "roles:read")

		styles := map[string]oauth2.AuthStyle{"header": oauth2.AuthStyleInHeader, "params": oauth2.AuthStyleInParams}
		for styleName, style := range styles {
			config := func(secret string, scopes ...string) *clientcredentials.Config {
				return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: srv.URL + "/v1/oauth/token", Scopes: scopes, AuthStyle: style}
			}
			grants := []struct {
				scopes    []string
				wantScope string
				usersList int // the status of GET /v1/users with the token
			}{
				{nil, "roles:read users:read", http.StatusOK},
				{[]string{"users:read"}, "users:read", http.StatusOK},
				{[]string{"users:read", "roles:read"}, "roles:read users:read", http.StatusOK},
				{[]string{"roles:read"}, "roles:read", http.StatusForbidden},
			}
			for _, g := range grants {
				t.Run(fmt.Sprintf("%s scopes=%v", styleName, g.scopes), func(t *testing.T) {
					e := e.WithT(t)
					cfg := config(secret, g.scopes...)
					tok, err := cfg.Token(ctx)
					if err != nil {
						t.Fatalf("Token: %v", err)
					}
					if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken != "" {
						t.Fatalf("token %+v: want a Bearer access token and no refresh token", tok)
					}
					if got := tok.Extra("scope"); got != g.wantScope {
						t.Errorf("scope %v, want %q", got, g.wantScope)
					}
					if left := time.Until(tok.Expiry); left < 14*time.Minute || left > 16*time.Minute {
						t.Errorf("expiry in %v, want about 15 minutes", left)
					}
					r := e.As(tok.AccessToken, "GET", "/v1/users", nil)
					if r.Status != g.usersList {
						t.Fatalf("GET /v1/users: %d %s, want %d", r.Status, r.Body, g.usersList)
					}
					// The library's own client, over HTTP, carries the token.
					res, err := cfg.Client(ctx).Get(srv.URL + "/v1/users")
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != g.usersList {
						t.Fatalf("GET /v1/users through the library's client: %d, want %d", res.StatusCode, g.usersList)
					}
				})
			}
			t.Run(styleName+" errors", func(t *testing.T) {
				retrieveError := func(cfg *clientcredentials.Config) *oauth2.RetrieveError {
					t.Helper()
					tok, err := cfg.Token(ctx)
					var re *oauth2.RetrieveError
					if !errors.As(err, &re) {
						t.Fatalf("Token: %v, %v; want a *oauth2.RetrieveError", tok, err)
					}
					return re
				}
				for _, scopes := range [][]string{{"audit:read"}, {"users:read", "users:write"}, {"nonsense"}} {
					if re := retrieveError(config(secret, scopes...)); re.ErrorCode != "invalid_scope" || re.Response.StatusCode != http.StatusBadRequest {
						t.Errorf("scopes %v: %q %d, want invalid_scope 400", scopes, re.ErrorCode, re.Response.StatusCode)
					}
				}
				for _, wrong := range []string{secret[:len(secret)-1], secret + "x", strings.ToUpper(secret)} {
					re := retrieveError(config(wrong))
					if re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorDescription == "" {
						t.Errorf("wrong secret: %q %d %q, want invalid_client 401", re.ErrorCode, re.Response.StatusCode, re.ErrorDescription)
					}
					if got := re.Response.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
						t.Errorf("WWW-Authenticate %q, want Basic", got)
					}
				}
				other := config(secret)
				other.ClientID = "7f000001-0000-7000-8000-000000000001"
				if re := retrieveError(other); re.ErrorCode != "invalid_client" {
					t.Errorf("unknown client: %q", re.ErrorCode)
				}
			})
		}
	})
}

// TestOAuthTokenClaims: a service token is an RFC 9068 JWT (typ at+jwt)
// verified by the JWKS; sub and client_id are the client's id, scope and
// permissions what was granted, roles empty, a sid, and nothing of a user.
func TestOAuthTokenClaims(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read", "roles:read", "audit:read")
		for _, tc := range []struct {
			scope     string // "" for none sent
			wantScope string
		}{
			{"", "audit:read roles:read users:read"},
			{"users:read roles:read", "roles:read users:read"},
			{"users:read users:read", "users:read"},
		} {
			t.Run("scope="+tc.scope, func(t *testing.T) {
				e := e.WithT(t)
				form := url.Values{"grant_type": {"client_credentials"}}
				if tc.scope != "" {
					form.Set("scope", tc.scope)
				}
				r := oaPost(e, oaForm, form.Encode(), oaBasic(id, secret)).Expect(http.StatusOK)
				oaExpectNoCache(t, r)
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				var answer map[string]any
				r.Decode(&answer)
				if got := oaKeys(answer); !slices.Equal(got, []string{"access_token", "expires_in", "scope", "token_type"}) {
					t.Errorf("answer members %v (no refresh token)", got)
				}
				if answer["token_type"] != "Bearer" || answer["expires_in"] != float64(900) || answer["scope"] != tc.wantScope {
					t.Errorf("answer %v", answer)
				}
				tok := answer["access_token"].(string)

				header := map[string]any{}
				raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
				if err == nil {
					err = json.Unmarshal(raw, &header)
				}
				if err != nil || header["typ"] != "at+jwt" || header["kid"] == nil {
					t.Errorf("JOSE header %s (%v): want typ at+jwt and a kid", raw, err)
				}
				if _, err := discoverJWKS(t, e).verify(tok, e.Clock.Now, "authsvc"); err != nil {
					t.Errorf("the service token does not verify with the JWKS: %v", err)
				}
				claims := claimsOf(t, tok)
				if claims["sub"] != id || claims["client_id"] != id || claims["scope"] != tc.wantScope {
					t.Errorf("sub %v, client_id %v, scope %v; want %s twice and %q", claims["sub"], claims["client_id"], claims["scope"], id, tc.wantScope)
				}
				if got := toStrings(claims["permissions"]); !slices.Equal(got, strings.Fields(tc.wantScope)) {
					t.Errorf("permissions %v, want %v", got, strings.Fields(tc.wantScope))
				}
				if roles, ok := claims["roles"].([]any); !ok || len(roles) != 0 {
					t.Errorf("roles %v, want []", claims["roles"])
				}
				if sid, _ := claims["sid"].(string); len(sid) != 36 {
					t.Errorf("sid %v", claims["sid"])
				}
				for _, k := range []string{"username", "email", "idp"} {
					if v, ok := claims[k]; ok {
						t.Errorf("a service token carries %s = %v", k, v)
					}
				}
				if claims["iss"] != "http://authsvc.test" || claims["exp"].(float64)-claims["iat"].(float64) != 900 {
					t.Errorf("iss %v, exp %v, iat %v", claims["iss"], claims["exp"], claims["iat"])
				}

				// Introspection and forward auth describe it the same way.
				in := introspectJSON(e, tok).Expect(http.StatusOK).JSON()
				if in["active"] != true || in["sub"] != id || in["client_id"] != id || in["scope"] != tc.wantScope ||
					!slices.Equal(toStrings(in["permissions"]), strings.Fields(tc.wantScope)) || len(in["roles"].([]any)) != 0 ||
					in["sid"] != claims["sid"] || in["username"] != "" || in["email"] != "" {
					t.Errorf("introspection %v", in)
				}
				fw := forwardAs(e, "GET", "/v1/auth/forward", tok).Expect(http.StatusOK)
				want := map[string]string{
					"X-Auth-Client-Id": id, "X-Auth-User-Id": "", "X-Auth-Username": "", "X-Auth-Email": "", "X-Auth-Roles": "",
					"X-Auth-Permissions": strings.ReplaceAll(tc.wantScope, " ", ","), "X-Auth-Session-Id": claims["sid"].(string),
				}
				for k, v := range want {
					if got := fw.Header.Get(k); got != v {
						t.Errorf("forward auth %s: %q, want %q", k, got, v)
					}
				}
				forwardAs(e, "GET", "/v1/auth/forward?role=admin", tok).ExpectProblem(http.StatusForbidden, "forbidden")
				forwardAs(e, "GET", "/v1/auth/forward?permission=users:write", tok).ExpectProblem(http.StatusForbidden, "forbidden")
			})
		}
	})
}

func oaKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestOAuthBadRequests: every malformed or refused token request is an
// RFC 6749 §5.2 error object, never a problem document or a 500.
func TestOAuthBadRequests(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read")
		basic := oaBasic(id, secret)
		grant := "grant_type=client_credentials"
		post := "grant_type=client_credentials&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret)

		var multi bytes.Buffer
		mw := multipart.NewWriter(&multi)
		_ = mw.WriteField("grant_type", "client_credentials")
		_ = mw.Close()

		cases := []struct {
			name, ct, body, auth string
			status               int
			code                 string // "" for success
		}{
			{"control: basic", oaForm, grant, basic, 200, ""},
			{"control: post", oaForm, post, "", 200, ""},
			{"control: charset", oaForm + "; charset=UTF-8", grant, basic, 200, ""},
			{"control: basic and the same client_id", oaForm, grant + "&client_id=" + id, basic, 200, ""},
			{"control: every byte percent-encoded in Basic", oaForm, grant, oaRawBasic(oaPercentAll(id), oaPercentAll(secret)), 200, ""},
			{"control: Basic not encoded (nothing to encode)", oaForm, grant, oaRawBasic(id, secret), 200, ""},

			{"JSON body", "application/json", `{"grant_type":"client_credentials"}`, basic, 400, "invalid_request"},
			{"no content type", "", grant, basic, 400, "invalid_request"},
			{"text/plain", "text/plain", grant, basic, 400, "invalid_request"},
			{"malformed content type", "application/x-www-form-urlencoded; ;;", grant, basic, 400, "invalid_request"},
			{"multipart", mw.FormDataContentType(), multi.String(), basic, 400, "invalid_request"},
			{"malformed form", oaForm, grant + "&scope=%zz", basic, 400, "invalid_request"},
			{"body over 16 KiB", oaForm, grant + "&pad=" + strings.Repeat("x", 16<<10), basic, 413, "invalid_request"},
			{"scope over 2048 characters", oaForm, grant + "&scope=" + strings.Repeat("users:read+", 200), basic, 400, "invalid_scope"},
			{"repeated grant_type", oaForm, grant + "&" + grant, basic, 400, "invalid_request"},
			{"repeated scope", oaForm, grant + "&scope=users:read&scope=users:read", basic, 400, "invalid_request"},
			{"repeated client_id", oaForm, post + "&client_id=" + id, "", 400, "invalid_request"},
			{"missing grant_type", oaForm, "scope=users:read", basic, 400, "invalid_request"},
			{"empty body", oaForm, "", basic, 400, "invalid_request"},
			{"grant_type=password", oaForm, "grant_type=password&username=root&password=x", basic, 400, "unsupported_grant_type"},
			{"grant_type=authorization_code", oaForm, "grant_type=authorization_code&code=x", basic, 400, "unsupported_grant_type"},
			{"grant_type=refresh_token", oaForm, "grant_type=refresh_token&refresh_token=x", basic, 400, "unsupported_grant_type"},
			{"grant_type in another case", oaForm, "grant_type=Client_Credentials", basic, 400, "unsupported_grant_type"},
			{"Basic and client_secret in the form", oaForm, grant + "&client_secret=" + secret, basic, 400, "invalid_request"},
			{"control: Basic and an empty client_secret, as if omitted (RFC 6749 §3.2)", oaForm, grant + "&client_secret=", basic, 200, ""},
			{"control: post and an empty scope, as if omitted", oaForm, post + "&scope=", "", 200, ""},
			{"Basic and another client_id", oaForm, grant + "&client_id=7f000001-0000-7000-8000-000000000001", basic, 400, "invalid_request"},
			{"Basic not form-encoded", oaForm, grant, oaRawBasic("%zz", secret), 400, "invalid_request"},
			{"scope not held", oaForm, grant + "&scope=users:write", basic, 400, "invalid_scope"},

			{"no credentials", oaForm, grant, "", 401, "invalid_client"},
			{"client_id without a secret", oaForm, grant + "&client_id=" + id, "", 401, "invalid_client"},
			{"client_id with an empty secret", oaForm, grant + "&client_id=" + id + "&client_secret=", "", 401, "invalid_client"},
			{"client_secret without an id", oaForm, grant + "&client_secret=" + secret, "", 401, "invalid_client"},
			{"a bearer token instead", oaForm, grant, "Bearer " + admin, 401, "invalid_client"},
			{"Basic not base64", oaForm, grant, "Basic !!!", 401, "invalid_client"},
			{"non-UUID client id in Basic", oaForm, grant, oaBasic("billing", secret), 401, "invalid_client"},
			{"non-UUID client id in the form", oaForm, "grant_type=client_credentials&client_id=billing&client_secret=" + secret, "", 401, "invalid_client"},
			{"unknown client", oaForm, grant, oaBasic("7f000001-0000-7000-8000-000000000001", secret), 401, "invalid_client"},
			{"empty secret", oaForm, grant, oaBasic(id, ""), 401, "invalid_client"},
			{"wrong secret in Basic", oaForm, grant, oaBasic(id, secret+"A"), 401, "invalid_client"},
			{"wrong secret in the form", oaForm, "grant_type=client_credentials&client_id=" + id + "&client_secret=x", "", 401, "invalid_client"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := oaPost(e, tc.ct, tc.body, tc.auth)
				if tc.code == "" {
					r.Expect(tc.status)
					oaExpectNoCache(t, r)
					if r.JSON()["access_token"] == nil {
						t.Fatalf("no access token: %s", r.Body)
					}
					return
				}
				oaExpectError(t, r, tc.status, tc.code)
			})
		}
	})
}

// TestOAuthTokenEndpointWrongMethod: another method than POST is 405 with
// Allow: POST, and an OAuth error object like every other answer of the
// token endpoint (OAuth libraries read no problem documents).
func TestOAuthTokenEndpointWrongMethod(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read")
		basic, grant := oaBasic(id, secret), "grant_type=client_credentials"
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			t.Run(method, func(t *testing.T) {
				req := httptest.NewRequest(method, "/v1/oauth/token?"+grant, nil)
				req.Header.Set("Authorization", basic)
				r := e.WithT(t).Do(req)
				if r.Status != http.StatusMethodNotAllowed {
					t.Fatalf("%s: %d %s, want 405", method, r.Status, r.Body)
				}
				if !strings.Contains(r.Header.Get("Allow"), "POST") {
					t.Errorf("Allow %q", r.Header.Get("Allow"))
				}
				oaExpectError(t, r, http.StatusMethodNotAllowed, "invalid_request")
			})
		}
	})
}

// TestOAuthFailedClientAuthRateLimited: failed client authentications at the
// token endpoint count against the address, in the budget introspection
// shares; past it, 429 rate_limited with Retry-After, even for the right
// secret, while other addresses are served.
func TestOAuthFailedClientAuthRateLimited(t *testing.T) {
	apitest.Each(t, apitest.Vars{"INTROSPECTION_FAILURE_RATE_LIMIT": "3/m"}, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read")
		from := func(ip, auth string) *apitest.Response {
			req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", oaForm)
			req.Header.Set("Authorization", auth)
			req.RemoteAddr = ip + ":40000"
			return e.Do(req)
		}
		const attacker, other = "198.51.100.7", "203.0.113.9"
		for range 5 { // successes are not failures
			from(attacker, oaBasic(id, secret)).Expect(http.StatusOK)
		}
		for i := range 3 {
			oaExpectError(t, from(attacker, oaBasic(id, fmt.Sprintf("guess-%d", i))), http.StatusUnauthorized, "invalid_client")
		}
		limited := func(r *apitest.Response) {
			t.Helper()
			oaExpectError(t, r, http.StatusTooManyRequests, "rate_limited")
			if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
				t.Fatalf("Retry-After %q, want seconds within the minute", r.Header.Get("Retry-After"))
			}
		}
		limited(from(attacker, oaBasic(id, "guess-3")))
		limited(from(attacker, oaBasic(id, secret)))
		limited(from(attacker, oaBasic("7f000001-0000-7000-8000-000000000001", "x")))
		// Elsewhere, the right secret is served.
		from(other, oaBasic(id, secret)).Expect(http.StatusOK)

		// Once the minute has passed, the address is served again.
		e.Clock.Advance(time.Minute)
		from(attacker, oaBasic(id, secret)).Expect(http.StatusOK)

		// One budget per address: wrong introspection credentials count too.
		const third = "192.0.2.55"
		oaExpectError(t, from(third, oaBasic(id, "nope")), http.StatusUnauthorized, "invalid_client")
		gatewayCall(e, third, apitest.GatewayClient, "wrong", false).ExpectProblem(http.StatusUnauthorized, "invalid_client")
		gatewayCall(e, third, apitest.GatewayClient, "wrong", false).ExpectProblem(http.StatusUnauthorized, "invalid_client")
		limited(from(third, oaBasic(id, secret)))
	})
}

// TestOAuthDisabledClient: a disabled or deleted client is invalid_client.
func TestOAuthDisabledClient(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read")
		grant := func() *apitest.Response {
			return oaPost(e, oaForm, "grant_type=client_credentials", oaBasic(id, secret))
		}
		grant().Expect(http.StatusOK)
		e.As(admin, "PATCH", "/v1/clients/"+id, map[string]any{"disabled": true}).Expect(http.StatusOK)
		oaExpectError(t, grant(), http.StatusUnauthorized, "invalid_client")
		post := "grant_type=client_credentials&client_id=" + id + "&client_secret=" + url.QueryEscape(secret)
		oaExpectError(t, oaPost(e, oaForm, post, ""), http.StatusUnauthorized, "invalid_client")
		e.As(admin, "PATCH", "/v1/clients/"+id, map[string]any{"disabled": false}).Expect(http.StatusOK)
		grant().Expect(http.StatusOK)
		e.As(admin, "DELETE", "/v1/clients/"+id, nil).Expect(http.StatusNoContent)
		oaExpectError(t, grant(), http.StatusUnauthorized, "invalid_client")
	})
}

// TestDiscoveryOAuthTokenEndpoint: both discovery documents name the token
// endpoint of the client credentials grant, and it works as they say.
func TestDiscoveryOAuthTokenEndpoint(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		id, secret := oaClient(t, e, admin, "users:read")
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			var doc struct {
				Issuer        string   `json:"issuer"`
				TokenEndpoint string   `json:"token_endpoint"`
				Grants        []string `json:"grant_types_supported"`
				AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
			}
			e.Request("GET", path, nil).Expect(http.StatusOK).Decode(&doc)
			if !strings.HasSuffix(doc.TokenEndpoint, "/v1/oauth/token") || !slices.Equal(doc.Grants, []string{"client_credentials"}) ||
				!slices.Equal(doc.AuthMethods, []string{"client_secret_basic", "client_secret_post"}) {
				t.Fatalf("%s: %+v", path, doc)
			}
			endpoint, ok := strings.CutPrefix(doc.TokenEndpoint, "http://authsvc.test")
			if !ok {
				t.Fatalf("%s: token_endpoint %q is not under PUBLIC_URL", path, doc.TokenEndpoint)
			}
			// Both methods it names work there.
			req := httptest.NewRequest("POST", endpoint, strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", oaForm)
			req.Header.Set("Authorization", oaBasic(id, secret))
			tok := e.Do(req).Expect(http.StatusOK).JSON()["access_token"].(string)
			if claimsOf(t, tok)["iss"] != doc.Issuer {
				t.Fatalf("token iss %v, issuer %q", claimsOf(t, tok)["iss"], doc.Issuer)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
			req = httptest.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", oaForm)
			e.Do(req).Expect(http.StatusOK)
		}
	})
}
