package verifiertest

import (
	"context"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/verifier"
)

// TestEveryRevocationPathReachesTheVerifier: a token whose session ends by any
// of the server's revocation paths is refused by the verifier after its next
// poll, while a live token of someone else (and, for the paths that end one
// session only, another session of the same user) is still accepted.
func TestEveryRevocationPathReachesTheVerifier(t *testing.T) {
	e, _, v := service(t, nil)
	ctx := context.Background()
	admin := e.AdminLogin()
	e.As(admin.AccessToken, "POST", "/v1/roles", map[string]any{"name": "reader", "permissions": []string{"users:read"}}).Expect(201)
	bystander := e.SignupLogin("bystander")

	for i, tc := range []struct {
		path    string
		revoke  func(user apitest.Tokens)
		oneOnly bool // ends the one session, not every session of the user
	}{
		{"logout", func(u apitest.Tokens) { e.As(u.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200) }, true},
		{"logout all", func(u apitest.Tokens) {
			e.As(u.AccessToken, "POST", "/v1/auth/logout", map[string]any{"all": true}).Expect(200)
		}, false},
		{"password change", func(u apitest.Tokens) {
			e.As(u.AccessToken, "POST", "/v1/me/password", map[string]any{
				"old_password": apitest.StrongPassword, "new_password": "fresh-Meadow-lantern-93!",
			}).Expect(200)
		}, false},
		{"role change", func(u apitest.Tokens) {
			e.As(admin.AccessToken, "PATCH", "/v1/users/"+u.User["id"].(string), map[string]any{"roles": []string{"user", "reader"}}).Expect(200)
		}, false},
		{"disable", func(u apitest.Tokens) {
			e.As(admin.AccessToken, "PATCH", "/v1/users/"+u.User["id"].(string), map[string]any{"status": "disabled"}).Expect(200)
		}, false},
		{"admin revoke", func(u apitest.Tokens) {
			e.As(admin.AccessToken, "DELETE", "/v1/users/"+u.User["id"].(string)+"/sessions", nil).Expect(204)
		}, false},
		{"delete", func(u apitest.Tokens) {
			e.As(admin.AccessToken, "DELETE", "/v1/users/"+u.User["id"].(string), nil).Expect(204)
		}, false},
		{"refresh token reuse", func(u apitest.Tokens) {
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": u.RefreshToken}).Expect(200)
			e.Clock.Advance(11 * time.Second) // past REFRESH_REUSE_GRACE
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": u.RefreshToken}).
				ExpectProblem(401, "refresh_token_reused")
		}, true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			name := "user" + string(rune('a'+i))
			u := e.SignupLogin(name)
			second := e.Login(name, apitest.StrongPassword)
			for _, tok := range []string{u.AccessToken, second.AccessToken, bystander.AccessToken} {
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Fatalf("before: %v", err)
				}
			}
			tc.revoke(u)
			if err := v.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expectErr(t, verr(v, u.AccessToken), verifier.ErrRevoked)
			if _, err := v.Verify(ctx, bystander.AccessToken); err != nil {
				t.Fatalf("someone else's token: %v", err)
			}
			if err := verr(v, second.AccessToken); tc.oneOnly && err != nil {
				t.Fatalf("the user's other session: %v", err)
			} else if !tc.oneOnly {
				expectErr(t, err, verifier.ErrRevoked)
			}
		})
	}

	// Wiping every user revokes everyone, the bystander too.
	e.As(admin.AccessToken, "DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "DELETE ALL USERS"}).Expect(204)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	expectErr(t, verr(v, bystander.AccessToken), verifier.ErrRevoked)
}

func verr(v *verifier.Verifier, tok string) error {
	_, err := v.Verify(context.Background(), tok)
	return err
}
