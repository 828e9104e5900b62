package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
)

// The contract's "Account safety rules", each through the router on both
// databases.

// outcome is a response reduced to what concurrency tests compare.
func outcome(r *apitest.Response) string {
	if r.Status == http.StatusOK || r.Status == http.StatusNoContent || r.Status == http.StatusCreated {
		return fmt.Sprint(r.Status)
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return fmt.Sprintf("%d %s", r.Status, p.Code)
}

// concurrently sends n requests at once and counts their outcomes.
func concurrently(n int, send func(i int) *apitest.Response) map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o := outcome(send(i))
			mu.Lock()
			counts[o]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// auditCount is how many audit events of the type the user has.
func auditCount(e *apitest.Env, admin, userID, typ string) int {
	e.T.Helper()
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	e.As(admin, "GET", "/v1/audit?limit=200&type="+typ+"&user_id="+userID, nil).Expect(200).Decode(&page)
	return len(page.Events)
}

// However many wrong passwords arrive at once, at most LOCKOUT_THRESHOLD are
// checked; the rest are refused unchecked.
func TestLockoutHoldsUnderConcurrentPasswords(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "5"}, func(t *testing.T, e *apitest.Env) {
		id := idOf(e.Signup("ada"))
		got := concurrently(20, func(int) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-Password-1"})
		})
		if got["401 invalid_credentials"] != 5 || got["429 too_many_attempts"] != 15 {
			t.Errorf("20 concurrent wrong passwords: %v; want 5 checked (401) and 15 refused (429)", got)
		}
		admin := e.AdminLogin().AccessToken
		if n := auditCount(e, admin, id, "login_failed"); n != 5 {
			t.Errorf("%d login_failed events; want 5", n)
		}
		// Unknown identifiers lock the same way.
		got = concurrently(20, func(int) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "nobody@example.com", "password": "wrong-Password-1"})
		})
		if got["401 invalid_credentials"] != 5 || got["429 too_many_attempts"] != 15 {
			t.Errorf("20 concurrent guesses at an unknown address: %v; want 5 checked and 15 refused", got)
		}
	})
}

// Correct logins arriving at once are all served: an attempt in flight does
// not refuse the others, it makes them wait their turn.
func TestConcurrentCorrectLoginsAreServed(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "5"}, func(t *testing.T, e *apitest.Env) {
		e.Signup("ada")
		got := concurrently(20, func(int) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword})
		})
		if got["200"] != 20 {
			t.Errorf("20 concurrent correct logins: %v; want 20 × 200", got)
		}
	})
}

// Wrong TOTP codes racing through several second steps are checked at most
// LOCKOUT_THRESHOLD times.
func TestLockoutHoldsUnderConcurrentCodes(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "5"}, func(t *testing.T, e *apitest.Env) {
		mfaUser(e, "ada")
		tokens := make([]string, 6)
		for i := range tokens {
			tokens[i] = mfaToken(e, "ada", false)
		}
		got := concurrently(30, func(i int) *apitest.Response {
			return secondStep(e, tokens[i%len(tokens)], map[string]any{"code": fmt.Sprintf("%06d", i)})
		})
		if got["401 invalid_mfa_code"] != 5 || got["429 too_many_attempts"] != 25 {
			t.Errorf("30 concurrent wrong codes: %v; want 5 checked (401) and 25 refused (429)", got)
		}
	})
}

// A signed-in user's wrong passwords and codes count toward the lockout, so
// a stolen access token does not open a guessing channel.
func TestReauthenticationCountsTowardLockout(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		for range 3 {
			e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{"old_password": "wrong-Password-1", "new_password": "another-Harbor-tunnel-77!"}).
				ExpectProblem(401, "invalid_credentials")
		}
		// Locked: even the right password is not checked, here or at login.
		e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{"old_password": apitest.StrongPassword, "new_password": "another-Harbor-tunnel-77!"}).
			ExpectProblem(429, "too_many_attempts")
		e.As(tk.AccessToken, "DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")
		e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": "new@example.com", "password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")

		// Codes behind a stolen token: DELETE /v1/me/mfa/totp with the right
		// password but wrong codes.
		bobTk, _, _ := mfaUser(e, "bob")
		for range 3 {
			e.As(bobTk.AccessToken, "DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": "000000"}).
				ExpectProblem(401, "invalid_mfa_code")
		}
		e.As(bobTk.AccessToken, "DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": "000000"}).
			ExpectProblem(429, "too_many_attempts")
	})
}

// A correct re-authentication takes its count back: it is no failure.
func TestCorrectReauthenticationIsNoFailure(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "2"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		for range 3 {
			e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201)
		}
		e.Login("ada", apitest.StrongPassword) // one failure still counted, not locked
	})
}

