package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// admFixture is a service with one caller of each kind: the bootstrap admin,
// a "master" (custom role with users:read and users:write) and a plain user.
type admFixture struct {
	e                      *apitest.Env
	admin, master, user    apitest.Tokens
	adminID, masterID, uID string
}

func newAdmFixture(t *testing.T, e *apitest.Env) *admFixture {
	t.Helper()
	f := &admFixture{e: e}
	f.admin = e.AdminLogin()
	f.adminID = f.admin.User["id"].(string)
	e.As(f.admin.AccessToken, "POST", "/v1/roles", map[string]any{
		"name": "master", "description": "Manages users.", "permissions": []string{"users:read", "users:write"},
	}).Expect(http.StatusCreated)
	f.masterID = f.createUser(t, "mia", []string{"master"})
	f.master = e.Login("mia", apitest.StrongPassword)
	f.user = e.SignupLogin("ursula")
	f.uID = f.user.User["id"].(string)
	return f
}

// createUser creates an active user through the API as the admin and returns its id.
func (f *admFixture) createUser(t *testing.T, username string, roles []string) string {
	t.Helper()
	body := map[string]any{"email": username + "@example.com", "username": username, "password": apitest.StrongPassword}
	if roles != nil {
		body["roles"] = roles
	}
	var out struct{ User map[string]any }
	f.e.WithT(t).As(f.admin.AccessToken, "POST", "/v1/users", body).Expect(http.StatusCreated).Decode(&out)
	return out.User["id"].(string)
}

func (f *admFixture) token(who string) string {
	switch who {
	case "admin":
		return f.admin.AccessToken
	case "master":
		return f.master.AccessToken
	case "user":
		return f.user.AccessToken
	}
	return ""
}

// TestAdminPermissionMatrix: every administrative endpoint × every kind of caller.
func TestAdminPermissionMatrix(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		victim := f.createUser(t, "victim", nil)
		n := 0
		fresh := func() string { n++; return f.createUser(t, fmt.Sprintf("fresh%d", n), nil) }
		newUser := func() any {
			n++
			return map[string]any{"email": fmt.Sprintf("new%d@example.com", n), "username": fmt.Sprintf("new%d", n), "password": apitest.StrongPassword}
		}
		newRole := func() any { n++; return map[string]any{"name": fmt.Sprintf("role%d", n), "permissions": []string{}} }
		tempRole := func() string {
			n++
			name := fmt.Sprintf("temp%d", n)
			e.As(f.admin.AccessToken, "POST", "/v1/roles", map[string]any{"name": name}).Expect(201)
			return name
		}
		type want struct{ admin, master, user, none int }
		cases := []struct {
			name, method string
			path         func() string
			body         func() any
			want         want
		}{
			{"list users", "GET", func() string { return "/v1/users" }, nil, want{200, 200, 403, 401}},
			{"count users", "GET", func() string { return "/v1/users/count" }, nil, want{200, 200, 200, 401}},
			{"get user", "GET", func() string { return "/v1/users/" + victim }, nil, want{200, 200, 200, 401}},
			{"create user", "POST", func() string { return "/v1/users" }, newUser, want{201, 201, 403, 401}},
			{"update user", "PATCH", func() string { return "/v1/users/" + victim }, func() any { return map[string]any{"first_name": "Vic"} }, want{200, 200, 403, 401}},
			{"delete user", "DELETE", func() string { return "/v1/users/" + fresh() }, nil, want{204, 204, 403, 401}},
			{"list sessions (sessions:read)", "GET", func() string { return "/v1/users/" + victim + "/sessions" }, nil, want{200, 403, 403, 401}},
			{"revoke sessions (sessions:write)", "DELETE", func() string { return "/v1/users/" + victim + "/sessions" }, nil, want{204, 403, 403, 401}},
			{"delete all users (refused before the body is read)", "DELETE", func() string { return "/v1/users" }, func() any { return map[string]any{} }, want{400, 403, 403, 401}},
			{"list roles", "GET", func() string { return "/v1/roles" }, nil, want{200, 403, 403, 401}},
			{"create role", "POST", func() string { return "/v1/roles" }, newRole, want{201, 403, 403, 401}},
			{"update role", "PATCH", func() string { return "/v1/roles/master" }, func() any { return map[string]any{"description": "Changed."} }, want{200, 403, 403, 401}},
			{"delete role", "DELETE", func() string { return "/v1/roles/" + tempRole() }, nil, want{204, 403, 403, 401}},
			{"audit", "GET", func() string { return "/v1/audit" }, nil, want{200, 403, 403, 401}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				for _, who := range []string{"admin", "master", "user", "none"} {
					status := map[string]int{"admin": tc.want.admin, "master": tc.want.master, "user": tc.want.user, "none": tc.want.none}[who]
					var body any
					if tc.body != nil {
						body = tc.body()
					}
					var r *apitest.Response
					if who == "none" {
						r = e.Request(tc.method, tc.path(), body)
					} else {
						r = e.As(f.token(who), tc.method, tc.path(), body)
					}
					switch status {
					case 401:
						r.ExpectProblem(401, "missing_token")
					case 403:
						r.ExpectProblem(403, "forbidden")
					case 400:
						r.ExpectProblem(400, "validation_failed")
					default:
						if r.Status != status {
							t.Fatalf("%s: status %d, want %d; body %s", who, r.Status, status, r.Body)
						}
					}
				}
			})
		}
	})
}

