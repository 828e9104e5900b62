package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
)

var verifyLink = regexp.MustCompile(`http://authsvc\.test/verify-email\?token=(\S+)`)

// mailsTo returns the parsed mails the server received for to, oldest first.
func mailsTo(t *testing.T, srv *smtptest.Server, to string) []smtptest.Parsed {
	t.Helper()
	var out []smtptest.Parsed
	for _, m := range srv.Received() {
		if slices.Contains(m.To, to) {
			out = append(out, smtptest.Parse(t, m.Data))
		}
	}
	return out
}

// verifyToken is the token of the last link mailed to `to`, checking the
// subject and that both parts carry the link.
func verifyToken(t *testing.T, srv *smtptest.Server, to, subject string) string {
	t.Helper()
	got := mailsTo(t, srv, to)
	if len(got) == 0 {
		t.Fatalf("no mail for %s", to)
	}
	m := got[len(got)-1]
	if s := m.Header.Get("Subject"); s != subject {
		t.Errorf("subject %q; want %q", s, subject)
	}
	found := verifyLink.FindStringSubmatch(m.Parts["text/plain"])
	if found == nil {
		t.Fatalf("no verification link in the mail to %s:\n%s", to, m.Parts["text/plain"])
	}
	if !strings.Contains(m.Parts["text/html"], `href="`+found[0]+`"`) {
		t.Errorf("HTML part lacks the link %s", found[0])
	}
	tok, err := url.QueryUnescape(found[1])
	testdb.Must(t, err)
	return tok
}

func verify(e *apitest.Env, tok string) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/email/verify", map[string]any{"token": tok})
}

func resend(e *apitest.Env, email string) *apitest.Response {
	e.T.Helper()
	r := e.Request("POST", "/v1/auth/email/resend", map[string]any{"email": email})
	e.App.Accounts.Wait()
	return r
}

func meOf(e *apitest.Env, tok string) map[string]any {
	e.T.Helper()
	return e.As(tok, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
}

const confirmSubject, changeSubject = "Confirm your email address", "Confirm your new email address"

func TestSignupMailsAVerificationLink(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk := e.SignupLogin("ada") // optional: login works before
		if u := meOf(e, tk.AccessToken); u["email_verified"] != false || u["email_verified_at"] != nil || u["pending_email"] != nil {
			t.Fatalf("a new account %v; want unverified", u)
		}
		deliverMail(e, 1)
		tok := verifyToken(t, srv, "ada@example.com", confirmSubject)

		u := verify(e, tok).Expect(200).JSON()["user"].(map[string]any)
		if u["username"] != "ada" || u["email"] != nil || u["email_verified"] != nil {
			t.Errorf("verify answered %v; want public fields only", u)
		}
		if u := meOf(e, tk.AccessToken); u["email_verified"] != true || u["email_verified_at"] == nil {
			t.Errorf("after the link %v; want verified", u)
		}
		verify(e, tok).ExpectProblem(400, "invalid_token") // single use
		verify(e, "nonsense").ExpectProblem(400, "invalid_token")
		verify(e, strings.Repeat("x", 300)).ExpectProblem(400, "validation_failed")

		// Verified accounts are found by the admin filter; the bootstrap admin is verified.
		admin := e.AdminLogin()
		for q, want := range map[string]string{"true": "ada,root", "false": ""} {
			var page struct{ Users []map[string]any }
			e.As(admin.AccessToken, "GET", "/v1/users?verified="+q, nil).Expect(200).Decode(&page)
			var names []string
			for _, u := range page.Users {
				names = append(names, u["username"].(string))
			}
			slices.Sort(names)
			if got := strings.Join(names, ","); got != want {
				t.Errorf("?verified=%s lists %q; want %q", q, got, want)
			}
		}
		e.As(admin.AccessToken, "GET", "/v1/users?verified=maybe", nil).ExpectProblem(400, "validation_failed")
		var types []string
		for _, ev := range auditEvents(t, e, admin.AccessToken, "") {
			types = append(types, ev["type"].(string))
		}
		for _, want := range []string{"email_verification_sent", "email_verified"} {
			if !slices.Contains(types, want) {
				t.Errorf("no %s in the audit trail %v", want, types)
			}
		}
	})
}

func TestVerificationRequired(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "required"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		login := func(pw string) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": pw})
		}
		login("wrong-Password-123").ExpectProblem(401, "invalid_credentials") // the state shows only to the password
		login(apitest.StrongPassword).ExpectProblem(403, "email_unverified")
		deliverMail(e, 1)
		verify(e, verifyToken(t, srv, "ada@example.com", confirmSubject)).Expect(200)
		login(apitest.StrongPassword).Expect(200)
		e.AdminLogin() // the bootstrap admin starts verified
	})
}