// TOTP confirmation allows a few wrong codes per enrolment, then the
// enrolment ends; each wrong code also counts toward the lockout.
func TestTOTPConfirmEndsAfterWrongCodes(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "20"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		var enrol struct {
			Secret string `json:"secret"`
		}
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201).Decode(&enrol)
		for i := range 4 {
			e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": fmt.Sprintf("%06d", i)}).ExpectProblem(400, "invalid_mfa_code")
		}
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": "000009"}).ExpectProblem(409, "mfa_not_started")
		// The secret is gone: even its right code no longer confirms it.
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": totpAt(t, enrol.Secret, e.Clock.Now())}).
			ExpectProblem(409, "mfa_not_started")
		// A new enrolment starts with a fresh count.
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201).Decode(&enrol)
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": "000000"}).ExpectProblem(400, "invalid_mfa_code")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": totpAt(t, enrol.Secret, e.Clock.Now())}).Expect(200)

		admin := e.AdminLogin().AccessToken
		if n := auditCount(e, admin, idOf(tk.User), "mfa_failed"); n != 6 {
			t.Errorf("%d mfa_failed events; want 6 (each wrong confirmation counts)", n)
		}
	})
}

// Wrong confirmation codes lock login like wrong passwords.
func TestTOTPConfirmCodesCountTowardLockout(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201)
		for i := range 3 {
			e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": fmt.Sprintf("%06d", i)}).ExpectProblem(400, "invalid_mfa_code")
		}
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": "000009"}).ExpectProblem(429, "too_many_attempts")
	})
}

// Until the address is proved, no factor can be added.
func TestUnverifiedMailboxCannotAddFactors(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk := e.SignupLogin("ada")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(403, "email_unverified")
		e.As(tk.AccessToken, "POST", "/v1/me/passkeys/register/options", map[string]any{"password": apitest.StrongPassword}).ExpectProblem(403, "email_unverified")

		deliverMail(e, 1)
		verify(e, verifyToken(t, srv, "ada@example.com", "Confirm your email address")).Expect(200)
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201)
		registerOptions(e, tk.AccessToken)
	})
}

// A password reset proves the mailbox: it verifies the address, and removes
// the factors added while it was unproved (here: before an administrator
// marked it unverified, the only way left to get there).
func TestResetRemovesFactorsOfAnUnprovedMailbox(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin().AccessToken
		for _, c := range []struct {
			name     string
			verified bool
		}{{"unproved", false}, {"proved", true}} {
			tk, _, _ := mfaUser(e, c.name)
			d := newDevice(t, idOf(tk.User))
			d.register(e, tk.AccessToken)
			id := idOf(tk.User)
			e.As(admin, "PATCH", "/v1/users/"+id, map[string]any{"email_verified": c.verified}).Expect(200)

			flushMail(e)
			forgotPW(e, c.name+"@example.com").Expect(http.StatusAccepted)
			deliverMail(e, 1)
			resetPW(e, lastToken(t, srv, c.name+"@example.com"), "another-Harbor-tunnel-77!").Expect(200)
			deliverMail(e, map[bool]int{false: 2, true: 1}[c.verified]) // the reset notice, and what was removed

			user := e.As(admin, "GET", "/v1/users/"+id, nil).Expect(200).JSON()["user"].(map[string]any)
			mfa := user["mfa"].(map[string]any)
			if user["email_verified"] != true {
				t.Errorf("%s: email_verified %v after a reset; want true", c.name, user["email_verified"])
			}
			if c.verified {
				if mfa["totp"] != true || mfa["passkeys"] != float64(1) {
					t.Errorf("%s: factors %v after a reset; want them kept", c.name, mfa)
				}
				d.cred.Counter++
				d.login(e).Expect(200)
				continue
			}
			if mfa["totp"] != false || mfa["passkeys"] != float64(0) || mfa["recovery_codes_left"] != float64(0) {
				t.Errorf("%s: factors %v after a reset; want none", c.name, mfa)
			}
			d.cred.Counter++
			d.login(e).ExpectProblem(401, "invalid_passkey")
			e.Login(c.name, "another-Harbor-tunnel-77!") // no second step any more
			subjects := subjectsTo(t, srv, c.name+"@example.com")
			if !strings.Contains(strings.Join(subjects, "|"), "were removed") {
				t.Errorf("%s: no notice of the removed factors; mails: %q", c.name, subjects)
			}
		}
	})
}

func subjectsTo(t *testing.T, srv *smtptest.Server, to string) []string {
	t.Helper()
	var out []string
	for _, m := range mailsTo(t, srv, to) {
		out = append(out, m.Header.Get("Subject"))
	}
	return out
}

