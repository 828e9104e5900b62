package handlers_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

func TestUpdateMe(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Signup("taken")
		tk := e.SignupLogin("ada")
		patch := func(body any) *apitest.Response {
			return e.As(tk.AccessToken, "PATCH", "/v1/me", body)
		}
		before := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)

		e.Clock.Advance(time.Minute)
		// A new email needs the current password.
		patch(map[string]any{"email": "ada.king@example.org"}).ExpectProblem(401, "invalid_credentials")
		patch(map[string]any{"email": "ada.king@example.org", "password": "wrong-Password-123"}).ExpectProblem(401, "invalid_credentials")
		u := patch(map[string]any{"first_name": " Augusta ", "last_name": "Lovelace", "email": " Ada.King@Example.ORG ", "password": apitest.StrongPassword}).
			Expect(200).JSON()["user"].(map[string]any)
		if u["first_name"] != "Augusta" || u["last_name"] != "Lovelace" || u["email"] != "Ada.King@example.org" || u["username"] != "ada" {
			t.Fatalf("after PATCH: %v", u)
		}
		if u["updated_at"] == before["updated_at"] || u["created_at"] != before["created_at"] || u["id"] != before["id"] {
			t.Errorf("timestamps/id after PATCH: %v (before %v)", u, before)
		}
		// The new address logs in, the old one no longer does.
		e.Login("ada.king@example.org", apitest.StrongPassword)
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada@example.com", "password": apitest.StrongPassword}).
			ExpectProblem(401, "invalid_credentials")

		// Absent is not empty: an empty first name clears it, the rest stays.
		u = patch(map[string]any{"first_name": ""}).Expect(200).JSON()["user"].(map[string]any)
		if u["first_name"] != "" || u["last_name"] != "Lovelace" || u["email"] != "Ada.King@example.org" {
			t.Fatalf("after clearing first_name: %v", u)
		}
		u = patch(map[string]any{"username": "countess"}).Expect(200).JSON()["user"].(map[string]any)
		if u["username"] != "countess" {
			t.Fatalf("username = %v", u["username"])
		}
		e.Login("countess", apitest.StrongPassword)
		// Changing only the case of one's own address is not a conflict with oneself.
		patch(map[string]any{"email": "ada.king@example.org", "password": apitest.StrongPassword}).Expect(200)

		// One event per real change, naming the fields and never their values.
		evs := auditRowsOf(t, e, "user_updated")
		if len(evs) != 4 {
			t.Fatalf("%d user_updated events; want 4: %+v", len(evs), evs)
		}
		if !strings.Contains(evs[0].Details, `["email","first_name","last_name"]`) || evs[0].UserID != u["id"] || evs[0].ActorID != u["id"] {
			t.Errorf("first user_updated event %+v", evs[0])
		}
		for _, ev := range evs {
			if strings.Contains(ev.Details, "Lovelace") || strings.Contains(ev.Details, "countess") || strings.Contains(ev.Details, "@") {
				t.Errorf("audit details hold a value: %s", ev.Details)
			}
		}
		// Nothing to change: 200 with the profile, nothing written.
		u = e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		e.Clock.Advance(time.Minute)
		same := patch(map[string]any{"username": "countess", "last_name": "Lovelace"}).Expect(200).JSON()["user"].(map[string]any)
		empty := patch(map[string]any{}).Expect(200).JSON()["user"].(map[string]any)
		if same["updated_at"] != u["updated_at"] || empty["updated_at"] != u["updated_at"] {
			t.Errorf("a no-op PATCH moved updated_at: %v, %v; want %v", same["updated_at"], empty["updated_at"], u["updated_at"])
		}
		if n := len(auditRowsOf(t, e, "user_updated")); n != 4 {
			t.Errorf("%d user_updated events after no-op PATCHes; want 4", n)
		}

		cases := []struct {
			name        string
			body        any
			status      int
			code, field string
		}{
			{"email taken, other case", map[string]any{"email": "TAKEN@example.com", "password": apitest.StrongPassword}, 409, "email_taken", ""},
			{"username taken, other case", map[string]any{"username": "Taken"}, 409, "username_taken", ""},
			{"roles", map[string]any{"roles": []string{"admin"}}, 400, "validation_failed", "roles"},
			{"status", map[string]any{"status": "active"}, 400, "validation_failed", "status"},
			{"resources", map[string]any{"resources": []string{"x"}}, 400, "validation_failed", "resources"},
			{"valid field beside a smuggled one", map[string]any{"first_name": "Eve", "roles": []string{"admin"}}, 400, "validation_failed", "roles"},
			{"bad email", map[string]any{"email": "not-an-email"}, 400, "validation_failed", "email"},
			{"empty email", map[string]any{"email": ""}, 400, "validation_failed", "email"},
			{"bad username", map[string]any{"username": "a b"}, 400, "validation_failed", "username"},
			{"long name", map[string]any{"last_name": strings.Repeat("x", 101)}, 400, "validation_failed", "last_name"},
			{"wrong type", map[string]any{"first_name": 3}, 400, "validation_failed", "first_name"},
			{"malformed", `{"first_name":`, 400, "malformed_json", ""},
			{"no body", "", 400, "malformed_json", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.As(tk.AccessToken, "PATCH", "/v1/me", tc.body).ExpectProblem(tc.status, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, "")
				}
			})
		}
		// Nothing of the refused requests was applied.
		after := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if after["first_name"] != "" || after["username"] != "countess" || len(after["roles"].([]any)) != 1 {
			t.Errorf("refused PATCHes changed the profile: %v", after)
		}
		e.Request("PATCH", "/v1/me", map[string]any{"first_name": "x"}).ExpectProblem(401, "missing_token")
	})
}