// TestUserIDOR: a user reaches another user's record only through its public
// fields, and cannot change, delete or inspect it.
func TestUserIDOR(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		other := f.createUser(t, "bob", nil)
		u := f.user.AccessToken

		pub := e.As(u, "GET", "/v1/users/"+other, nil).Expect(200).JSON()["user"].(map[string]any)
		if len(pub) != 4 || pub["id"] != other || pub["username"] != "bob" {
			t.Fatalf("public view = %v; want exactly id, username, first_name, last_name", pub)
		}
		for _, k := range []string{"first_name", "last_name"} {
			if _, ok := pub[k]; !ok {
				t.Fatalf("public view lacks %s: %v", k, pub)
			}
		}
		self := e.As(u, "GET", "/v1/users/"+f.uID, nil).Expect(200).JSON()["user"].(map[string]any)
		if self["email"] != "ursula@example.com" || self["status"] != "active" {
			t.Fatalf("own record = %v; want the full record", self)
		}
		full := e.As(f.master.AccessToken, "GET", "/v1/users/"+other, nil).Expect(200).JSON()["user"].(map[string]any)
		if full["email"] != "bob@example.com" {
			t.Fatalf("users:read sees %v; want the full record", full)
		}

		e.As(u, "PATCH", "/v1/users/"+other, map[string]any{"first_name": "Pwned"}).ExpectProblem(403, "forbidden")
		e.As(u, "PATCH", "/v1/users/"+f.uID, map[string]any{"roles": []string{"admin"}}).ExpectProblem(403, "forbidden")
		e.As(u, "DELETE", "/v1/users/"+other, nil).ExpectProblem(403, "forbidden")
		e.As(u, "GET", "/v1/users/"+other+"/sessions", nil).ExpectProblem(403, "forbidden")
		e.As(u, "DELETE", "/v1/users/"+other+"/sessions", nil).ExpectProblem(403, "forbidden")
		if got := e.As(f.admin.AccessToken, "GET", "/v1/users/"+other, nil).Expect(200).JSON()["user"].(map[string]any)["first_name"]; got != "" {
			t.Fatalf("first_name = %v after a refused change", got)
		}

		// Unknown and malformed ids name no user.
		e.As(u, "GET", "/v1/users/"+uuid.NewString(), nil).ExpectProblem(404, "user_not_found")
		e.As(u, "GET", "/v1/users/not-a-uuid", nil).ExpectProblem(404, "user_not_found")
		e.As(f.admin.AccessToken, "PATCH", "/v1/users/"+uuid.NewString(), map[string]any{"first_name": "X"}).ExpectProblem(404, "user_not_found")
		e.As(f.admin.AccessToken, "DELETE", "/v1/users/"+uuid.NewString(), nil).ExpectProblem(404, "user_not_found")
		e.As(f.admin.AccessToken, "GET", "/v1/users/"+uuid.NewString()+"/sessions", nil).ExpectProblem(404, "user_not_found")
		e.As(f.admin.AccessToken, "DELETE", "/v1/users/"+uuid.NewString()+"/sessions", nil).ExpectProblem(404, "user_not_found")
	})
}

// TestNoEscalationThroughUsersWrite: users:write alone cannot reach admin rights:
// not by granting admin (or a role with permissions the caller lacks), nor by
// taking over or demoting a more privileged account.
func TestNoEscalationThroughUsersWrite(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		m := f.master.AccessToken
		e.As(f.admin.AccessToken, "POST", "/v1/roles", map[string]any{"name": "auditor", "permissions": []string{"audit:read"}}).Expect(201)
		body := func(name string, roles ...string) map[string]any {
			return map[string]any{"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "roles": roles}
		}
		e.As(m, "POST", "/v1/users", body("evil1", "admin")).ExpectProblem(403, "forbidden")
		e.As(m, "POST", "/v1/users", body("evil2", "auditor")).ExpectProblem(403, "forbidden")
		e.As(m, "PATCH", "/v1/users/"+f.masterID, map[string]any{"roles": []string{"master", "admin"}}).ExpectProblem(403, "self_service_required")
		e.As(m, "PATCH", "/v1/users/"+f.adminID, map[string]any{"password": "a-Brand-new-passphrase-77"}).ExpectProblem(403, "forbidden")
		e.As(m, "PATCH", "/v1/users/"+f.adminID, map[string]any{"email": "mine@example.com"}).ExpectProblem(403, "forbidden")
		e.As(m, "DELETE", "/v1/users/"+f.adminID, nil).ExpectProblem(403, "forbidden")
		e.As(m, "DELETE", "/v1/users/"+f.adminID+"/sessions", nil).ExpectProblem(403, "forbidden")
		// Within its own permissions the master works normally.
		u := e.As(m, "POST", "/v1/users", body("helper", "master", "user")).Expect(201).JSON()["user"].(map[string]any)
		if !slices.Equal(toStrings(u["roles"]), []string{"master", "user"}) {
			t.Fatalf("roles = %v", u["roles"])
		}
		e.As(f.admin.AccessToken, "GET", "/v1/me", nil).Expect(200) // the admin's session survived all that
	})
}

