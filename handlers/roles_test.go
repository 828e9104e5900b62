package handlers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/models"
)

type roleJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	Builtin     bool     `json:"builtin"`
}

func listRolesAs(t *testing.T, e *apitest.Env, tok string) map[string]roleJSON {
	t.Helper()
	var out struct {
		Roles []roleJSON `json:"roles"`
	}
	e.WithT(t).As(tok, "GET", "/v1/roles", nil).Expect(200).Decode(&out)
	m := map[string]roleJSON{}
	for _, r := range out.Roles {
		m[r.Name] = r
	}
	return m
}

func TestRoles(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		a := e.AdminLogin().AccessToken
		roles := listRolesAs(t, e, a)
		if len(roles) != 2 || !roles["admin"].Builtin || !roles["user"].Builtin ||
			!slices.Equal(roles["admin"].Permissions, sortedCopy(models.Permissions)) || len(roles["user"].Permissions) != 0 {
			t.Fatalf("built-in roles = %+v", roles)
		}

		var created struct{ Role roleJSON }
		e.As(a, "POST", "/v1/roles", map[string]any{"name": "master", "description": " Manages users. ",
			"permissions": []string{"users:write", "users:read", "users:read"}}).Expect(201).Decode(&created)
		if created.Role.Name != "master" || created.Role.Description != "Manages users." || created.Role.Builtin ||
			!slices.Equal(created.Role.Permissions, []string{"users:read", "users:write"}) {
			t.Fatalf("created = %+v", created.Role)
		}
		if got := listRolesAs(t, e, a)["master"]; !slices.Equal(got.Permissions, created.Role.Permissions) {
			t.Fatalf("listed master = %+v", got)
		}

		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"duplicate", "POST", "/v1/roles", map[string]any{"name": "master"}, 409, "role_exists"},
			{"duplicate built-in", "POST", "/v1/roles", map[string]any{"name": "admin"}, 409, "role_exists"},
			{"unknown permission", "POST", "/v1/roles", map[string]any{"name": "wizard", "permissions": []string{"users:read", "magic:cast"}}, 400, "unknown_permission"},
			{"uppercase name", "POST", "/v1/roles", map[string]any{"name": "Wizard"}, 400, "validation_failed"},
			{"name with spaces", "POST", "/v1/roles", map[string]any{"name": "the wizards"}, 400, "validation_failed"},
			{"missing name", "POST", "/v1/roles", map[string]any{"description": "x"}, 400, "validation_failed"},
			{"unknown field", "POST", "/v1/roles", map[string]any{"name": "wizard", "builtin": true}, 400, "validation_failed"},
			{"built-in permissions", "PATCH", "/v1/roles/user", map[string]any{"permissions": []string{"audit:read"}}, 409, "builtin_role"},
			{"built-in admin permissions", "PATCH", "/v1/roles/admin", map[string]any{"permissions": []string{}}, 409, "builtin_role"},
			{"update unknown permission", "PATCH", "/v1/roles/master", map[string]any{"permissions": []string{"root"}}, 400, "unknown_permission"},
			{"update unknown role", "PATCH", "/v1/roles/ghost", map[string]any{"description": "x"}, 404, "role_not_found"},
			{"delete built-in", "DELETE", "/v1/roles/admin", nil, 409, "builtin_role"},
			{"delete built-in user", "DELETE", "/v1/roles/user", nil, 409, "builtin_role"},
			{"delete unknown", "DELETE", "/v1/roles/ghost", nil, 404, "role_not_found"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.WithT(t).As(a, tc.method, tc.path, tc.body).ExpectProblem(tc.status, tc.code)
			})
		}
		r := e.As(a, "POST", "/v1/roles", map[string]any{"name": "wizard", "permissions": []string{"magic:cast"}}).ExpectProblem(400, "unknown_permission")
		if !strings.Contains(string(r.Body), "magic:cast") {
			t.Fatalf("unknown_permission does not name it: %s", r.Body)
		}

		// Built-in roles' descriptions may change, and sending their unchanged permissions is no change.
		var upd struct{ Role roleJSON }
		e.As(a, "PATCH", "/v1/roles/user", map[string]any{"description": "Everyone.", "permissions": []string{}}).Expect(200).Decode(&upd)
		if upd.Role.Description != "Everyone." || !upd.Role.Builtin {
			t.Fatalf("updated user role = %+v", upd.Role)
		}
	})
}