func TestDeleteMe(t *testing.T) {
	apitest.Each(t, apitest.Vars{"ADMIN_SIGNUP_KEY": "second-admin-key-0123456789"}, func(t *testing.T, e *apitest.Env) {
		s1 := e.SignupLogin("leaving")
		s2 := e.Login("leaving", apitest.StrongPassword)
		id := idOf(s1.User)
		del := func(tok string, body any) *apitest.Response { return e.As(tok, "DELETE", "/v1/me", body) }

		del(s1.AccessToken, map[string]any{"password": "wrong-password-42"}).ExpectProblem(401, "invalid_credentials")
		del(s1.AccessToken, map[string]any{}).ExpectProblem(400, "validation_failed")
		del(s1.AccessToken, nil).ExpectProblem(400, "malformed_json")
		del(s1.AccessToken, map[string]any{"password": apitest.StrongPassword, "force": true}).ExpectProblem(400, "validation_failed")
		e.Request("DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(401, "missing_token")
		e.As(s1.AccessToken, "GET", "/v1/me", nil).Expect(200) // still there

		r := del(s1.AccessToken, map[string]any{"password": apitest.StrongPassword}).Expect(http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %s", r.Body)
		}
		for _, s := range []apitest.Tokens{s1, s2} {
			e.As(s.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
			// The revocation entries outlive the cascade-deleted session rows.
			if n := countRows(t, e, "SELECT count(*) FROM revocations WHERE session_id = ?", s.SessionID); n != 1 {
				t.Errorf("session %s: %d revocation entries; want 1", s.SessionID, n)
			}
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE id = ?", id); n != 0 {
			t.Fatal("the user row is still there")
		}
		if n := countRows(t, e, "SELECT count(*) FROM sessions WHERE user_id = ?", id); n != 0 {
			t.Fatal("session rows are still there")
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "leaving", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		evs := auditRowsOf(t, e, "user_deleted")
		if len(evs) != 1 || evs[0].UserID != id || evs[0].ActorID != id || !strings.Contains(evs[0].Details, `"sessions_revoked":2`) {
			t.Errorf("user_deleted events %+v", evs)
		}
		// The name is free again.
		e.Signup("leaving")

		t.Run("last admin", func(t *testing.T) {
			e := e.WithT(t)
			root := e.AdminLogin()
			del(root.AccessToken, map[string]any{"password": apitest.AdminPassword}).ExpectProblem(409, "last_admin")
			e.As(root.AccessToken, "GET", "/v1/me", nil).Expect(200) // rolled back, sessions included

			// A second admin who is disabled does not count…
			second := e.Request("POST", "/v1/auth/signup", map[string]any{
				"email": "second@example.com", "username": "second", "password": apitest.StrongPassword,
				"admin_key": "second-admin-key-0123456789",
			}).Expect(201).JSON()["user"].(map[string]any)
			secondID := uuid.MustParse(idOf(second))
			testdb.Must(t, e.App.Store.UpdateUser(context.Background(), secondID, e.Clock.Now(), store.UserUpdate{Status: new("disabled")}))
			del(root.AccessToken, map[string]any{"password": apitest.AdminPassword}).ExpectProblem(409, "last_admin")

			// …an active one does.
			testdb.Must(t, e.App.Store.UpdateUser(context.Background(), secondID, e.Clock.Now(), store.UserUpdate{Status: new("active")}))
			del(root.AccessToken, map[string]any{"password": apitest.AdminPassword}).Expect(http.StatusNoContent)
			s := e.Login("second", apitest.StrongPassword)
			del(s.AccessToken, map[string]any{"password": apitest.StrongPassword}).ExpectProblem(409, "last_admin")
		})
	})
}

func TestChangePassword(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "grace@example.com", "username": "grace", "password": apitest.StrongPassword,
			"first_name": "Grace", "last_name": "Brewster",
		}).Expect(201)
		s1 := e.Login("grace", apitest.StrongPassword)
		s2 := e.Login("grace", apitest.StrongPassword)
		change := func(body any) *apitest.Response { return e.As(s1.AccessToken, "POST", "/v1/me/password", body) }
		const newPW = "juniper-Socket-ferry-83*"

		for _, tc := range []struct {
			name               string
			body               any
			status             int
			code, field, about string
		}{
			{"wrong old password", map[string]any{"old_password": "not-my-password", "new_password": newPW}, 401, "invalid_credentials", "", ""},
			{"same as old", map[string]any{"old_password": apitest.StrongPassword, "new_password": apitest.StrongPassword}, 400, "validation_failed", "new_password", "must differ"},
			{"built from the name", map[string]any{"old_password": apitest.StrongPassword, "new_password": "GraceBrewster"}, 400, "validation_failed", "new_password", "based on your name"},
			{"too short", map[string]any{"old_password": apitest.StrongPassword, "new_password": "aB3$"}, 400, "validation_failed", "new_password", "at least 8"},
			{"too long", map[string]any{"old_password": apitest.StrongPassword, "new_password": strings.Repeat("xY3$", 33)}, 400, "validation_failed", "new_password", "at most 128"},
			{"missing old", map[string]any{"new_password": newPW}, 400, "validation_failed", "old_password", "required"},
			{"missing new", map[string]any{"old_password": apitest.StrongPassword}, 400, "validation_failed", "new_password", "required"},
			{"unknown field", map[string]any{"old_password": apitest.StrongPassword, "new_password": newPW, "user_id": "x"}, 400, "validation_failed", "user_id", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.As(s1.AccessToken, "POST", "/v1/me/password", tc.body).ExpectProblem(tc.status, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, tc.about)
				}
			})
		}
		// None of that changed anything or ended a session.
		e.As(s2.AccessToken, "GET", "/v1/me", nil).Expect(200)
		if n := len(auditRowsOf(t, e, "password_changed")); n != 0 {
			t.Fatalf("%d password_changed events after refusals", n)
		}

		r := change(map[string]any{"old_password": apitest.StrongPassword, "new_password": newPW}).Expect(200)
		if msg, _ := r.JSON()["message"].(string); !strings.Contains(msg, "log in again") {
			t.Errorf("answer %s; want a message telling the client to log in again", r.Body)
		}
		for _, s := range []apitest.Tokens{s1, s2} { // the current session too
			e.As(s.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
			if n := countRows(t, e, "SELECT count(*) FROM revocations WHERE session_id = ?", s.SessionID); n != 1 {
				t.Errorf("session %s: %d revocation entries; want 1", s.SessionID, n)
			}
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "grace", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		e.Login("grace", newPW)
		evs := auditRowsOf(t, e, "password_changed")
		if len(evs) != 1 || evs[0].UserID != idOf(s1.User) || !strings.Contains(evs[0].Details, `"sessions_revoked":2`) {
			t.Errorf("password_changed events %+v", evs)
		}
		if strings.Contains(evs[0].Details, newPW) {
			t.Error("the audit event holds the password")
		}
		e.Request("POST", "/v1/me/password", map[string]any{"old_password": newPW, "new_password": apitest.StrongPassword}).ExpectProblem(401, "missing_token")
	})
}

