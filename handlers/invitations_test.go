package handlers_test

// Invitations: POST /v1/users with "invite": true makes an account without
// a password and mails it a link PUBLIC_URL/accept-invite?token=…; POST
// /v1/auth/invite/accept sets the password with it; POST /v1/users/{id}/invite
// sends a new link.

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
)

const inviteSubject = "You are invited to an account"

var inviteLinkRe = regexp.MustCompile(`(\S+)/accept-invite\?token=(\S+)`)

// inviteToken reads the invitation link out of the last invitation mailed to
// to, checking the subject, the username, and that both parts carry the link
// (the HTML part as href).
func inviteToken(t *testing.T, srv *smtptest.Server, to, username string) string {
	t.Helper()
	got := mailsTo(t, srv, to)
	for i := len(got) - 1; i >= 0; i-- {
		m := got[i]
		if m.Header.Get("Subject") != inviteSubject {
			continue
		}
		text, html := m.Parts["text/plain"], m.Parts["text/html"]
		link := inviteLinkRe.FindStringSubmatch(text)
		if link == nil {
			t.Fatalf("no invitation link in the text part:\n%s", text)
		}
		if link[1] != "http://authsvc.test" {
			t.Errorf("link base %q; want PUBLIC_URL http://authsvc.test", link[1])
		}
		if !strings.Contains(html, `href="`+link[0]+`"`) {
			t.Errorf("HTML part lacks the link %s as href:\n%s", link[0], html)
		}
		if !strings.Contains(text, username) || !strings.Contains(html, username) {
			t.Errorf("the invitation does not name the username %s:\n%s", username, text)
		}
		tok, err := url.QueryUnescape(link[2])
		testdb.Must(t, err)
		return tok
	}
	t.Fatalf("no invitation mailed to %s among %d mails", to, len(got))
	return ""
}

// invite creates name@example.com by invitation, as the admin, and returns the user.
func invite(e *apitest.Env, admin, name string, extra map[string]any) map[string]any {
	e.T.Helper()
	body := map[string]any{"email": name + "@example.com", "username": name, "invite": true}
	for k, v := range extra {
		body[k] = v
	}
	return userOf(e.As(admin, "POST", "/v1/users", body).Expect(http.StatusCreated))
}

func acceptInvite(e *apitest.Env, tok, pw string) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/invite/accept", map[string]any{"token": tok, "password": pw})
}

func reinvite(e *apitest.Env, tok, id string) *apitest.Response {
	e.T.Helper()
	return e.As(tok, "POST", "/v1/users/"+id+"/invite", nil)
}

func TestInviteOnCreate(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin()
		u := invite(e, admin.AccessToken, "ada", map[string]any{"first_name": "Augusta"})
		if u["has_password"] != false || u["email_verified"] != false || u["status"] != "active" || u["first_name"] != "Augusta" {
			t.Fatalf("invited user %v; want active, no password, unverified", u)
		}
		// Mailed at once (queued with the account).
		if n := countRows(t, e, "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"); n != 1 {
			t.Fatalf("%d mails queued; want the invitation", n)
		}
		deliverMail(e, 1)
		raw := srv.Received()[0]
		if !slices.Equal(raw.To, []string{"ada@example.com"}) || raw.From != "noreply@example.com" {
			t.Fatalf("mail from %q to %q", raw.From, raw.To)
		}
		tok := inviteToken(t, srv, "ada@example.com", "ada")
		if text := mailsTo(t, srv, "ada@example.com")[0].Parts["text/plain"]; !strings.Contains(text, "7 days") {
			t.Errorf("the invitation does not give INVITE_TTL (168h):\n%s", text)
		}
		checkNoPlainToken(t, append(dumpTable(t, e, "email_tokens"), dumpTable(t, e, "audit_events")...), tok)

		// No password: nothing logs in with one.
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": ""}).ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")

		evs := auditRowsOf(t, e, "user_invited")
		if len(evs) != 1 || evs[0].UserID != idOf(u) || evs[0].ActorID != idOf(admin.User) || detailsOf(t, evs[0])["mail"] != "queued" {
			t.Errorf("user_invited events %+v; want one for ada by root, mail queued", evs)
		}
		if created := auditRowsOf(t, e, "user_created"); created[len(created)-1].UserID != idOf(u) {
			t.Errorf("user_created events %+v; want ada's last", created)
		}

		for name, tc := range map[string]struct {
			body           map[string]any
			field, message string // the first error's; "" message: any
		}{
			"password and invite": {map[string]any{"email": "bob@example.com", "username": "bob", "password": apitest.StrongPassword, "invite": true},
				"password", "must not be sent with invite"},
			"neither":         {map[string]any{"email": "bob@example.com", "username": "bob"}, "password", "is required unless invite is sent"},
			"invite false":    {map[string]any{"email": "bob@example.com", "username": "bob", "invite": false}, "password", "is required unless invite is sent"},
			"invite a string": {map[string]any{"email": "bob@example.com", "username": "bob", "invite": "yes"}, "invite", ""},
			// A disabled account could never accept: refused, and nothing is mailed.
			"invite disabled": {map[string]any{"email": "bob@example.com", "username": "bob", "invite": true, "status": "disabled"}, "status", ""},
		} {
			r := e.As(admin.AccessToken, "POST", "/v1/users", tc.body).ExpectProblem(400, "validation_failed")
			var p struct {
				Errors []struct{ Field, Message string } `json:"errors"`
			}
			r.Decode(&p)
			if len(p.Errors) == 0 || p.Errors[0].Field != tc.field || (tc.message != "" && p.Errors[0].Message != tc.message) {
				t.Errorf("%s: errors %s; want the first on %s saying %q", name, r.Body, tc.field, tc.message)
			}
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE username = 'bob'"); n != 0 {
			t.Error("a refused create made the user")
		}
		deliverMail(e, 0)
	})
}