func TestCreateUser(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		r := e.As(a, "POST", "/v1/users", map[string]any{
			"email": "Carol@Example.COM", "username": "carol", "password": apitest.StrongPassword,
			"first_name": " Carol ", "last_name": "Shaw", "roles": []string{"master", "user", "master"},
			"resources": []string{"assistant-2", "assistant-1"}, "status": "pending",
		}).Expect(201)
		u := r.JSON()["user"].(map[string]any)
		if u["email"] != "Carol@example.com" || u["first_name"] != "Carol" || u["status"] != "pending" ||
			!slices.Equal(toStrings(u["roles"]), []string{"master", "user"}) ||
			!slices.Equal(toStrings(u["resources"]), []string{"assistant-1", "assistant-2"}) ||
			!slices.Equal(toStrings(u["permissions"]), []string{"users:read", "users:write"}) {
			t.Fatalf("created = %v", u)
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "carol", "password": apitest.StrongPassword}).ExpectProblem(403, "account_pending")

		def := e.As(a, "POST", "/v1/users", map[string]any{"email": "dave@example.com", "username": "dave", "password": apitest.StrongPassword}).Expect(201).JSON()["user"].(map[string]any)
		if def["status"] != "active" || !slices.Equal(toStrings(def["roles"]), []string{"user"}) {
			t.Fatalf("defaults = %v; want active, [user]", def)
		}
		// The resource grants travel in the access token.
		e.As(a, "POST", "/v1/users", map[string]any{"email": "erin@example.com", "username": "erin", "password": apitest.StrongPassword, "resources": []string{"assistant-9"}}).Expect(201)
		tk := e.Login("erin", apitest.StrongPassword)
		if got := toStrings(claimsOf(t, tk.AccessToken)["resources"]); !slices.Equal(got, []string{"assistant-9"}) {
			t.Fatalf("token resources = %v", got)
		}

		long := make([]string, 101)
		for i := range long {
			long[i] = fmt.Sprint("r", i)
		}
		cases := []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"duplicate email", map[string]any{"email": "CAROL@example.com", "username": "carol2", "password": apitest.StrongPassword}, 409, "email_taken"},
			{"duplicate username", map[string]any{"email": "c2@example.com", "username": "Carol", "password": apitest.StrongPassword}, 409, "username_taken"},
			{"unknown role", map[string]any{"email": "x@example.com", "username": "xavier", "password": apitest.StrongPassword, "roles": []string{"user", "wizard"}}, 400, "unknown_role"},
			{"weak password", map[string]any{"email": "x@example.com", "username": "xavier", "password": "password1"}, 400, "validation_failed"},
			{"bad status", map[string]any{"email": "x@example.com", "username": "xavier", "password": apitest.StrongPassword, "status": "locked"}, 400, "validation_failed"},
			{"too many resources", map[string]any{"email": "x@example.com", "username": "xavier", "password": apitest.StrongPassword, "resources": long}, 400, "validation_failed"},
			{"unknown field", map[string]any{"email": "x@example.com", "username": "xavier", "password": apitest.StrongPassword, "is_admin": true}, 400, "validation_failed"},
			{"missing email", map[string]any{"username": "xavier", "password": apitest.StrongPassword}, 400, "validation_failed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.WithT(t).As(a, "POST", "/v1/users", tc.body).ExpectProblem(tc.status, tc.code)
			})
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "xavier", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
	})
}

func TestUpdateUser(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		path := "/v1/users/" + f.uID

		// Profile fields change without ending sessions.
		u := e.As(a, "PATCH", path, map[string]any{"first_name": "Ursula", "last_name": "Franklin", "resources": []string{"assistant-7"}}).Expect(200).JSON()["user"].(map[string]any)
		if u["first_name"] != "Ursula" || u["last_name"] != "Franklin" || !slices.Equal(toStrings(u["resources"]), []string{"assistant-7"}) {
			t.Fatalf("updated = %v", u)
		}
		e.As(f.user.AccessToken, "GET", "/v1/me", nil).Expect(200)

		// A role change revokes the user's sessions; the new token carries the new grants.
		u = e.As(a, "PATCH", path, map[string]any{"roles": []string{"user", "master"}}).Expect(200).JSON()["user"].(map[string]any)
		if !slices.Equal(toStrings(u["roles"]), []string{"master", "user"}) || !slices.Equal(toStrings(u["permissions"]), []string{"users:read", "users:write"}) {
			t.Fatalf("after role change = %v", u)
		}
		e.As(f.user.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		tk := e.Login("ursula", apitest.StrongPassword)
		e.As(tk.AccessToken, "GET", "/v1/users", nil).Expect(200)
		if got := toStrings(claimsOf(t, tk.AccessToken)["roles"]); !slices.Equal(got, []string{"master", "user"}) {
			t.Fatalf("token roles = %v", got)
		}

		// A password change revokes sessions too, and the new password works.
		e.As(a, "PATCH", path, map[string]any{"password": "weak"}).ExpectProblem(400, "validation_failed")
		e.As(a, "PATCH", path, map[string]any{"password": "Another-lantern-orchid-93"}).Expect(200)
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		tk = e.Login("ursula", "Another-lantern-orchid-93")

		// Disabled bans at once; active lets the user back in.
		u = e.As(a, "PATCH", path, map[string]any{"status": "disabled"}).Expect(200).JSON()["user"].(map[string]any)
		if u["status"] != "disabled" {
			t.Fatalf("status = %v", u["status"])
		}
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ursula", "password": "Another-lantern-orchid-93"}).ExpectProblem(403, "account_disabled")
		e.As(a, "PATCH", path, map[string]any{"status": "active"}).Expect(200)
		e.Login("ursula", "Another-lantern-orchid-93")

		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"email taken", map[string]any{"email": "MIA@example.com"}, 409, "email_taken"},
			{"username taken", map[string]any{"username": "Mia"}, 409, "username_taken"},
			{"unknown role", map[string]any{"roles": []string{"wizard"}}, 400, "unknown_role"},
			{"pending is not settable", map[string]any{"status": "pending"}, 400, "validation_failed"},
			{"locked is not settable", map[string]any{"status": "locked"}, 400, "validation_failed"},
			{"bad email", map[string]any{"email": ""}, 400, "validation_failed"},
			{"unknown field", map[string]any{"is_admin": true}, 400, "validation_failed"},
			{"resource too long", map[string]any{"resources": []string{string(make([]byte, 129))}}, 400, "validation_failed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.WithT(t).As(a, "PATCH", path, tc.body).ExpectProblem(tc.status, tc.code)
			})
		}
	})
}