// Every change of a sign-in factor is told to the account's address, with no
// link or token in the notice.
func TestFactorChangesAreAnnounced(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk, secret, _ := mfaUser(e, "ada")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/recovery-codes", map[string]any{"password": apitest.StrongPassword, "code": totpAt(t, secret, e.Clock.Now())}).Expect(200)
		e.Clock.Advance(30 * time.Second)
		d := newDevice(t, idOf(tk.User))
		pk := d.register(e, tk.AccessToken)
		e.As(tk.AccessToken, "DELETE", "/v1/me/passkeys/"+pk["id"].(string), nil).Expect(204)
		e.As(tk.AccessToken, "DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": totpAt(t, secret, e.Clock.Now())}).Expect(204)
		tk = e.Login("ada", apitest.StrongPassword)
		e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{"old_password": apitest.StrongPassword, "new_password": "another-Harbor-tunnel-77!"}).Expect(200)
		forgotPW(e, "ada@example.com").Expect(http.StatusAccepted)
		flushMail(e)
		resetPW(e, lastToken(t, srv, "ada@example.com"), "third-Harbor-tunnel-78!").Expect(200)
		flushMail(e)

		var notices []string
		for _, m := range mailsTo(t, srv, "ada@example.com") {
			subject := m.Header.Get("Subject")
			if subject == "Reset your password" {
				continue
			}
			notices = append(notices, subject)
			if text := m.Parts["text/plain"]; strings.Contains(text, "token=") || strings.Contains(text, "http") {
				t.Errorf("notice %q carries a link:\n%s", subject, text)
			}
		}
		want := []string{
			"Two-step sign-in was turned on", "New recovery codes were made", "A passkey was added", "A passkey was removed",
			"Two-step sign-in was turned off", "Your password was changed", "Your password was reset",
		}
		sort.Strings(notices)
		sort.Strings(want)
		if strings.Join(notices, "|") != strings.Join(want, "|") {
			t.Errorf("notices %q; want %q", notices, want)
		}
	})
}

// Removing a factor ends the sessions it opened, and only those.
func TestRemovingAFactorEndsItsSessions(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		pw := e.SignupLogin("ada")
		d := newDevice(t, idOf(pw.User))
		pk := d.register(e, pw.AccessToken)
		var viaPasskey apitest.Tokens
		d.cred.Counter++
		d.login(e).Expect(200).Decode(&viaPasskey)
		e.As(pw.AccessToken, "DELETE", "/v1/me/passkeys/"+pk["id"].(string), nil).Expect(204)
		e.As(viaPasskey.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": viaPasskey.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
		e.As(pw.AccessToken, "GET", "/v1/me", nil).Expect(200)

		// TOTP off ends the sessions a code authenticated (the current one
		// too), not a passkey's.
		_, secret, _ := mfaUser(e, "bob")
		withCode := completeWithCode(e, "bob", secret)
		other := completeWithCode(e, "bob", secret)
		bd := newDevice(t, idOf(withCode.User))
		bd.register(e, withCode.AccessToken)
		var bobPasskey apitest.Tokens
		bd.cred.Counter++
		bd.login(e).Expect(200).Decode(&bobPasskey)
		e.As(withCode.AccessToken, "DELETE", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword, "code": totpAt(t, secret, e.Clock.Now())}).Expect(204)
		e.As(withCode.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(other.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(bobPasskey.AccessToken, "GET", "/v1/me", nil).Expect(200)
	})
}

// completeWithCode logs in with the password and a fresh TOTP code.
func completeWithCode(e *apitest.Env, login, secret string) apitest.Tokens {
	e.T.Helper()
	tok := mfaToken(e, login, false)
	var tk apitest.Tokens
	secondStep(e, tok, map[string]any{"code": totpAt(e.T, secret, e.Clock.Now())}).Expect(200).Decode(&tk)
	e.Clock.Advance(30 * time.Second)
	return tk
}

// An administrator's own credentials, status, roles, factors and sessions
// change only through /v1/me.
func TestNoSelfServiceThroughAdminRoutes(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin()
		id := idOf(admin.User)
		for _, body := range []map[string]any{
			{"email": "other@example.com"}, {"password": "another-Harbor-tunnel-77!"}, {"status": "active"}, {"roles": []string{"admin"}},
		} {
			e.As(admin.AccessToken, "PATCH", "/v1/users/"+id, body).ExpectProblem(403, "self_service_required")
		}
		e.As(admin.AccessToken, "DELETE", "/v1/users/"+id+"/mfa", nil).ExpectProblem(403, "self_service_required")
		e.As(admin.AccessToken, "DELETE", "/v1/users/"+id+"/sessions", nil).ExpectProblem(403, "self_service_required")
		// Names are not credentials.
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+id, map[string]any{"first_name": "Root"}).Expect(200)
		e.As(admin.AccessToken, "GET", "/v1/me", nil).Expect(200)
		// Another user's are the administrator's to change.
		other := idOf(e.Signup("ada"))
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+other, map[string]any{"email": "ada2@example.com"}).Expect(200)
		e.As(admin.AccessToken, "DELETE", "/v1/users/"+other+"/sessions", nil).Expect(204)
	})
}

// A passkey cannot be guessed: its failures do not lock, and a lock does not
// stop it.
func TestPasskeyFailuresDoNotLock(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "2"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		d := newDevice(t, idOf(tk.User))
		d.register(e, tk.AccessToken)
		foreign := virtualwebauthn.RelyingParty{ID: "authsvc.test", Name: "authsvc", Origin: "https://evil.test"}
		for range 3 { // signed for another origin: refused, not counted
			c := loginOptions(e)
			finishLogin(e, c, d.assert(t, c, foreign)).ExpectProblem(401, "invalid_passkey")
		}
		e.Login("ada", apitest.StrongPassword)
	})
}
