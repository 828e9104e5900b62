package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
)

// TestAuthorizationTable: every operation of the policy, asked through the
// router by every kind of principal: anonymous, a user with no permission, a
// user holding exactly one permission (each in turn), an admin, and a user
// acting on their own id. Each cell is the status the contract gives.
func TestAuthorizationTable(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		tokens := map[string]string{"admin": admin}
		for _, p := range models.Permissions {
			role := "only-" + strings.ReplaceAll(p, ":", "-")
			e.As(admin, "POST", "/v1/roles", map[string]any{"name": role, "permissions": []string{p}}).Expect(http.StatusCreated)
			name := strings.ReplaceAll(role, "-", "_")
			e.As(admin, "POST", "/v1/users", map[string]any{
				"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "roles": []string{role},
			}).Expect(http.StatusCreated)
			tokens[p] = e.Login(name, apitest.StrongPassword).AccessToken
		}
		self := e.SignupLogin("self")
		tokens["user"], tokens["self"] = e.SignupLogin("plain").AccessToken, self.AccessToken
		victim := idOf(e.Signup("victim"))
		selfID := idOf(self.User)

		n := 0
		fresh := func() string { n++; return fmt.Sprintf("fresh%d", n) }
		freshUser := func() string { return idOf(e.Signup(fresh())) }
		freshRole := func() string {
			name := fresh()
			e.As(admin, "POST", "/v1/roles", map[string]any{"name": name}).Expect(http.StatusCreated)
			return name
		}
		freshClient := func() string {
			r := e.As(admin, "POST", "/v1/clients", map[string]any{"name": fresh(), "permissions": []string{}}).Expect(http.StatusCreated)
			return r.JSON()["client"].(map[string]any)["id"].(string)
		}
		freshWebhook := func() string {
			r := e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/" + fresh(), "events": []string{"*"}}).Expect(http.StatusCreated)
			return r.JSON()["webhook"].(map[string]any)["id"].(string)
		}
		// target is the user an operation acts on: the victim, or for "self" their own id.
		type request struct {
			method string
			path   func(target string) string
			body   func() any
		}
		requests := map[policy.Operation]request{
			policy.ListUsers:  {"GET", func(string) string { return "/v1/users" }, nil},
			policy.CountUsers: {"GET", func(string) string { return "/v1/users/count" }, nil},
			policy.ReadUser:   {"GET", func(id string) string { return "/v1/users/" + id }, nil},
			policy.CreateUser: {"POST", func(string) string { return "/v1/users" }, func() any {
				u := fresh()
				return map[string]any{"email": u + "@example.com", "username": u, "password": apitest.StrongPassword}
			}},
			policy.UpdateUser: {"PATCH", func(id string) string { return "/v1/users/" + id }, func() any { return map[string]any{"first_name": "Changed"} }},
			policy.DeleteUser: {"DELETE", func(id string) string {
				if id == victim {
					return "/v1/users/" + freshUser()
				}
				return "/v1/users/" + id
			}, nil},
			// A wrong password: the admin's row shows the request was let through, and nobody is wiped.
			policy.DeleteAllUsers:     {"DELETE", func(string) string { return "/v1/users" }, func() any { return map[string]any{"password": "not-the-Password-1", "confirm": "DELETE ALL USERS"} }},
			policy.ResetUserFactors:   {"DELETE", func(id string) string { return "/v1/users/" + id + "/mfa" }, nil},
			policy.ListUserSessions:   {"GET", func(id string) string { return "/v1/users/" + id + "/sessions" }, nil},
			policy.RevokeUserSessions: {"DELETE", func(id string) string { return "/v1/users/" + id + "/sessions" }, nil},
			policy.ListRoles:          {"GET", func(string) string { return "/v1/roles" }, nil},
			policy.CreateRole:         {"POST", func(string) string { return "/v1/roles" }, func() any { return map[string]any{"name": fresh()} }},
			policy.UpdateRole:         {"PATCH", func(string) string { return "/v1/roles/" + freshRole() }, func() any { return map[string]any{"description": "Changed."} }},
			policy.DeleteRole:         {"DELETE", func(string) string { return "/v1/roles/" + freshRole() }, nil},
			policy.ReadAudit:          {"GET", func(string) string { return "/v1/audit" }, nil},
			policy.ListClients:        {"GET", func(string) string { return "/v1/clients" }, nil},
			policy.ReadClient:         {"GET", func(string) string { return "/v1/clients/" + freshClient() }, nil},
			policy.CreateClient: {"POST", func(string) string { return "/v1/clients" }, func() any {
				return map[string]any{"name": fresh(), "permissions": []string{}}
			}},
			policy.UpdateClient:       {"PATCH", func(string) string { return "/v1/clients/" + freshClient() }, func() any { return map[string]any{"description": "Changed."} }},
			policy.RotateClientSecret: {"POST", func(string) string { return "/v1/clients/" + freshClient() + "/secret" }, nil},
			policy.DeleteClient:       {"DELETE", func(string) string { return "/v1/clients/" + freshClient() }, nil},
			policy.ListUserTokens:     {"GET", func(id string) string { return "/v1/users/" + id + "/tokens" }, nil},
			policy.RevokeUserToken:    {"DELETE", func(id string) string { return "/v1/users/" + id + "/tokens" }, nil},
			policy.InviteUser:         {"POST", func(id string) string { return "/v1/users/" + id + "/invite" }, nil},
			policy.ListWebhooks:       {"GET", func(string) string { return "/v1/webhooks" }, nil},
			policy.ReadWebhook:        {"GET", func(string) string { return "/v1/webhooks/" + freshWebhook() }, nil},
			policy.CreateWebhook: {"POST", func(string) string { return "/v1/webhooks" }, func() any {
				return map[string]any{"url": "https://hooks.example.com/" + fresh(), "events": []string{"user.created"}}
			}},
			policy.UpdateWebhook: {"PATCH", func(string) string { return "/v1/webhooks/" + freshWebhook() }, func() any { return map[string]any{"description": "Changed."} }},
			policy.DeleteWebhook: {"DELETE", func(string) string { return "/v1/webhooks/" + freshWebhook() }, nil},
			policy.TestWebhook:   {"POST", func(string) string { return "/v1/webhooks/" + freshWebhook() + "/test" }, nil},
			policy.ImportUsers: {"POST", func(string) string { return "/v1/users/import" }, func() any {
				u := fresh()
				return map[string]any{"users": []map[string]any{{"email": u + "@example.com", "username": u, "password_hash": "$2a$04$gVDWfIhN5GMaKX3.lo6rZe.93IPJgwUq7XSLIQ.q1Fq6mlbE9im62"}}}
			}},
		}
		// allowed is the status when the operation is let through; granted the
		// principals that are let through besides the admin.
		type row struct {
			allowed int
			granted []string
		}
		all := append([]string{"user", "self"}, models.Permissions...)
		rows := map[policy.Operation]row{
			policy.ListUsers:          {200, []string{models.PermUsersRead}},
			policy.CountUsers:         {200, all},
			policy.ReadUser:           {200, all},
			policy.CreateUser:         {201, []string{models.PermUsersWrite}},
			policy.UpdateUser:         {200, []string{models.PermUsersWrite}},
			policy.DeleteUser:         {204, []string{models.PermUsersWrite}},
			policy.DeleteAllUsers:     {401, nil}, // the admin's wrong password; users:write alone is not enough
			policy.ResetUserFactors:   {204, []string{models.PermUsersWrite}},
			policy.ListUserSessions:   {200, []string{models.PermSessionsRead}},
			policy.RevokeUserSessions: {204, []string{models.PermSessionsWrite}},
			policy.ListRoles:          {200, []string{models.PermRolesRead}},
			policy.CreateRole:         {201, []string{models.PermRolesWrite}},
			policy.UpdateRole:         {200, []string{models.PermRolesWrite}},
			policy.DeleteRole:         {204, []string{models.PermRolesWrite}},
			policy.ReadAudit:          {200, []string{models.PermAuditRead}},
			policy.ListClients:        {200, []string{models.PermClientsRead}},
			policy.ReadClient:         {200, []string{models.PermClientsRead}},
			policy.CreateClient:       {201, []string{models.PermClientsWrite}},
			policy.UpdateClient:       {200, []string{models.PermClientsWrite}},
			policy.RotateClientSecret: {200, []string{models.PermClientsWrite}},
			policy.DeleteClient:       {204, []string{models.PermClientsWrite}},
			policy.ListUserTokens:     {200, []string{models.PermUsersRead}},
			policy.RevokeUserToken:    {204, []string{models.PermUsersWrite}},
			policy.InviteUser:         {409, []string{models.PermUsersWrite}}, // the victim has a password: already_accepted
			policy.ListWebhooks:       {200, []string{models.PermWebhooksRead}},
			policy.ReadWebhook:        {200, []string{models.PermWebhooksRead}},
			policy.CreateWebhook:      {201, []string{models.PermWebhooksWrite}},
			policy.UpdateWebhook:      {200, []string{models.PermWebhooksWrite}},
			policy.DeleteWebhook:      {204, []string{models.PermWebhooksWrite}},
			policy.TestWebhook:        {202, []string{models.PermWebhooksWrite}},
			policy.ImportUsers:        {200, []string{models.PermUsersWrite}},
		}
		for _, op := range policy.Operations() {
			req, ok := requests[op]
			want, ok2 := rows[op]
			if !ok || !ok2 {
				t.Fatalf("operation %q has no row in this table", op)
			}
			t.Run(string(op), func(t *testing.T) {
				e := e.WithT(t)
				for _, who := range append([]string{"anonymous", "admin"}, all...) {
					target := victim
					if who == "self" {
						target = selfID
					}
					var body any
					if req.body != nil {
						body = req.body()
					}
					var r *apitest.Response
					if who == "anonymous" {
						r = e.Request(req.method, req.path(target), body)
					} else {
						r = e.As(tokens[who], req.method, req.path(target), body)
					}
					status := http.StatusForbidden
					switch {
					case who == "anonymous":
						status = http.StatusUnauthorized
					case who == "admin" || contains(want.granted, who):
						status = want.allowed
					}
					if r.Status != status {
						t.Errorf("%s: status %d, want %d; body %s", who, r.Status, status, r.Body)
					}
				}
			})
		}

		// What a reader sees of a user: the full record for themself and with
		// users:read, the public fields for anyone else.
		for who, full := range map[string]bool{"user": false, models.PermUsersWrite: false, models.PermUsersRead: true, "admin": true} {
			u := e.As(tokens[who], "GET", "/v1/users/"+victim, nil).Expect(200).JSON()["user"].(map[string]any)
			if _, hasEmail := u["email"]; hasEmail != full {
				t.Errorf("%s reading another user: email shown %v; want %v", who, hasEmail, full)
			}
		}
		if _, ok := e.As(tokens["self"], "GET", "/v1/users/"+selfID, nil).Expect(200).JSON()["user"].(map[string]any)["email"]; !ok {
			t.Error("a user reading themself does not see their full record")
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