// TestApproveAndUnlock: status active approves a pending account and clears a lockout.
func TestApproveAndUnlock(t *testing.T) {
	apitest.Each(t, apitest.Vars{"SIGNUP_REQUIRES_APPROVAL": "true"}, func(t *testing.T, e *apitest.Env) {
		a := e.AdminLogin().AccessToken
		id := e.Signup("paula")["id"].(string)
		got := e.As(a, "GET", "/v1/users?status=pending", nil).Expect(200).JSON()["users"].([]any)
		if len(got) != 1 || got[0].(map[string]any)["id"] != id {
			t.Fatalf("pending users = %v", got)
		}
		e.As(a, "PATCH", "/v1/users/"+id, map[string]any{"status": "active"}).Expect(200)
		e.Login("paula", apitest.StrongPassword)

		// Lock the account as the login throttle would, then unlock it.
		uid := uuid.MustParse(id)
		until := e.Clock.Now().Add(time.Hour)
		testdb.Must(t, e.App.Store.UpdateUser(context.Background(), uid, e.Clock.Now(), store.UserUpdate{FailedLogins: new(5), LockCount: new(1), LockedUntil: store.Value(until)}))
		u := e.As(a, "GET", "/v1/users/"+id, nil).Expect(200).JSON()["user"].(map[string]any)
		if u["status"] != "locked" {
			t.Fatalf("status = %v, want locked", u["status"])
		}
		locked := e.As(a, "GET", "/v1/users?status=locked", nil).Expect(200).JSON()["users"].([]any)
		active := e.As(a, "GET", "/v1/users?status=active&q=paula", nil).Expect(200).JSON()["users"].([]any)
		if len(locked) != 1 || len(active) != 0 {
			t.Fatalf("locked %v, active %v", locked, active)
		}
		u = e.As(a, "PATCH", "/v1/users/"+id, map[string]any{"status": "active"}).Expect(200).JSON()["user"].(map[string]any)
		if u["status"] != "active" {
			t.Fatalf("status after unlock = %v", u["status"])
		}
		acct, err := e.App.Store.UserByID(context.Background(), uid)
		testdb.Must(t, err)
		if acct.FailedLogins != 0 || acct.LockCount != 0 || acct.LockedUntil != nil {
			t.Fatalf("lockout state after unlock: %d %d %v", acct.FailedLogins, acct.LockCount, acct.LockedUntil)
		}
	})
}

// TestDemotedAdminLosesRightsAtOnce: the old token of a demoted admin is refused at once.
func TestDemotedAdminLosesRightsAtOnce(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		id := f.createUser(t, "ada", []string{"admin", "user"})
		ada := e.Login("ada", apitest.StrongPassword)
		e.As(ada.AccessToken, "GET", "/v1/audit", nil).Expect(200)
		e.As(f.admin.AccessToken, "PATCH", "/v1/users/"+id, map[string]any{"roles": []string{"user"}}).Expect(200)
		e.As(ada.AccessToken, "GET", "/v1/audit", nil).ExpectProblem(401, "session_revoked")
		e.As(ada.AccessToken, "GET", "/v1/users", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": ada.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
		again := e.Login("ada", apitest.StrongPassword)
		e.As(again.AccessToken, "GET", "/v1/audit", nil).ExpectProblem(403, "forbidden")
	})
}