// mySessionList is GET /v1/me/sessions.
type mySessionList struct {
	Sessions []struct {
		ID         string    `json:"id"`
		CreatedAt  time.Time `json:"created_at"`
		LastUsedAt time.Time `json:"last_used_at"`
		ExpiresAt  time.Time `json:"expires_at"`
		IP         string    `json:"ip"`
		UserAgent  string    `json:"user_agent"`
		Current    bool      `json:"current"`
	} `json:"sessions"`
}

func (l mySessionList) ids() []string {
	var out []string
	for _, s := range l.Sessions {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func sortedIDs(ids ...string) []string { slices.Sort(ids); return ids }

func TestMySessions(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Signup("multi")
		loginUA := func(ua string, remember bool) apitest.Tokens {
			var tk apitest.Tokens
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "multi", "password": apitest.StrongPassword, "remember": remember},
				"User-Agent", ua).Expect(200).Decode(&tk)
			return tk
		}
		phone := loginUA("phone/1.0", true)
		e.Clock.Advance(time.Second)
		laptop := loginUA("laptop/2.0", false)
		e.Clock.Advance(time.Second)
		tablet := loginUA("tablet/3.0", false)
		other := e.SignupLogin("bystander")
		list := func(tok string) mySessionList {
			var l mySessionList
			e.As(tok, "GET", "/v1/me/sessions", nil).Expect(200).Decode(&l)
			return l
		}

		l := list(laptop.AccessToken)
		if got, want := l.ids(), sortedIDs(phone.SessionID, laptop.SessionID, tablet.SessionID); !slices.Equal(got, want) {
			t.Fatalf("sessions %v; want %v", got, want)
		}
		if l.Sessions[0].ID != tablet.SessionID {
			t.Errorf("first listed %s; want the newest, %s", l.Sessions[0].ID, tablet.SessionID)
		}
		for _, s := range l.Sessions {
			if s.Current != (s.ID == laptop.SessionID) {
				t.Errorf("session %s current=%v", s.ID, s.Current)
			}
			if s.IP == "" || s.CreatedAt.IsZero() || s.LastUsedAt.IsZero() || !s.ExpiresAt.After(s.CreatedAt) {
				t.Errorf("session %+v", s)
			}
			want := map[string]string{phone.SessionID: "phone/1.0", laptop.SessionID: "laptop/2.0", tablet.SessionID: "tablet/3.0"}[s.ID]
			if s.UserAgent != want {
				t.Errorf("session %s user agent %q; want %q", s.ID, s.UserAgent, want)
			}
		}
		if got := list(other.AccessToken).ids(); !slices.Equal(got, []string{other.SessionID}) {
			t.Fatalf("bystander sees %v", got)
		}

		revoke := func(tok, id string) *apitest.Response { return e.As(tok, "DELETE", "/v1/me/sessions/"+id, nil) }
		// Another user's session, an unknown one and a malformed id look the same.
		for _, id := range []string{other.SessionID, uuid.NewString(), "not-a-uuid"} {
			revoke(laptop.AccessToken, id).ExpectProblem(404, "session_not_found")
		}
		e.As(other.AccessToken, "GET", "/v1/me", nil).Expect(200)

		revoke(laptop.AccessToken, tablet.SessionID).Expect(http.StatusNoContent)
		e.As(tablet.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tablet.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
		if n := countRows(t, e, "SELECT count(*) FROM revocations WHERE session_id = ?", tablet.SessionID); n != 1 {
			t.Errorf("%d revocation entries for the revoked session; want 1", n)
		}
		revoke(laptop.AccessToken, tablet.SessionID).ExpectProblem(404, "session_not_found") // already ended
		if got, want := list(laptop.AccessToken).ids(), sortedIDs(phone.SessionID, laptop.SessionID); !slices.Equal(got, want) {
			t.Fatalf("after revoking: %v; want %v", got, want)
		}
		evs := auditRowsOf(t, e, "sessions_revoked")
		if len(evs) != 1 || evs[0].UserID != idOf(laptop.User) || !strings.Contains(evs[0].Details, tablet.SessionID) {
			t.Errorf("sessions_revoked events %+v", evs)
		}

		// Expired sessions are not listed: after 8 days only the remembered one lives.
		e.Clock.Advance(8 * 24 * time.Hour)
		var fresh apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": phone.RefreshToken}).Expect(200).Decode(&fresh)
		l = list(fresh.AccessToken)
		if len(l.Sessions) != 1 || l.Sessions[0].ID != phone.SessionID || !l.Sessions[0].Current {
			t.Fatalf("after 8 days: %+v", l)
		}
		revoke(fresh.AccessToken, laptop.SessionID).ExpectProblem(404, "session_not_found") // expired

		// Revoking one's own current session is a logout.
		revoke(fresh.AccessToken, phone.SessionID).Expect(http.StatusNoContent)
		e.As(fresh.AccessToken, "GET", "/v1/me/sessions", nil).ExpectProblem(401, "session_revoked")
		e.Request("GET", "/v1/me/sessions", nil).ExpectProblem(401, "missing_token")
		e.Request("DELETE", "/v1/me/sessions/"+phone.SessionID, nil).ExpectProblem(401, "missing_token")
	})
}
