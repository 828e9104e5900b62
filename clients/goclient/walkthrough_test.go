package goclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/authsvc/authsvc/clients/goclient"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/openapitest"
)

// TestGoClientWalkthrough runs the README's walk-through (sign up, log in,
// GET /v1/me, refresh, log out, then the refusals) against a live service
// through the generated client only, asserting its typed answers. The
// client's HTTP goes through openapitest, so every exchange is also checked
// against the document.
func TestGoClientWalkthrough(t *testing.T) {
	e := apitest.New(t, "sqlite", nil)
	srv := httptest.NewServer(e.App.Server)
	t.Cleanup(srv.Close)
	c, err := goclient.NewClientWithResponses(srv.URL, goclient.WithHTTPClient(openapitest.New(t).Client()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bearer := func(tok string) goclient.RequestEditorFn {
		return func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}
	}
	status := func(what string, got *http.Response, body []byte, want int) {
		t.Helper()
		if got.StatusCode != want {
			t.Fatalf("%s: %d, want %d: %s", what, got.StatusCode, want, body)
		}
	}
	const password = "correct-Horse-battery-42"

	first := "Ada"
	signup, err := c.SignupWithResponse(ctx, goclient.SignupJSONRequestBody{
		Email: "ada@example.com", Username: "ada", Password: password, FirstName: &first,
	})
	if err != nil {
		t.Fatal(err)
	}
	status("signup", signup.HTTPResponse, signup.Body, http.StatusCreated)
	u := signup.JSON201.User
	if *u.Username != "ada" || *u.Email != "ada@example.com" || *u.FirstName != "Ada" || !slices.Equal(*u.Roles, []string{"user"}) ||
		*u.Status != goclient.UserStatusActive || *u.EmailVerified || u.LastLoginAt != nil || u.PendingEmail != nil || *u.Mfa.Totp {
		t.Fatalf("signup answered %+v", u)
	}

	login, err := c.LoginWithResponse(ctx, goclient.LoginJSONRequestBody{Login: "ada", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	status("login", login.HTTPResponse, login.Body, http.StatusOK)
	tk := login.JSON200
	if *tk.TokenType != "Bearer" || *tk.ExpiresIn != 900 || *tk.AccessToken == "" || *tk.RefreshToken == "" ||
		*tk.User.Id != *u.Id || tk.User.LastLoginAt == nil || tk.MfaRequired != nil && *tk.MfaRequired {
		t.Fatalf("login answered %+v", tk)
	}

	me, err := c.GetMeWithResponse(ctx, bearer(*tk.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	status("GET /v1/me", me.HTTPResponse, me.Body, http.StatusOK)
	if *me.JSON200.User.Username != "ada" || !slices.Equal(*me.JSON200.Amr, []string{"pwd"}) {
		t.Fatalf("GET /v1/me answered %+v", me.JSON200)
	}

	// Refresh: a new pair for the same session; the old refresh token retires.
	refresh, err := c.RefreshWithResponse(ctx, nil, goclient.RefreshJSONRequestBody{RefreshToken: *tk.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	status("refresh", refresh.HTTPResponse, refresh.Body, http.StatusOK)
	next := refresh.JSON200
	if *next.TokenType != "Bearer" || *next.SessionId != *tk.SessionId || *next.RefreshToken == *tk.RefreshToken {
		t.Fatalf("refresh answered %+v", next)
	}

	logout, err := c.LogoutWithResponse(ctx, nil, goclient.LogoutJSONRequestBody{}, bearer(*next.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	status("logout", logout.HTTPResponse, logout.Body, http.StatusOK)
	if *logout.JSON200.Message != "Logged out." {
		t.Fatalf("logout answered %+v", logout.JSON200)
	}

	// Once the session is revoked, authsvc refuses its access token at once,
	// and its refresh token: problem JSON with a stable code.
	after, err := c.GetMeWithResponse(ctx, bearer(*next.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	status("GET /v1/me after logout", after.HTTPResponse, after.Body, http.StatusUnauthorized)
	if p := after.ApplicationproblemJSON401; p == nil || *p.Code != "session_revoked" || *p.Status != 401 {
		t.Fatalf("GET /v1/me after logout answered %s", after.Body)
	}
	again, err := c.RefreshWithResponse(ctx, nil, goclient.RefreshJSONRequestBody{RefreshToken: *next.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	status("refresh after logout", again.HTTPResponse, again.Body, http.StatusUnauthorized)
	if p := again.ApplicationproblemJSON401; p == nil || *p.Code != "invalid_refresh_token" {
		t.Fatalf("refresh after logout answered %s", again.Body)
	}

	// The signing keys a gateway verifies the tokens with.
	jwks, err := c.JwksWithResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	status("jwks", jwks.HTTPResponse, jwks.Body, http.StatusOK)
	if k := jwks.ApplicationjwkSetJSON200; k == nil || len(*k.Keys) == 0 {
		t.Fatalf("jwks answered %s", jwks.Body)
	}
}
