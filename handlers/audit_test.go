package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
)

// auditEvents lists every audit event matching the query (all pages), newest first.
func auditEvents(t *testing.T, e *apitest.Env, tok, query string) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	for range 1000 {
		var page struct {
			Events     []map[string]any `json:"events"`
			NextCursor string           `json:"next_cursor"`
		}
		e.WithT(t).As(tok, "GET", "/v1/audit?limit=200&"+query+"&cursor="+url.QueryEscape(cursor), nil).Expect(http.StatusOK).Decode(&page)
		all = append(all, page.Events...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatal("audit pagination does not end")
	return nil
}

func types(events []map[string]any) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev["type"].(string)
	}
	return out
}

// TestAuditTrailOfAdminActions: each administrative action leaves its event,
// with actor, subject and details, and no secret.
func TestAuditTrailOfAdminActions(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		id := f.createUser(t, "eve", nil)
		e.As(a, "PATCH", "/v1/users/"+id, map[string]any{"roles": []string{"user", "master"}, "password": "Quiet-meadow-falcon-42"}).Expect(200)
		e.As(a, "PATCH", "/v1/roles/master", map[string]any{"permissions": []string{"users:read"}}).Expect(200)
		e.As(a, "DELETE", "/v1/users/"+id+"/sessions", nil).Expect(204)
		e.As(a, "DELETE", "/v1/roles/master", nil).Expect(204)
		e.As(a, "DELETE", "/v1/users/"+id, nil).Expect(204)

		about := auditEvents(t, e, a, "user_id="+id)
		want := []string{"user_deleted", "role_changed", "sessions_revoked", "role_changed", "user_updated", "user_created"}
		if got := types(about); !slices.Equal(got, want) {
			t.Fatalf("events about the user: %v, want %v", got, want)
		}
		for _, ev := range about {
			if ev["actor_id"] != f.adminID || ev["user_id"] != id || ev["id"] == "" || ev["created_at"] == "" {
				t.Fatalf("event = %v", ev)
			}
			if _, ok := ev["details"].(map[string]any); !ok {
				t.Fatalf("details of %v is not an object", ev)
			}
		}
		changed := about[4]["details"].(map[string]any)["changed"]
		if !slices.Equal(toStrings(changed), []string{"password", "roles"}) {
			t.Fatalf("user_updated changed = %v", changed)
		}
		roleDeleted := about[1]["details"].(map[string]any)
		if !slices.Equal(toStrings(roleDeleted["removed"]), []string{"master"}) || roleDeleted["reason"] != "role_deleted" {
			t.Fatalf("role_changed by role deletion: %v", roleDeleted)
		}
		for _, typ := range []string{"role_created", "role_updated", "role_deleted"} {
			evs := auditEvents(t, e, a, "type="+typ)
			if len(evs) == 0 || evs[0]["details"].(map[string]any)["role"] != "master" {
				t.Fatalf("%s events: %v", typ, evs)
			}
		}
		upd := auditEvents(t, e, a, "type=role_updated")[0]["details"].(map[string]any)
		if !slices.Equal(toStrings(upd["removed"]), []string{"users:write"}) || upd["sessions_revoked"] == nil {
			t.Fatalf("role_updated details = %v", upd)
		}
		for _, ev := range auditEvents(t, e, a, "") {
			b, _ := json.Marshal(ev)
			for _, secret := range []string{"Quiet-meadow-falcon-42", apitest.StrongPassword, apitest.AdminPassword, "argon2"} {
				if strings.Contains(string(b), secret) {
					t.Fatalf("a secret in the audit trail: %s", b)
				}
			}
		}
	})
}

// TestAuditListing: filters, newest-first keyset pages, and bad parameters.
func TestAuditListing(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		f := newAdmFixture(t, e)
		a := f.admin.AccessToken
		// Below the lockout threshold and the rate limit.
		for range 4 {
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "ursula", "password": "wrong-password-x"}).ExpectProblem(401, "invalid_credentials")
		}
		for i := range 10 {
			f.createUser(t, fmt.Sprintf("filler%d", i), nil)
		}
		all := auditEvents(t, e, a, "")
		if len(all) < 20 {
			t.Fatalf("only %d events", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i]["id"].(string) >= all[i-1]["id"].(string) {
				t.Fatalf("not newest first at %d: %s then %s", i, all[i-1]["id"], all[i]["id"])
			}
		}
		// Small pages see the same events, each once.
		var paged []string
		cursor := ""
		for {
			var page struct {
				Events     []map[string]any `json:"events"`
				NextCursor string           `json:"next_cursor"`
			}
			e.As(a, "GET", "/v1/audit?limit=7&cursor="+url.QueryEscape(cursor), nil).Expect(200).Decode(&page)
			if len(page.Events) > 7 {
				t.Fatalf("page of %d", len(page.Events))
			}
			for _, ev := range page.Events {
				paged = append(paged, ev["id"].(string))
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(paged) != len(all) {
			t.Fatalf("paged %d events, listed %d", len(paged), len(all))
		}
		for i := range paged {
			if paged[i] != all[i]["id"] {
				t.Fatalf("page walk differs at %d", i)
			}
		}

		failed := auditEvents(t, e, a, "type=login_failed&user_id="+f.uID)
		if len(failed) != 4 {
			t.Fatalf("%d login_failed events for ursula, want 4", len(failed))
		}
		for _, ev := range failed {
			if ev["actor_id"] != nil || ev["user_id"] != f.uID || ev["ip"] == "" {
				t.Fatalf("login_failed event = %v", ev)
			}
		}
		if n := len(auditEvents(t, e, a, "user_id="+uuid.NewString())); n != 0 {
			t.Fatalf("%d events for an unknown user", n)
		}
		if n := len(auditEvents(t, e, a, "type=no_such_type")); n != 0 {
			t.Fatalf("%d events of an unknown type", n)
		}
		bad := []struct{ query, code string }{
			{"user_id=not-a-uuid", "validation_failed"},
			{"limit=0", "validation_failed"},
			{"limit=1000", "validation_failed"},
			{"cursor=garbage", "invalid_cursor"},
		}
		for _, tc := range bad {
			e.As(a, "GET", "/v1/audit?"+tc.query, nil).ExpectProblem(400, tc.code)
		}
		// A users cursor is not an audit cursor.
		var users struct {
			NextCursor string `json:"next_cursor"`
		}
		e.As(a, "GET", "/v1/users?limit=1", nil).Expect(200).Decode(&users)
		e.As(a, "GET", "/v1/audit?cursor="+users.NextCursor, nil).ExpectProblem(400, "invalid_cursor")
	})
}