// TestRolePermissionChangeRevokesHolders: a holder's permissions follow the
// role at once, and their tokens (which carry the old claims) are revoked.
func TestRolePermissionChangeRevokesHolders(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		e.As(f.master.AccessToken, "GET", "/v1/users", nil).Expect(200)
		outsider := f.user.AccessToken

		// A description change alone revokes nothing.
		e.As(a, "PATCH", "/v1/roles/master", map[string]any{"description": "Reads users."}).Expect(200)
		e.As(f.master.AccessToken, "GET", "/v1/users", nil).Expect(200)

		var upd struct{ Role roleJSON }
		e.As(a, "PATCH", "/v1/roles/master", map[string]any{"permissions": []string{"users:read", "audit:read"}}).Expect(200).Decode(&upd)
		if !slices.Equal(upd.Role.Permissions, []string{"audit:read", "users:read"}) || upd.Role.Description != "Reads users." {
			t.Fatalf("updated = %+v", upd.Role)
		}
		e.As(f.master.AccessToken, "GET", "/v1/users", nil).ExpectProblem(401, "session_revoked")
		e.As(outsider, "GET", "/v1/me", nil).Expect(200) // not a holder

		m := e.Login("mia", apitest.StrongPassword)
		e.As(m.AccessToken, "GET", "/v1/audit", nil).Expect(200)
		e.As(m.AccessToken, "PATCH", "/v1/users/"+f.uID, map[string]any{"first_name": "X"}).ExpectProblem(403, "forbidden")
		if got := toStrings(claimsOf(t, m.AccessToken)["permissions"]); !slices.Equal(got, []string{"audit:read", "users:read"}) {
			t.Fatalf("token permissions = %v", got)
		}

		// Deleting the role takes it from its holders and ends their sessions.
		e.As(a, "DELETE", "/v1/roles/master", nil).Expect(204)
		e.As(m.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		m = e.Login("mia", apitest.StrongPassword)
		me := e.As(m.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if len(toStrings(me["roles"])) != 0 || len(toStrings(me["permissions"])) != 0 {
			t.Fatalf("after role deletion = %v", me)
		}
		if _, ok := listRolesAs(t, e, a)["master"]; ok {
			t.Fatal("master still listed")
		}
		e.As(a, "DELETE", "/v1/roles/master", nil).ExpectProblem(404, "role_not_found")
	})
}

// TestRolesNoEscalation: roles:write cannot mint permissions the caller lacks.
func TestRolesNoEscalation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		e.As(a, "POST", "/v1/roles", map[string]any{"name": "rolesmith", "permissions": []string{"roles:read", "roles:write"}}).Expect(201)
		e.As(a, "PATCH", "/v1/users/"+f.uID, map[string]any{"roles": []string{"user", "rolesmith"}}).Expect(200)
		rs := e.Login("ursula", apitest.StrongPassword).AccessToken
		e.As(rs, "POST", "/v1/roles", map[string]any{"name": "mine", "permissions": []string{"roles:read"}}).Expect(201)
		e.As(rs, "POST", "/v1/roles", map[string]any{"name": "grab", "permissions": []string{"users:write"}}).ExpectProblem(403, "forbidden")
		e.As(rs, "PATCH", "/v1/roles/rolesmith", map[string]any{"permissions": []string{"roles:read", "roles:write", "audit:read"}}).ExpectProblem(403, "forbidden")
		e.As(rs, "PATCH", "/v1/roles/master", map[string]any{"permissions": []string{}}).ExpectProblem(403, "forbidden")
		e.As(rs, "DELETE", "/v1/roles/master", nil).ExpectProblem(403, "forbidden")
		e.As(rs, "DELETE", "/v1/roles/mine", nil).Expect(204)
		if got := listRolesAs(t, e, a)["master"].Permissions; !slices.Equal(got, []string{"users:read", "users:write"}) {
			t.Fatalf("master = %v after refused changes", got)
		}
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