func TestAcceptInvite(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin().AccessToken
		u := invite(e, admin, "ada", map[string]any{"first_name": "Augusta", "last_name": "Lovelace"})
		deliverMail(e, 1)
		tok := inviteToken(t, srv, "ada@example.com", "ada")

		// The policy applies, naming why; the token stays usable.
		r := acceptInvite(e, tok, "Augusta-Lovelace").ExpectProblem(400, "validation_failed")
		checkFieldError(t, r, "password", "based on your name, username or email address")
		acceptInvite(e, tok, "short").ExpectProblem(400, "validation_failed")
		acceptInvite(e, "bm90LWEtdG9rZW4", apitest.StrongPassword).ExpectProblem(400, "invalid_token")

		var tk apitest.Tokens
		r = acceptInvite(e, tok, apitest.StrongPassword).Expect(200)
		r.Decode(&tk)
		if tk.AccessToken == "" || tk.RefreshToken == "" || tk.SessionID == "" || tk.User["id"] != idOf(u) {
			t.Fatalf("accept answered %s; want a token response for ada", r.Body)
		}
		me := meOf(e, tk.AccessToken)
		if me["email_verified"] != true || me["has_password"] != true {
			t.Errorf("after accepting: %v; want verified, with a password", me)
		}
		if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, []string{"pwd"}) {
			t.Errorf("amr %v; want [pwd]", got)
		}
		e.Login("ada", apitest.StrongPassword)
		e.Login("ada@example.com", apitest.StrongPassword)

		// Single use; and once there is a password, no new invitation.
		acceptInvite(e, tok, "another-Harbor-tunnel-59!").ExpectProblem(400, "invalid_token")
		e.Login("ada", apitest.StrongPassword)
		reinvite(e, admin, idOf(u)).ExpectProblem(409, "already_accepted")
		deliverMail(e, 0)

		acc := auditRowsOf(t, e, "invite_accepted")
		if len(acc) != 1 || acc[0].UserID != idOf(u) || acc[0].ActorID != idOf(u) {
			t.Errorf("invite_accepted events %+v; want one, by ada", acc)
		}
		evs := auditRowsOf(t, e, "login_succeeded")
		var first auditRow
		for _, ev := range evs {
			if ev.UserID == idOf(u) {
				first = ev
				break
			}
		}
		if d := detailsOf(t, first); d["session_id"] != tk.SessionID || d["method"] != "password" {
			t.Errorf("ada's first login_succeeded %+v; want the accepting session, method password", first)
		}

		// Validation.
		for name, body := range map[string]any{
			"missing token":    map[string]any{"password": apitest.StrongPassword},
			"missing password": map[string]any{"token": tok},
			"unknown field":    map[string]any{"token": tok, "password": apitest.StrongPassword, "email": "ada@example.com"},
			"overlong token":   map[string]any{"token": strings.Repeat("A", 257), "password": apitest.StrongPassword},
		} {
			if r := e.Request("POST", "/v1/auth/invite/accept", body); r.Status != 400 || !strings.Contains(string(r.Body), "validation_failed") {
				t.Errorf("%s: %d %s; want 400 validation_failed", name, r.Status, r.Body)
			}
		}
		e.Request("POST", "/v1/auth/invite/accept", `{"token":`).ExpectProblem(400, "malformed_json")
	})
}

