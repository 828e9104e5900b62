package handlers_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/models"
)

// TestOnlyAdminsActOnAdmins: a role holding every permission is still no
// admin, and cannot take over, demote, ban, delete or watch an administrator.
// (Before: it could set an admin's password, log in as them and grant itself admin.)
func TestOnlyAdminsActOnAdmins(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		e.As(f.admin.AccessToken, "POST", "/v1/roles", map[string]any{"name": "ops", "permissions": models.Permissions}).Expect(201)
		f.createUser(t, "oscar", []string{"ops"})
		ops := e.Login("oscar", apitest.StrongPassword).AccessToken
		target := "/v1/users/" + f.adminID

		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"PATCH", target, map[string]any{"password": "taken-Over-by-ops-77!"}},
			{"PATCH", target, map[string]any{"email": "ops-inbox@example.com"}},
			{"PATCH", target, map[string]any{"status": "disabled"}},
			{"PATCH", target, map[string]any{"roles": []string{"user"}}},
			{"PATCH", target, map[string]any{"first_name": "Pwned"}},
			{"DELETE", target, nil},
			{"GET", target + "/sessions", nil},
			{"DELETE", target + "/sessions", nil},
		} {
			e.As(ops, tc.method, tc.path, tc.body).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		// Nothing changed: the admin still logs in with its password, its session lives.
		e.AdminLogin()
		e.As(f.admin.AccessToken, "GET", "/v1/me", nil).Expect(200)

		// The same role still manages ordinary users, and admins manage admins.
		e.As(ops, "PATCH", "/v1/users/"+f.uID, map[string]any{"first_name": "Ursula"}).Expect(200)
		e.As(ops, "GET", "/v1/users/"+f.uID+"/sessions", nil).Expect(200)
		second := f.createUser(t, "ada", []string{"admin", "user"})
		e.As(f.admin.AccessToken, "PATCH", "/v1/users/"+second, map[string]any{"first_name": "Ada"}).Expect(200)
	})
}

// TestLoginRacingPasswordChange: logins with the old password that race a
// password change (or an admin's disable) leave no live session behind, on
// both databases, over several rounds. A login either committed before the
// change, and the change revoked its session, or it is refused.
func TestLoginRacingPasswordChange(t *testing.T) {
	// A real hashing cost keeps the logins verifying while the change commits.
	vars := apitest.Vars{"PASSWORD_HASH_MEMORY_KIB": "8192", "PASSWORD_HASH_ITERATIONS": "2"}
	for _, how := range []string{"password", "disable"} {
		t.Run(how, func(t *testing.T) {
			apitest.Each(t, vars, func(t *testing.T, e *apitest.Env) {
				admin := e.AdminLogin().AccessToken
				for round := range 3 {
					name := "racer" + string(rune('a'+round))
					tk := e.SignupLogin(name)
					const logins = 8
					results := make([]*apitest.Response, logins)
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range logins {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							results[i] = e.Request("POST", "/v1/auth/login", map[string]any{"login": name, "password": apitest.StrongPassword})
						}()
					}
					close(start)
					if how == "password" {
						e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{
							"old_password": apitest.StrongPassword, "new_password": "fresh-Meadow-lantern-93!",
						}).Expect(200)
					} else {
						e.As(admin, "PATCH", "/v1/users/"+idOf(tk.User), map[string]any{"status": "disabled"}).Expect(200)
					}
					wg.Wait()
					for i, r := range results {
						switch r.Status {
						case 200:
							var got apitest.Tokens
							r.Decode(&got)
							e.As(got.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
							e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": got.RefreshToken}).
								ExpectProblem(401, "invalid_refresh_token")
						case 401, 403:
						case 503: // turned away by the bounded hashing: no session either
						default:
							t.Fatalf("round %d login %d: %d %s", round, i, r.Status, r.Body)
						}
					}
				}
			})
		})
	}
}

// TestResetLinksEndWithPasswordOrEmailChange: a reset link mailed before an
// admin sets the password, before the user changes it, or before the email
// changes, no longer resets anything afterwards.
func TestResetLinksEndWithPasswordOrEmailChange(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin().AccessToken
		link := func(name string) string {
			flushMail(e)
			forgotPW(e, name+"@example.com").Expect(http.StatusAccepted)
			deliverMail(e, 1)
			return lastToken(t, srv, name+"@example.com")
		}

		id := idOf(e.Signup("set-by-admin"))
		tok := link("set-by-admin")
		e.As(admin, "PATCH", "/v1/users/"+id, map[string]any{"password": "admin-Chosen-words-61!"}).Expect(200)
		resetPW(e, tok, "attacker-Chosen-words-62!").ExpectProblem(400, "invalid_token")
		e.Login("set-by-admin", "admin-Chosen-words-61!")

		id = idOf(e.Signup("email-by-admin"))
		tok = link("email-by-admin")
		e.As(admin, "PATCH", "/v1/users/"+id, map[string]any{"email": "elsewhere@example.com"}).Expect(200)
		resetPW(e, tok, "attacker-Chosen-words-62!").ExpectProblem(400, "invalid_token")

		tk := e.SignupLogin("changes-own")
		tok = link("changes-own")
		e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{
			"old_password": apitest.StrongPassword, "new_password": "own-Chosen-words-63!",
		}).Expect(200)
		resetPW(e, tok, "attacker-Chosen-words-62!").ExpectProblem(400, "invalid_token")

		tk = e.SignupLogin("moves-own")
		tok = link("moves-own")
		e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": "moved@example.com", "password": apitest.StrongPassword}).Expect(200)
		resetPW(e, tok, "attacker-Chosen-words-62!").ExpectProblem(400, "invalid_token")
	})
}