func TestLastAdminProtection(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		self := "/v1/users/" + f.adminID
		// One's own roles and status are not changed here at all (self-service
		// rule); the last-admin guard is raced in TestLastAdminRace.
		e.As(a, "PATCH", self, map[string]any{"roles": []string{"user"}}).ExpectProblem(403, "self_service_required")
		e.As(a, "PATCH", self, map[string]any{"status": "disabled"}).ExpectProblem(403, "self_service_required")
		e.As(a, "DELETE", self, nil).ExpectProblem(409, "cannot_delete_self")
		// Nothing changed: the admin still works with the same token.
		me := e.As(a, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if !slices.Contains(toStrings(me["roles"]), "admin") || me["status"] != "active" {
			t.Fatalf("admin after refused changes = %v", me)
		}

		// With a second admin, the second may demote the first; then the second
		// is the last, and cannot leave.
		second := f.createUser(t, "ada", []string{"admin"})
		ada := e.Login("ada", apitest.StrongPassword).AccessToken
		e.As(ada, "PATCH", self, map[string]any{"roles": []string{"user"}}).Expect(200)
		e.As(ada, "DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(409, "last_admin")
		e.As(ada, "DELETE", "/v1/users/"+second, nil).ExpectProblem(409, "cannot_delete_self")
		// A pending admin is no active admin; once approved, the last may leave.
		pending := e.As(ada, "POST", "/v1/users", map[string]any{"email": "p@example.com", "username": "padmin", "password": apitest.StrongPassword, "roles": []string{"admin"}, "status": "pending"}).Expect(201).JSON()["user"].(map[string]any)["id"].(string)
		e.As(ada, "DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(409, "last_admin")
		e.As(ada, "PATCH", "/v1/users/"+pending, map[string]any{"status": "active"}).Expect(200)
		e.As(ada, "DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).Expect(204)
	})
}

// TestLastAdminRace: several admins demote, disable or delete themselves at
// the same moment; exactly one is refused with last_admin and stays the one
// active admin. GuardLastAdmin checks the count after the change, so without
// LockAdmins two demotions on PostgreSQL each count the other's admin as still
// there (neither has committed) and both commit. SQLite serialises writers
// anyway, so only PostgreSQL can catch a missing lock.
//
// To make that reliable rather than lucky, the PostgreSQL database gets a
// deferred constraint trigger that sleeps at COMMIT of any transaction that
// removes an admin grant or changes a status: the window between a demotion's
// check and its commit becomes 150 ms, so every demotion started together
// passes its check before any commits, unless the lock makes them queue.
func TestLastAdminRace(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		if e.App.Store.Dialect() == store.Postgres {
			slowAdminCommits(t, e, 150*time.Millisecond)
		}
		survivor := f.admin
		const admins, rounds = 5, 3
		for round := range rounds {
			// The survivor of the last round and four new admins.
			tokens := []apitest.Tokens{survivor}
			for i := range admins - 1 {
				name := fmt.Sprintf("adm%d_%d", round, i)
				f.admin = survivor // createUser acts as f.admin
				f.createUser(t, name, []string{"admin", "user"})
				tokens = append(tokens, e.Login(name, apitest.StrongPassword))
			}
			if n, err := e.App.Store.CountActiveAdmins(context.Background()); err != nil || n != admins {
				t.Fatalf("round %d: %d active admins before the race (%v), want %d", round, n, err, admins)
			}

			type result struct {
				status int
				code   string
			}
			results := make([]result, len(tokens))
			var inFlight, maxInFlight atomic.Int32
			var ready, wg sync.WaitGroup
			start := make(chan struct{})
			for i, tk := range tokens {
				// Each admin leaves at once. (Demoting oneself through
				// PATCH /v1/users/{id} is refused outright: self-service rule.)
				method, path, body := "DELETE", "/v1/me", any(map[string]any{"password": passwordOf(tk)})
				ready.Add(1)
				wg.Go(func() {
					ready.Done()
					<-start
					cur := inFlight.Add(1)
					for m := maxInFlight.Load(); cur > m && !maxInFlight.CompareAndSwap(m, cur); m = maxInFlight.Load() {
					}
					r := e.As(tk.AccessToken, method, path, body)
					inFlight.Add(-1)
					var p struct{ Code string }
					if r.Status >= 400 {
						r.Decode(&p)
					}
					results[i] = result{r.Status, p.Code}
				})
			}
			ready.Wait() // every goroutine is parked on start: they leave together
			close(start)
			wg.Wait()

			// Only PostgreSQL's slowed commits make them overlap for sure; SQLite
			// serialises writers, and fast requests may finish one by one.
			if e.App.Store.Dialect() == store.Postgres && maxInFlight.Load() < 2 {
				t.Fatalf("round %d: requests did not overlap (max in flight %d)", round, maxInFlight.Load())
			}
			refused := -1
			for i, r := range results {
				switch {
				case r.status == http.StatusOK || r.status == http.StatusNoContent:
				case r.status == http.StatusConflict && r.code == "last_admin":
					if refused >= 0 {
						t.Fatalf("round %d: two demotions refused: %+v", round, results)
					}
					refused = i
				default:
					t.Fatalf("round %d: request %d: %d %q (all: %+v)", round, i, r.status, r.code, results)
				}
			}
			n, err := e.App.Store.CountActiveAdmins(context.Background())
			testdb.Must(t, err)
			if refused < 0 || n != 1 {
				t.Fatalf("round %d: %d active admins remain, refusals at %d: %+v", round, n, refused, results)
			}
			// The refused admin is the one left, and still works.
			survivor = tokens[refused]
			me := e.As(survivor.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK).JSON()["user"].(map[string]any)
			if !slices.Contains(toStrings(me["roles"]), "admin") || me["status"] != "active" {
				t.Fatalf("round %d: the refused admin is now %v", round, me)
			}
		}
	})
}