func TestInviteExpiry(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			admin := e.AdminLogin().AccessToken
			invite(e, admin, "early", nil)
			invite(e, admin, "late", nil)
			deliverMail(e, 2)
			early, late := inviteToken(t, srv, "early@example.com", "early"), inviteToken(t, srv, "late@example.com", "late")
			e.Clock.Advance(168*time.Hour - time.Second)
			acceptInvite(e, early, apitest.StrongPassword).Expect(200) // just in time
			e.Clock.Advance(time.Second)
			acceptInvite(e, late, apitest.StrongPassword).ExpectProblem(400, "invalid_token") // expired on the dot
		})
	})
	t.Run("INVITE_TTL", func(t *testing.T) {
		eachDBMail(t, apitest.Vars{"INVITE_TTL": "2h"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			admin := e.AdminLogin().AccessToken
			u := invite(e, admin, "ada", nil)
			deliverMail(e, 1)
			tok := inviteToken(t, srv, "ada@example.com", "ada")
			if text := mailsTo(t, srv, "ada@example.com")[0].Parts["text/plain"]; !strings.Contains(text, "2 hours") {
				t.Errorf("the invitation does not give INVITE_TTL (2h):\n%s", text)
			}
			e.Clock.Advance(2 * time.Hour)
			acceptInvite(e, tok, apitest.StrongPassword).ExpectProblem(400, "invalid_token")
			// A new invitation is the way on.
			admin = e.AdminLogin().AccessToken
			reinvite(e, admin, idOf(u)).Expect(http.StatusAccepted)
			deliverMail(e, 1)
			acceptInvite(e, inviteToken(t, srv, "ada@example.com", "ada"), apitest.StrongPassword).Expect(200)
		})
	})
}

func TestReinvite(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin()
		u := invite(e, admin.AccessToken, "ada", nil)
		deliverMail(e, 1)
		older := inviteToken(t, srv, "ada@example.com", "ada")

		r := reinvite(e, admin.AccessToken, idOf(u)).Expect(http.StatusAccepted)
		if msg, _ := r.JSON()["message"].(string); msg == "" {
			t.Errorf("body %s; want a message", r.Body)
		}
		deliverMail(e, 1)
		newer := inviteToken(t, srv, "ada@example.com", "ada")
		if newer == older {
			t.Fatal("the same link twice")
		}
		acceptInvite(e, older, apitest.StrongPassword).ExpectProblem(400, "invalid_token")
		acceptInvite(e, newer, apitest.StrongPassword).Expect(200)
		reinvite(e, admin.AccessToken, idOf(u)).ExpectProblem(409, "already_accepted")
		// An account made with a password has nothing to accept either.
		reinvite(e, admin.AccessToken, idOf(admin.User)).ExpectProblem(409, "already_accepted")

		evs := auditRowsOf(t, e, "user_invited")
		if len(evs) != 2 || evs[1].UserID != idOf(u) || evs[1].ActorID != idOf(admin.User) {
			t.Errorf("user_invited events %+v; want two, the second by root for ada", evs)
		}

		// Who may invite.
		plain := e.SignupLogin("plain")
		bob := invite(e, admin.AccessToken, "bob", nil)
		boss := invite(e, admin.AccessToken, "boss", map[string]any{"roles": []string{"admin"}})
		flushMail(e)
		reinvite(e, plain.AccessToken, idOf(bob)).ExpectProblem(403, "forbidden")
		e.Request("POST", "/v1/users/"+idOf(bob)+"/invite", nil).Expect(401)
		e.As(admin.AccessToken, "POST", "/v1/roles", map[string]any{"name": "helper", "permissions": []string{"users:read", "users:write"}}).Expect(201)
		e.As(admin.AccessToken, "POST", "/v1/users", map[string]any{
			"email": "helen@example.com", "username": "helen", "password": apitest.StrongPassword, "roles": []string{"helper"},
		}).Expect(201)
		helper := e.Login("helen", apitest.StrongPassword).AccessToken
		reinvite(e, helper, idOf(bob)).Expect(http.StatusAccepted)
		reinvite(e, helper, idOf(boss)).ExpectProblem(403, "forbidden") // holds what helen lacks
		reinvite(e, admin.AccessToken, "0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f").ExpectProblem(404, "user_not_found")
		reinvite(e, admin.AccessToken, "not-a-uuid").ExpectProblem(404, "user_not_found")
		deliverMail(e, 1) // helen's invitation of bob only

		// A disabled user is not invited, and an earlier link does not let it in.
		carl := invite(e, admin.AccessToken, "carl", nil)
		deliverMail(e, 1)
		carlTok := inviteToken(t, srv, "carl@example.com", "carl")
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+idOf(carl), map[string]any{"status": "disabled"}).Expect(200)
		reinvite(e, admin.AccessToken, idOf(carl)).ExpectProblem(403, "account_disabled")
		acceptInvite(e, carlTok, apitest.StrongPassword).ExpectProblem(403, "account_disabled")
		deliverMail(e, 0)
		// Enabled again, the link still works.
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+idOf(carl), map[string]any{"status": "active"}).Expect(200)
		acceptInvite(e, carlTok, apitest.StrongPassword).Expect(200)
	})
}