func TestResendVerification(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		deliverMail(e, 1)
		first := verifyToken(t, srv, "ada@example.com", confirmSubject)

		var bodies []string
		for _, addr := range []string{"ada@example.com", "nobody@example.com", "root@example.com"} {
			bodies = append(bodies, string(resend(e, addr).Expect(http.StatusAccepted).Body))
		}
		if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
			t.Errorf("resend answers differ: %q", bodies)
		}
		deliverMail(e, 1) // only the unverified account gets one
		second := verifyToken(t, srv, "ada@example.com", confirmSubject)
		if len(mailsTo(t, srv, "root@example.com")) != 0 || len(mailsTo(t, srv, "nobody@example.com")) != 0 {
			t.Error("a mail went to a verified or unknown address")
		}
		verify(e, first).ExpectProblem(400, "invalid_token") // superseded
		verify(e, second).Expect(200)
		resend(e, "ada@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 0)
	})
}

func TestEmailChangeNeedsConfirmation(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk := e.SignupLogin("ada")
		deliverMail(e, 1)
		verify(e, verifyToken(t, srv, "ada@example.com", confirmSubject)).Expect(200)
		patch := func(body map[string]any) *apitest.Response { return e.As(tk.AccessToken, "PATCH", "/v1/me", body) }

		patch(map[string]any{"email": "ada@new.example"}).ExpectProblem(401, "invalid_credentials")
		patch(map[string]any{"email": "ada@new.example", "password": "wrong-Password-123"}).ExpectProblem(401, "invalid_credentials")
		patch(map[string]any{"email": "root@example.com", "password": apitest.StrongPassword}).ExpectProblem(409, "email_taken")
		u := patch(map[string]any{"email": "ada@new.example", "password": apitest.StrongPassword, "first_name": "Ada"}).
			Expect(200).JSON()["user"].(map[string]any)
		if u["email"] != "ada@example.com" || u["pending_email"] != "ada@new.example" || u["email_verified"] != true || u["first_name"] != "Ada" {
			t.Fatalf("after asking for a new address %v; want the old one verified, the new one pending, the name changed", u)
		}
		deliverMail(e, 2)
		tok := verifyToken(t, srv, "ada@new.example", changeSubject)
		notice := mailsTo(t, srv, "ada@example.com")
		if n := notice[len(notice)-1]; !strings.Contains(n.Header.Get("Subject"), "about to change") ||
			strings.Contains(n.Parts["text/plain"], "token") || strings.Contains(n.Parts["text/plain"], "http") {
			t.Errorf("the notice to the old address %q: want one without a link:\n%s", n.Header.Get("Subject"), n.Parts["text/plain"])
		}

		// Until the link is used, the old address is the account's.
		e.Login("ada@example.com", apitest.StrongPassword)
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada@new.example", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		forgotPW(e, "ada@new.example").Expect(http.StatusAccepted)
		forgotPW(e, "ada@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 1)
		if lastToken(t, srv, "ada@example.com") == "" || len(mailsTo(t, srv, "ada@new.example")) != 1 {
			t.Error("a reset link went to the unconfirmed address")
		}

		verify(e, tok).Expect(200)
		e.Login("ada@new.example", apitest.StrongPassword)
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada@example.com", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		if u := meOf(e, tk.AccessToken); u["email"] != "ada@new.example" || u["pending_email"] != nil || u["email_verified"] != true {
			t.Errorf("after confirming %v", u)
		}
		// The reset link mailed to the old address died with it.
		resetPW(e, lastToken(t, srv, "ada@example.com"), "another-Harbor-tunnel-77!").ExpectProblem(400, "invalid_token")
	})
}

// A newer request replaces the older; a password change cancels the change.
func TestEmailChangeSupersededAndCancelled(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk := e.SignupLogin("ada")
		change := func(addr string) {
			e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": addr, "password": apitest.StrongPassword}).Expect(200)
		}
		change("one@new.example")
		change("two@new.example")
		deliverMail(e, 5) // the signup's link, then a link and a notice each
		verify(e, verifyToken(t, srv, "one@new.example", changeSubject)).ExpectProblem(400, "invalid_token")
		second := verifyToken(t, srv, "two@new.example", changeSubject)

		e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{
			"old_password": apitest.StrongPassword, "new_password": "another-Harbor-tunnel-77!"}).Expect(200)
		verify(e, second).ExpectProblem(400, "invalid_token")
		tk = e.Login("ada", "another-Harbor-tunnel-77!")
		if u := meOf(e, tk.AccessToken); u["email"] != "ada@example.com" || u["pending_email"] != nil {
			t.Errorf("after a password change %v; want the change cancelled", u)
		}
	})
}