// passwordOf is the password of a test account by its login response.
func passwordOf(tk apitest.Tokens) string {
	if tk.User["username"] == "root" {
		return apitest.AdminPassword
	}
	return apitest.StrongPassword
}

// slowAdminCommits installs, on the test's PostgreSQL database, deferred
// constraint triggers that sleep at COMMIT of every transaction that deletes an
// admin grant (a demotion, or a deletion by cascade) or writes a user's status.
func slowAdminCommits(t *testing.T, e *apitest.Env, d time.Duration) {
	t.Helper()
	db, err := e.App.Store.SQL()
	testdb.Must(t, err)
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_sleep(%f); RETURN NULL; END $$`, d.Seconds()),
		`CREATE CONSTRAINT TRIGGER test_slow_demotion AFTER DELETE ON user_roles
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.role_name = 'admin')
			EXECUTE FUNCTION test_slow_commit()`,
		`CREATE CONSTRAINT TRIGGER test_slow_status AFTER UPDATE OF status ON users
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
			EXECUTE FUNCTION test_slow_commit()`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("install the slow-commit trigger: %v", err)
		}
	}
}

// TestAdminsDemotingEachOther: the two last admins racing to demote or delete each
// other: one always remains; the loser's requests fail cleanly, never with 500.
func TestAdminsDemotingEachOther(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		second := f.createUser(t, "ada", []string{"admin", "user"})
		tokens := map[string]string{f.adminID: f.admin.AccessToken, second: e.Login("ada", apitest.StrongPassword).AccessToken}
		other := map[string]string{f.adminID: second, second: f.adminID}
		ids := []string{f.adminID, second}
		const n = 20
		statuses := make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				me := ids[i%2]
				method, body := "PATCH", any(map[string]any{"roles": []string{"user"}})
				if i%4 >= 2 {
					method, body = "DELETE", nil
				}
				<-start
				r := e.As(tokens[me], method, "/v1/users/"+other[me], body)
				var p struct{ Code string }
				if r.Status >= 400 {
					r.Decode(&p)
				}
				statuses[i] = fmt.Sprintf("%d %s", r.Status, p.Code)
			}()
		}
		close(start)
		wg.Wait()
		allowed := []string{"200 ", "204 ", "409 last_admin", "401 session_revoked", "403 forbidden", "404 user_not_found"}
		for i, s := range statuses {
			if !slices.Contains(allowed, s) {
				t.Fatalf("request %d: %s", i, s)
			}
		}
		n2, err := e.App.Store.CountActiveAdmins(context.Background())
		testdb.Must(t, err)
		if n2 != 1 {
			t.Fatalf("%d active admins remain, want 1 (statuses %v)", n2, statuses)
		}
	})
}

func TestDeleteUser(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		id := f.createUser(t, "gone", nil)
		tk := e.Login("gone", apitest.StrongPassword)
		e.As(f.admin.AccessToken, "DELETE", "/v1/users/"+id, nil).Expect(204)
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(f.admin.AccessToken, "GET", "/v1/users/"+id, nil).ExpectProblem(404, "user_not_found")
		e.As(f.admin.AccessToken, "DELETE", "/v1/users/"+id, nil).ExpectProblem(404, "user_not_found")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "gone", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		e.As(f.master.AccessToken, "DELETE", "/v1/users/"+f.masterID, nil).ExpectProblem(409, "cannot_delete_self")
	})
}

func TestUserSessionsAdmin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		// sessions:read and sessions:write gate these endpoints; users:* do not.
		e.As(f.master.AccessToken, "GET", "/v1/users/"+f.uID+"/sessions", nil).ExpectProblem(403, "forbidden")
		e.As(f.admin.AccessToken, "PATCH", "/v1/roles/master", map[string]any{
			"permissions": []string{"users:read", "users:write", "sessions:read", "sessions:write"},
		}).Expect(200)
		f.master = e.Login("mia", apitest.StrongPassword) // the role change ended the old session
		second := e.Login("ursula", apitest.StrongPassword)
		path := "/v1/users/" + f.uID + "/sessions"
		var out struct {
			Sessions []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			} `json:"sessions"`
		}
		e.As(f.master.AccessToken, "GET", path, nil).Expect(200).Decode(&out)
		got := []string{}
		for _, s := range out.Sessions {
			got = append(got, s.ID)
			if s.Current {
				t.Fatalf("another user's session marked current: %+v", s)
			}
		}
		slices.Sort(got)
		want := []string{f.user.SessionID, second.SessionID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("sessions %v, want %v", got, want)
		}
		e.As(f.admin.AccessToken, "DELETE", path, nil).Expect(204)
		e.As(f.user.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(second.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		if list := e.As(f.admin.AccessToken, "GET", path, nil).Expect(200).JSON()["sessions"].([]any); len(list) != 0 {
			t.Fatalf("sessions after revoke = %v", list)
		}
		events := auditEvents(t, e, f.admin.AccessToken, "type=sessions_revoked&user_id="+f.uID)
		if len(events) != 1 || events[0]["actor_id"] != f.adminID || events[0]["details"].(map[string]any)["sessions"] != float64(2) {
			t.Fatalf("sessions_revoked events = %v", events)
		}
	})
}

func TestDeleteAllUsers(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		// users:write without the admin role is not enough.
		e.As(f.master.AccessToken, "DELETE", "/v1/users", map[string]any{"password": apitest.StrongPassword, "confirm": "DELETE ALL USERS"}).ExpectProblem(403, "forbidden")
		e.As(a, "DELETE", "/v1/users", map[string]any{"password": "not-my-password", "confirm": "DELETE ALL USERS"}).ExpectProblem(401, "invalid_credentials")
		e.As(a, "DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "delete all users"}).ExpectProblem(400, "validation_failed")
		e.As(a, "DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword}).ExpectProblem(400, "validation_failed")
		e.As(a, "GET", "/v1/users/count", nil).Expect(200)

		e.As(a, "DELETE", "/v1/users", map[string]any{"password": apitest.AdminPassword, "confirm": "DELETE ALL USERS"}).Expect(204)
		ctx := context.Background()
		n, err := e.App.Store.CountUsers(ctx)
		testdb.Must(t, err)
		if n != 0 {
			t.Fatalf("%d users remain", n)
		}
		e.As(a, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(f.user.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")

		// The next start recreates the bootstrap admin, who finds the wipe in the audit trail.
		e2 := apitest.NewOn(t, e.URL, nil)
		root := e2.AdminLogin().AccessToken
		events := auditEvents(t, e2, root, "type=users_wiped")
		if len(events) != 1 || events[0]["actor_id"] != f.adminID || events[0]["details"].(map[string]any)["users"] != float64(3) {
			t.Fatalf("users_wiped events = %v", events)
		}
	})
}

// TestListUsersPagination walks every page while users are being created, and
// sees each pre-existing user exactly once, in id order.
func TestListUsersPagination(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		a := e.AdminLogin().AccessToken
		ctx := context.Background()
		now := e.Clock.Now()
		want := map[string]bool{}
		for i := range 250 {
			u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: fmt.Sprintf("p%03d@example.com", i), Username: fmt.Sprintf("p%03d", i),
				PasswordHash: "x", Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}
			testdb.Must(t, e.App.Store.CreateUser(ctx, u, []string{models.RoleUser}, nil))
			want[u.ID.String()] = true
		}
		var all []map[string]any
		stop, tenInserted := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		var inserted atomic.Int32
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: fmt.Sprintf("c%d-%d@example.com", g, i), Username: fmt.Sprintf("c%d-%d", g, i),
						PasswordHash: "x", Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}
					if err := e.App.Store.CreateUser(ctx, u, nil, nil); err != nil {
						t.Errorf("concurrent insert: %v", err)
						once.Do(func() { close(tenInserted) })
						return
					}
					if inserted.Add(1) == 10 {
						once.Do(func() { close(tenInserted) })
					}
				}
			}()
		}
		cursor, pages := "", 0
		for {
			var page struct {
				Users      []map[string]any `json:"users"`
				NextCursor *string          `json:"next_cursor"`
			}
			e.As(a, "GET", "/v1/users?limit=37&cursor="+url.QueryEscape(cursor), nil).Expect(200).Decode(&page)
			pages++
			if len(page.Users) > 37 {
				t.Fatalf("page of %d", len(page.Users))
			}
			all = append(all, page.Users...)
			if page.NextCursor == nil {
				break
			}
			if *page.NextCursor == "" {
				t.Fatal("next_cursor present but empty")
			}
			cursor = *page.NextCursor
			switch pages {
			case 3:
				<-tenInserted // make sure inserts land in the middle of the walk
			case 5:
				close(stop) // and stop them, so the walk can reach the end
				wg.Wait()
			}
			if pages > 1000 {
				t.Fatal("the walk does not end")
			}
		}
		seen := map[string]int{}
		prev := ""
		for _, u := range all {
			id := u["id"].(string)
			seen[id]++
			if id <= prev {
				t.Fatalf("ids out of order: %s after %s", id, prev)
			}
			prev = id
		}
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("user %s seen %d times", id, seen[id])
			}
		}
		if inserted.Load() == 0 {
			t.Fatal("no user was inserted during the walk")
		}
		t.Logf("%d pages, %d users listed, %d inserted concurrently", pages, len(all), inserted.Load())
	})
}

func TestListUsersFilters(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		e.As(a, "POST", "/v1/users", map[string]any{"email": "grace.hopper@navy.example", "username": "amazing_grace", "password": apitest.StrongPassword,
			"first_name": "Grace", "last_name": "Hopper"}).Expect(201)
		e.As(a, "POST", "/v1/users", map[string]any{"email": "percent@example.com", "username": "pct", "password": apitest.StrongPassword,
			"first_name": "100%", "status": "disabled"}).Expect(201)
		e.As(a, "POST", "/v1/users", map[string]any{"email": "hold@example.com", "username": "holdon", "password": apitest.StrongPassword, "status": "pending"}).Expect(201)
		names := func(query string) []string {
			var page struct {
				Users []struct{ Username string } `json:"users"`
			}
			e.As(a, "GET", "/v1/users?"+query, nil).Expect(200).Decode(&page)
			out := []string{}
			for _, u := range page.Users {
				out = append(out, u.Username)
			}
			slices.Sort(out)
			return out
		}
		cases := []struct {
			query string
			want  []string
		}{
			{"q=GRACE", []string{"amazing_grace"}},
			{"q=hopp", []string{"amazing_grace"}},
			{"q=navy.example", []string{"amazing_grace"}},
			{"q=" + url.QueryEscape("_"), []string{"amazing_grace"}}, // a literal underscore, not "any character"
			{"q=" + url.QueryEscape("%"), []string{"pct"}},
			{"q=" + url.QueryEscape("0%"), []string{"pct"}},
			{"q=nobody-at-all", []string{}},
			{"role=master", []string{"mia"}},
			{"role=admin", []string{"root"}},
			{"role=no-such-role", []string{}},
			{"status=disabled", []string{"pct"}},
			{"status=pending", []string{"holdon"}},
			{"status=locked", []string{}},
			{"status=active&role=user", []string{"amazing_grace", "root", "ursula"}},
			{"q=ursula&status=active", []string{"ursula"}},
			{"q=ursula&status=disabled", []string{}},
		}
		for _, tc := range cases {
			if got := names(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
			}
		}

		bad := []struct{ query, code string }{
			{"limit=0", "validation_failed"},
			{"limit=201", "validation_failed"},
			{"limit=-3", "validation_failed"},
			{"limit=ten", "validation_failed"},
			{"status=asleep", "validation_failed"},
			{"cursor=not-a-cursor", "invalid_cursor"},
			{"cursor=" + url.QueryEscape("AAAA"), "invalid_cursor"},
		}
		for _, tc := range bad {
			e.As(a, "GET", "/v1/users?"+tc.query, nil).ExpectProblem(400, tc.code)
		}
		// A cursor altered by one bit, or taken from another list, is refused.
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		e.As(a, "GET", "/v1/users?limit=1", nil).Expect(200).Decode(&page)
		e.As(a, "GET", "/v1/users?limit=1&cursor="+page.NextCursor, nil).Expect(200)
		tampered := []byte(page.NextCursor)
		tampered[5] ^= 1
		if tampered[5] == '-'^1 || tampered[5] == '_'^1 {
			tampered[5] = 'A'
		}
		e.As(a, "GET", "/v1/users?cursor="+string(tampered), nil).ExpectProblem(400, "invalid_cursor")
		var audit struct {
			NextCursor string `json:"next_cursor"`
		}
		e.As(a, "GET", "/v1/audit?limit=1", nil).Expect(200).Decode(&audit)
		e.As(a, "GET", "/v1/users?cursor="+audit.NextCursor, nil).ExpectProblem(400, "invalid_cursor")

		count := e.As(f.user.AccessToken, "GET", "/v1/users/count", nil).Expect(200).JSON()
		if count["count"] != float64(6) {
			t.Fatalf("count = %v, want 6", count)
		}
	})
}

// TestUserDirectoryPublic: with USER_DIRECTORY_PUBLIC any signed-in user lists
// active accounts' public fields, and cannot search or filter by private ones.
func TestUserDirectoryPublic(t *testing.T) {
	apitest.Each(t, apitest.Vars{"USER_DIRECTORY_PUBLIC": "true"}, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		e.As(f.admin.AccessToken, "POST", "/v1/users", map[string]any{"email": "banned@example.com", "username": "banned", "password": apitest.StrongPassword, "status": "disabled"}).Expect(201)
		u := f.user.AccessToken
		var page struct {
			Users []map[string]any `json:"users"`
		}
		e.As(u, "GET", "/v1/users", nil).Expect(200).Decode(&page)
		got := []string{}
		for _, x := range page.Users {
			if len(x) != 4 || x["email"] != nil || x["roles"] != nil {
				t.Fatalf("directory entry %v; want public fields only", x)
			}
			got = append(got, x["username"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"mia", "root", "ursula"}) {
			t.Fatalf("directory = %v", got)
		}
		if n := len(e.As(u, "GET", "/v1/users?q=example.com", nil).Expect(200).JSON()["users"].([]any)); n != 0 {
			t.Fatalf("directory search matched %d users by email", n)
		}
		if n := len(e.As(u, "GET", "/v1/users?q=MI", nil).Expect(200).JSON()["users"].([]any)); n != 1 {
			t.Fatalf("directory search by username matched %d users", n)
		}
		e.As(u, "GET", "/v1/users?role=admin", nil).ExpectProblem(403, "forbidden")
		e.As(u, "GET", "/v1/users?status=disabled", nil).ExpectProblem(403, "forbidden")
		// Readers still see everything.
		if n := len(e.As(f.master.AccessToken, "GET", "/v1/users", nil).Expect(200).JSON()["users"].([]any)); n != 4 {
			t.Fatalf("users:read lists %d users, want 4", n)
		}
		e.Request("GET", "/v1/users", nil).ExpectProblem(401, "missing_token")
	})
}

// claimsOf decodes an access token's payload without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	claims := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	testdb.Must(t, err)
	return claims
}