// TestInviteLinkEndsWithChanges: a link is for the address it went to and an
// account with no password; an administrator's change of either ends it.
func TestInviteLinkEndsWithChanges(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin().AccessToken
		moved := invite(e, admin, "moved", nil)
		given := invite(e, admin, "given", nil)
		deliverMail(e, 2)
		movedTok, givenTok := inviteToken(t, srv, "moved@example.com", "moved"), inviteToken(t, srv, "given@example.com", "given")

		e.As(admin, "PATCH", "/v1/users/"+idOf(moved), map[string]any{"email": "moved@new.example"}).Expect(200)
		acceptInvite(e, movedTok, apitest.StrongPassword).ExpectProblem(400, "invalid_token")
		reinvite(e, admin, idOf(moved)).Expect(http.StatusAccepted)
		flushMail(e)
		acceptInvite(e, inviteToken(t, srv, "moved@new.example", "moved"), apitest.StrongPassword).Expect(200)

		const adminSet = "admin-Chose-this-83!"
		e.As(admin, "PATCH", "/v1/users/"+idOf(given), map[string]any{"password": adminSet}).Expect(200)
		acceptInvite(e, givenTok, apitest.StrongPassword).ExpectProblem(400, "invalid_token")
		e.Login("given", adminSet)
	})
}

// TestAcceptInviteConcurrent: of many accepts racing with one link, exactly one wins.
func TestAcceptInviteConcurrent(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		invite(e, e.AdminLogin().AccessToken, "racer", nil)
		deliverMail(e, 1)
		tok := inviteToken(t, srv, "racer@example.com", "racer")
		pws := make([]string, 6)
		for i := range pws {
			pws[i] = fmt.Sprintf("racer-Pass-%d-lantern-Quiet!", i)
		}
		got := concurrently(len(pws), func(i int) *apitest.Response { return acceptInvite(e, tok, pws[i]) })
		if got["200"] != 1 || got["400 invalid_token"] != len(pws)-1 {
			t.Fatalf("%d racing accepts: %v; want one 200, the rest 400 invalid_token", len(pws), got)
		}
		if evs := auditRowsOf(t, e, "invite_accepted"); len(evs) != 1 {
			t.Fatalf("%d invite_accepted events; want 1", len(evs))
		}
		won := 0
		for _, pw := range pws {
			if r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "racer", "password": pw}); r.Status == 200 {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of the racing passwords log in; want exactly the winner's", won)
		}
	})
}

// TestAcceptInviteWithVerificationRequired: the invitation link proves the
// address, so accepting signs in even when unverified accounts may not.
func TestAcceptInviteWithVerificationRequired(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "required"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		invite(e, e.AdminLogin().AccessToken, "ada", nil)
		deliverMail(e, 1)
		var tk apitest.Tokens
		acceptInvite(e, inviteToken(t, srv, "ada@example.com", "ada"), apitest.StrongPassword).Expect(200).Decode(&tk)
		if u := meOf(e, tk.AccessToken); u["email_verified"] != true || u["has_password"] != true {
			t.Errorf("after accepting: %v; want verified, with a password", u)
		}
		e.Login("ada", apitest.StrongPassword)
	})
}
