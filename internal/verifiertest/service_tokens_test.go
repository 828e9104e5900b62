package verifiertest

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/verifier"
)

// serviceClient is a service client made by the admin, with its secret.
type serviceClient struct{ id, secret string }

func newServiceClient(t *testing.T, e *apitest.Env, admin, name string, permissions ...string) serviceClient {
	t.Helper()
	r := e.As(admin, "POST", "/v1/clients", map[string]any{"name": name, "permissions": permissions}).Expect(201).JSON()
	return serviceClient{id: r["client"].(map[string]any)["id"].(string), secret: r["client_secret"].(string)}
}

// token runs the client credentials grant (RFC 6749 §4.4): a form, the
// client authenticated by HTTP Basic (id and secret form-encoded first).
func (c serviceClient) token(e *apitest.Env, form url.Values) *apitest.Response {
	e.T.Helper()
	req := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	return e.Do(req)
}

// TestServiceTokenVerifiedOffline: a service client's token (client
// credentials) verifies offline with the verifier, as a user's does, and
// reads as the client's: ClientID, Scope and Permissions as granted, the sub
// the client itself. Disabling the client refuses the token at once in
// authsvc, and in the verifier once its poller has read the revocation feed;
// another client's token stays good.
func TestServiceTokenVerifiedOffline(t *testing.T) {
	e, _, v, polls := watchedService(t, nil)
	ctx := context.Background()
	admin := e.AdminLogin().AccessToken
	svc := newServiceClient(t, e, admin, "svc", "users:read")
	other := newServiceClient(t, e, admin, "other", "users:read")

	grant := url.Values{"grant_type": {"client_credentials"}}
	var issued struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	svc.token(e, grant).Expect(200).Decode(&issued)
	if issued.TokenType != "Bearer" || issued.Scope != "users:read" {
		t.Fatalf("token response %+v", issued)
	}
	var theirs struct {
		AccessToken string `json:"access_token"`
	}
	other.token(e, grant).Expect(200).Decode(&theirs)

	c, err := v.Verify(ctx, issued.AccessToken)
	if err != nil {
		t.Fatalf("the verifier refused a fresh service token: %v", err)
	}
	if !c.IsService() || c.ClientID != svc.id || c.Subject != c.ClientID || c.Scope != "users:read" ||
		!slices.Equal(c.Permissions, []string{"users:read"}) || !c.HasPermission("users:read") {
		t.Errorf("service claims %+v; want client %s with users:read", c, svc.id)
	}
	if len(c.Roles) != 0 || c.Username != "" || c.Email != "" || c.SessionID == "" {
		t.Errorf("a service token has roles %v, username %q, email %q, sid %q; want none, and a sid", c.Roles, c.Username, c.Email, c.SessionID)
	}
	if h, _ := parts(issued.AccessToken); h["typ"] != verifier.AccessTokenType {
		t.Errorf("typ %v, want %s", h["typ"], verifier.AccessTokenType)
	}
	e.As(issued.AccessToken, "GET", "/v1/users", nil).Expect(200) // authsvc agrees

	e.As(admin, "PATCH", "/v1/clients/"+svc.id, map[string]any{"disabled": true}).Expect(200)
	e.As(issued.AccessToken, "GET", "/v1/users", nil).ExpectProblem(401, "session_revoked") // at once

	// The first feed request that starts after the change reads it; once the
	// one after it has started, the poller has applied that page.
	polls.waitPast(t, polls.count()+1)
	if _, err := v.Verify(ctx, issued.AccessToken); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("a disabled client's token: %v; want ErrRevoked within a poll", err)
	}
	if c, err := v.Verify(ctx, theirs.AccessToken); err != nil || c.ClientID != other.id {
		t.Fatalf("another client's token: %v (%+v)", err, c)
	}
	// Nor does the disabled client get a new one.
	svc.token(e, grant).Expect(401)
}