// Two accounts asking for one address: the first to confirm wins, the other gets 409.
func TestEmailChangeRace(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		a, b := e.SignupLogin("ada"), e.SignupLogin("bob")
		deliverMail(e, 2)
		want := map[string]any{"email": "shared@example.net", "password": apitest.StrongPassword}
		e.As(a.AccessToken, "PATCH", "/v1/me", want).Expect(200)
		first := verifyTokenAfter(t, e, srv, "shared@example.net")
		e.As(b.AccessToken, "PATCH", "/v1/me", want).Expect(200)
		second := verifyTokenAfter(t, e, srv, "shared@example.net")

		// Both links are used at once; exactly one address change wins.
		results := make(chan int, 2)
		for _, tok := range []string{first, second} {
			go func() {
				results <- e.WithT(t).Request("POST", "/v1/auth/email/verify", map[string]any{"token": tok}).Status
			}()
		}
		got := []int{<-results, <-results}
		slices.Sort(got)
		if !slices.Equal(got, []int{200, 409}) {
			t.Fatalf("concurrent confirmations answered %v; want one 200 and one 409", got)
		}
		owners := 0
		for _, tk := range []apitest.Tokens{a, b} {
			if meOf(e, tk.AccessToken)["email"] == "shared@example.net" {
				owners++
			}
		}
		if owners != 1 {
			t.Errorf("%d accounts hold the address", owners)
		}
	})
}

// verifyTokenAfter delivers what is queued and returns the newest change link to `to`.
func verifyTokenAfter(t *testing.T, e *apitest.Env, srv *smtptest.Server, to string) string {
	t.Helper()
	if _, err := e.App.Mail.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	return verifyToken(t, srv, to, changeSubject)
}

func TestAdminSetsEmailVerified(t *testing.T) {
	apitest.Each(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin()
		create := func(name string, verified bool) map[string]any {
			return e.As(admin.AccessToken, "POST", "/v1/users", map[string]any{
				"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "email_verified": verified,
			}).Expect(http.StatusCreated).JSON()["user"].(map[string]any)
		}
		if u := create("vouched", true); u["email_verified"] != true || u["email_verified_at"] == nil {
			t.Errorf("created with email_verified: %v", u)
		}
		plain := create("plain", false)
		if plain["email_verified"] != false {
			t.Errorf("created without email_verified: %v", plain)
		}
		patch := func(body map[string]any) map[string]any {
			return e.As(admin.AccessToken, "PATCH", "/v1/users/"+plain["id"].(string), body).Expect(200).JSON()["user"].(map[string]any)
		}
		if u := patch(map[string]any{"email_verified": true}); u["email_verified"] != true {
			t.Errorf("set verified: %v", u)
		}
		if u := patch(map[string]any{"email": "plain@new.example"}); u["email"] != "plain@new.example" || u["email_verified"] != false {
			t.Errorf("an admin's new address applies at once, unverified: %v", u)
		}
		if u := patch(map[string]any{"email": "plain@other.example", "email_verified": true}); u["email"] != "plain@other.example" || u["email_verified"] != true {
			t.Errorf("a new address with email_verified: %v", u)
		}
		if u := patch(map[string]any{"email_verified": false}); u["email_verified"] != false || u["email_verified_at"] != nil {
			t.Errorf("set unverified: %v", u)
		}
	})
}

// A mailed link's token shows in no log line, audit event or response, and
// is stored only as a MAC.
func TestEmailTokensStayPrivate(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t, smtptest.Config{})
		var logs apitest.LogBuffer
		e := apitest.New(t, dialect, smtpVars(srv, apitest.Vars{"EMAIL_VERIFICATION": "optional", "LOG_LEVEL": "debug"}), apitest.LogTo(&logs))
		tk := e.SignupLogin("ada")
		deliverMail(e, 1)
		first := verifyToken(t, srv, "ada@example.com", confirmSubject)
		verified := verify(e, first).Expect(200).Body
		e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": "ada@new.example", "password": apitest.StrongPassword}).Expect(200)
		deliverMail(e, 2)
		second := verifyToken(t, srv, "ada@new.example", changeSubject)
		var stored, plain int
		testdb.Must(t, dbOf(t, e).QueryRow(rebindQ(e, "SELECT count(*), count(CASE WHEN token_hash = ? THEN 1 END) FROM email_tokens"), []byte(second)).Scan(&stored, &plain))
		if stored == 0 || plain != 0 {
			t.Errorf("%d email tokens stored, %d as mailed; want them as MACs", stored, plain)
		}
		changed := verify(e, second).Expect(200).Body

		audit := e.As(e.AdminLogin().AccessToken, "GET", "/v1/audit?limit=200", nil).Expect(200).Body
		for _, tok := range []string{first, second} {
			for where, text := range map[string]string{"logs": logs.String(), "audit": string(audit),
				"verify answers": string(verified) + string(changed)} {
				if strings.Contains(text, tok) || strings.Contains(text, url.QueryEscape(tok)) {
					t.Errorf("%s hold a mailed token", where)
				}
			}
		}
	})
}
