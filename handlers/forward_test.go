package handlers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

func forwardAs(e *apitest.Env, method, path, tok string, headers ...string) *apitest.Response {
	e.T.Helper()
	if tok != "" {
		headers = append(headers, apitest.Bearer(tok)...)
	}
	return e.Request(method, path, nil, headers...)
}

func TestForwardAuth(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		user := e.SignupLogin("ada")
		admin := e.AdminLogin()

		r := forwardAs(e, http.MethodGet, "/v1/auth/forward", user.AccessToken).Expect(http.StatusOK)
		want := map[string]string{
			"X-Auth-User-Id": idOf(user.User), "X-Auth-Username": "ada", "X-Auth-Email": "ada@example.com",
			"X-Auth-Roles": "user", "X-Auth-Permissions": "", "X-Auth-Session-Id": user.SessionID, "X-Auth-AMR": "pwd",
			"Cache-Control": "no-store",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if len(r.Body) != 0 || r.Header.Get("X-Auth-IDP") != "" {
			t.Errorf("body %q, X-Auth-IDP %q: want both empty", r.Body, r.Header.Get("X-Auth-IDP"))
		}
		// Any method, Envoy's path prefix, and a body that is never read.
		forwardAs(e, http.MethodPost, "/v1/auth/forward/api/orders?page=2", user.AccessToken).Expect(http.StatusOK)
		e.Request(http.MethodPut, "/v1/auth/forward", "{not json", apitest.Bearer(user.AccessToken)...).Expect(http.StatusOK)
		forwardAs(e, http.MethodHead, "/v1/auth/forward", user.AccessToken).Expect(http.StatusOK)

		// Without a live token: 401 with RFC 6750's challenge.
		r = forwardAs(e, http.MethodGet, "/v1/auth/forward", "").ExpectProblem(http.StatusUnauthorized, "missing_token")
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="authsvc"` {
			t.Errorf("challenge without a token %q", got)
		}
		r = forwardAs(e, http.MethodGet, "/v1/auth/forward", "not-a-token").ExpectProblem(http.StatusUnauthorized, "invalid_token")
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="authsvc", error="invalid_token"` {
			t.Errorf("challenge for a bad token %q", got)
		}

		// Requirements: role any of, permission and amr all of.
		forbidden := func(path, tok string, headers ...string) {
			t.Helper()
			r := forwardAs(e, http.MethodGet, path, tok, headers...).ExpectProblem(http.StatusForbidden, "forbidden")
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="authsvc", error="insufficient_scope"` {
				t.Errorf("%s: challenge %q", path, got)
			}
			if r.Header.Get("X-Auth-User-Id") != "" {
				t.Errorf("%s: a refusal carries identity headers", path)
			}
		}
		forbidden("/v1/auth/forward?role=admin", user.AccessToken)
		forwardAs(e, http.MethodGet, "/v1/auth/forward?role=admin,user", user.AccessToken).Expect(http.StatusOK)
		forwardAs(e, http.MethodGet, "/v1/auth/forward?role=admin&role=user", user.AccessToken).Expect(http.StatusOK)
		forwardAs(e, http.MethodGet, "/v1/auth/forward?role=admin", admin.AccessToken).Expect(http.StatusOK)
		forwardAs(e, http.MethodGet, "/v1/auth/forward?permission=users:read,audit:read", admin.AccessToken).Expect(http.StatusOK)
		forbidden("/v1/auth/forward?permission=users:read", user.AccessToken)
		forbidden("/v1/auth/forward?amr=mfa", admin.AccessToken)
		forwardAs(e, http.MethodGet, "/v1/auth/forward?amr=pwd", admin.AccessToken).Expect(http.StatusOK)
		// A gateway's header requirement; what a client adds in the query cannot widen it.
		forbidden("/v1/auth/forward/api", user.AccessToken, "X-Auth-Require-Role", "admin")
		forbidden("/v1/auth/forward/api?role=user", user.AccessToken, "X-Auth-Require-Role", "admin")
		forwardAs(e, http.MethodGet, "/v1/auth/forward/api", admin.AccessToken, "X-Auth-Require-Role", "admin").Expect(http.StatusOK)

		// Never rate limited for a valid token.
		for range 200 {
			forwardAs(e, http.MethodGet, "/v1/auth/forward", user.AccessToken).Expect(http.StatusOK)
		}
		// An account that is not active has no live token, even when its
		// sessions were not revoked (written behind the service's back here):
		// 401 as at introspection, not 403.
		other := e.SignupLogin("grace")
		disabled := models.StatusDisabled
		testdb.Must(t, e.App.Store.UpdateUser(context.Background(), mustUUID(t, idOf(other.User)), e.Clock.Now(), store.UserUpdate{Status: &disabled}))
		forwardAs(e, http.MethodGet, "/v1/auth/forward", other.AccessToken).ExpectProblem(http.StatusUnauthorized, "session_revoked")

		// Revocation at once.
		e.As(user.AccessToken, http.MethodPost, "/v1/auth/logout", nil).Expect(http.StatusOK)
		forwardAs(e, http.MethodGet, "/v1/auth/forward", user.AccessToken).ExpectProblem(http.StatusUnauthorized, "session_revoked")
	})
}
