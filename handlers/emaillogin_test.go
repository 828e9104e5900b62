package handlers_test

// Sign-in by email (API.md "Sign-in by email: codes and magic links;
// invitations"): POST /v1/auth/email/code mails an 8-digit code and a link
// PUBLIC_URL/magic-link?token=…, POST /v1/auth/email/code/verify signs in
// with either, once.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

const emailCodeSubject = "Your sign-in code"

var (
	// The code stands alone on its line of the text part.
	emailCodeLine = regexp.MustCompile(`(?m)^(\d{8})\r?$`)
	magicLinkRe   = regexp.MustCompile(`(\S+)/magic-link\?token=(\S+)`)
)

// signInMail is a sign-in mail as read: its code, its link's token, and the mail.
type signInMail struct {
	Code, Token string
	Mail        smtptest.Parsed
}

// requestCode asks for a sign-in code and waits for the work done after answering.
func requestCode(e *apitest.Env, email string, create bool) *apitest.Response {
	e.T.Helper()
	body := map[string]any{"email": email}
	if create {
		body["create"] = true
	}
	r := e.Request("POST", "/v1/auth/email/code", body)
	e.App.Accounts.Wait()
	return r
}

func verifyCode(e *apitest.Env, email, code string) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/email/code/verify", map[string]any{"email": email, "code": code})
}

func verifyMagic(e *apitest.Env, token string) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/email/code/verify", map[string]any{"token": token})
}

// readSignInMail reads the code and the link out of a sign-in mail, checking
// the subject and that both parts carry both, the HTML part the link as href.
func readSignInMail(t *testing.T, m smtptest.Parsed) signInMail {
	t.Helper()
	if s := m.Header.Get("Subject"); s != emailCodeSubject {
		t.Errorf("subject %q; want %q", s, emailCodeSubject)
	}
	text, html := m.Parts["text/plain"], m.Parts["text/html"]
	codes := emailCodeLine.FindAllStringSubmatch(text, -1)
	if len(codes) != 1 {
		t.Fatalf("want one 8-digit code on a line of its own in the text part:\n%s", text)
	}
	code := codes[0][1]
	link := magicLinkRe.FindStringSubmatch(text)
	if link == nil {
		t.Fatalf("no magic link in the text part:\n%s", text)
	}
	if link[1] != "http://authsvc.test" {
		t.Errorf("link base %q; want PUBLIC_URL http://authsvc.test", link[1])
	}
	if !strings.Contains(html, `href="`+link[0]+`"`) {
		t.Errorf("HTML part lacks the link %s as href:\n%s", link[0], html)
	}
	if !strings.Contains(html, code) {
		t.Errorf("HTML part lacks the code %s:\n%s", code, html)
	}
	tok, err := url.QueryUnescape(link[2])
	testdb.Must(t, err)
	if tok == code {
		t.Fatalf("the link's token is the code: %q", tok)
	}
	return signInMail{Code: code, Token: tok, Mail: m}
}

// lastSignInMail is the last sign-in mail the server received for to.
func lastSignInMail(t *testing.T, srv *smtptest.Server, to string) signInMail {
	t.Helper()
	got := mailsTo(t, srv, to)
	for i := len(got) - 1; i >= 0; i-- {
		if got[i].Header.Get("Subject") == emailCodeSubject {
			return readSignInMail(t, got[i])
		}
	}
	t.Fatalf("no sign-in mail for %s among %d mails", to, len(got))
	return signInMail{}
}

// mailCode asks for a code for email, delivers the mails queued and returns the sign-in mail.
func mailCode(e *apitest.Env, srv *smtptest.Server, email string) signInMail {
	t := e.T.(*testing.T)
	t.Helper()
	requestCode(e, email, false).Expect(http.StatusAccepted)
	flushMail(e)
	return lastSignInMail(t, srv, email)
}

// detailsOf decodes an audit event's details.
func detailsOf(t *testing.T, ev auditRow) map[string]any {
	t.Helper()
	var d map[string]any
	testdb.Must(t, json.Unmarshal([]byte(ev.Details), &d))
	return d
}

func userOf(r *apitest.Response) map[string]any {
	return r.JSON()["user"].(map[string]any)
}

func setStatus(t *testing.T, e *apitest.Env, id, status string) {
	t.Helper()
	testdb.Must(t, e.App.Store.UpdateUser(context.Background(), uuid.MustParse(id), e.Clock.Now(), store.UserUpdate{Status: new(status)}))
}

// holdWrites blocks every write to audit_events (every code request's work
// ends with one) until release: on SQLite the database's write lock, on
// PostgreSQL the table's.
func holdWrites(t *testing.T, e *apitest.Env) (release func()) {
	t.Helper()
	tx, err := dbOf(t, e).BeginTx(context.Background(), nil) // BEGIN IMMEDIATE on SQLite (_txlock=immediate)
	testdb.Must(t, err)
	if e.App.Store.Dialect() == store.Postgres {
		_, err = tx.Exec("LOCK TABLE audit_events IN EXCLUSIVE MODE") // reads go on, writes wait
	} else {
		_, err = tx.Exec("UPDATE users SET updated_at = updated_at WHERE 1 = 0") // holds the write lock whatever BEGIN took
	}
	testdb.Must(t, err)
	done := false
	release = func() {
		if !done {
			done = true
			testdb.Must(t, tx.Rollback())
		}
	}
	t.Cleanup(release)
	return release
}

// TestEmailCodeRequestRevealsNothing: the same 202 for an account that may
// sign in, an unknown address, a disabled and a pending account, and a
// create without EMAIL_LOGIN_SIGNUP; only the first gets a mail; every
// request is audited, with the reason when nothing was sent.
func TestEmailCodeRequestRevealsNothing(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		known := e.Signup("known")
		disabled := e.Signup("gone")
		pending := e.Signup("waiting")
		setStatus(t, e, idOf(disabled), "disabled")
		setStatus(t, e, idOf(pending), "pending")
		flushMail(e)

		type ask struct {
			email  string
			create bool
		}
		asks := []ask{
			{"known@example.com", false}, {"nobody@example.com", false}, {"gone@example.com", false},
			{"waiting@example.com", false}, {"newcomer@example.com", true},
		}
		answers := make([]*apitest.Response, len(asks))
		for i, a := range asks {
			answers[i] = requestCode(e, a.email, a.create).Expect(http.StatusAccepted)
		}
		if msg, _ := answers[0].JSON()["message"].(string); msg == "" {
			t.Fatalf("body %s; want a message", answers[0].Body)
		}
		for _, r := range answers[1:] {
			sameAnswerButRequestID(t, answers[0], r)
		}

		deliverMail(e, 1)
		if got := srv.Received(); len(got) != 1 || !slices.Equal(got[0].To, []string{"known@example.com"}) || got[0].From != "noreply@example.com" {
			t.Fatalf("mails %+v; want one, from noreply@example.com to known@example.com", got)
		}
		if n := countRows(t, e, "SELECT count(*) FROM email_codes"); n != 1 {
			t.Errorf("%d codes stored; want 1", n)
		}

		evs := auditRowsOf(t, e, "email_code_sent")
		if len(evs) != len(asks) {
			t.Fatalf("%d email_code_sent events; want %d: %+v", len(evs), len(asks), evs)
		}
		want := []struct{ user, mail, reason string }{
			{idOf(known), "queued", ""}, {"", "not_sent", "unknown_email"}, {idOf(disabled), "not_sent", "account_disabled"},
			{idOf(pending), "not_sent", "account_pending"}, {"", "not_sent", "unknown_email"},
		}
		for i, w := range want {
			d := detailsOf(t, evs[i])
			if evs[i].UserID != w.user || evs[i].ActorID != "" || d["mail"] != w.mail || (w.reason != "" && d["reason"] != w.reason) {
				t.Errorf("event for %s: %+v; want user %q, mail %s, reason %q", asks[i].email, evs[i], w.user, w.mail, w.reason)
			}
			if strings.Contains(evs[i].Details, "@") {
				t.Errorf("audit details hold an address: %s", evs[i].Details)
			}
		}
	})
}

// TestEmailCodeAnswerDoesNotWaitForTheWork: the lookup, the code and the
// mail are done after the answer, so its timing cannot tell a known address
// from another. While every write the work needs is blocked, each request
// is answered, and nothing of the work has happened; released, it all does.
func TestEmailCodeAnswerDoesNotWaitForTheWork(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_LOGIN_SIGNUP": "true"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("known")
		setStatus(t, e, idOf(e.Signup("gone")), "disabled")
		flushMail(e)
		e.App.Accounts.Wait()
		before := countRows(t, e, "SELECT count(*) FROM audit_events")

		release := holdWrites(t, e)
		bodies := []map[string]any{
			{"email": "known@example.com"}, {"email": "nobody@example.com"}, {"email": "gone@example.com"},
			{"email": "fresh@example.com", "create": true},
		}
		var answers []*apitest.Response
		for _, b := range bodies {
			got := make(chan *apitest.Response, 1)
			go func() { got <- e.WithT(t).Request("POST", "/v1/auth/email/code", b) }()
			select {
			case r := <-got:
				answers = append(answers, r.Expect(http.StatusAccepted))
			case <-time.After(5 * time.Second):
				release()
				t.Fatalf("POST /v1/auth/email/code %v waited for the mail work (blocked on the database)", b)
			}
		}
		for _, r := range answers[1:] {
			sameAnswerButRequestID(t, answers[0], r)
		}
		// Answered, and none of the work could be done yet.
		if n := countRows(t, e, "SELECT count(*) FROM audit_events"); n != before {
			t.Fatalf("%d audit events written before the answers; want the work after them", n-before)
		}
		if n := countRows(t, e, "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"); n != 0 {
			t.Fatalf("%d mails queued while the work was blocked", n)
		}
		release()
		e.App.Accounts.Wait()
		if evs := auditRowsOf(t, e, "email_code_sent"); len(evs) != len(bodies) {
			t.Fatalf("%d email_code_sent events after the work; want %d", len(evs), len(bodies))
		}
		deliverMail(e, 2) // known, and fresh (a sign-up)
		lastSignInMail(t, srv, "known@example.com")
		lastSignInMail(t, srv, "fresh@example.com")
	})
}

func TestEmailCodeMail(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		stored := userOf(e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "Ada@Example.com", "username": "ada", "password": apitest.StrongPassword,
		}).Expect(201))["email"].(string) // the domain is lower-cased
		flushMail(e)
		// The address is matched case-insensitively; the mail goes to the stored spelling.
		requestCode(e, "  ada@EXAMPLE.com ", false).Expect(http.StatusAccepted)
		rows := append(dumpTable(t, e, "email_codes"), dumpTable(t, e, "mail_outbox")...)
		rows = append(rows, dumpTable(t, e, "audit_events")...)
		deliverMail(e, 1)
		raw := srv.Received()[0]
		if !slices.Equal(raw.To, []string{stored}) || raw.From != "noreply@example.com" {
			t.Fatalf("mail from %q to %q; want from noreply@example.com to %s", raw.From, raw.To, stored)
		}
		m := readSignInMail(t, smtptest.Parse(t, raw.Data))
		if text := m.Mail.Parts["text/plain"]; !strings.Contains(text, "10 minutes") {
			t.Errorf("mail does not give EMAIL_CODE_TTL (10 minutes):\n%s", text)
		}
		// Neither the link's token nor the code is stored in usable form.
		checkNoPlainToken(t, rows, m.Token)
		checkNoPlainToken(t, dumpTable(t, e, "mail_outbox"), m.Token)
		for _, v := range append(dumpTable(t, e, "email_codes"), dumpTable(t, e, "audit_events")...) {
			if strings.Contains(string(v), m.Code) {
				t.Fatalf("the database holds the code: %q", v)
			}
		}
		// A new code and a new token each time.
		m2 := mailCode(e, srv, stored)
		if m2.Code == m.Code && m2.Token == m.Token {
			t.Fatal("the same code and link twice")
		}
	})
}

func TestEmailCodeSignIn(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		ada := e.Signup("ada")
		if ada["email_verified"] != false {
			t.Fatalf("signup with EMAIL_VERIFICATION=off: %v; want the address unverified", ada)
		}
		flushMail(e)
		m := mailCode(e, srv, "ada@example.com")
		verifyCode(e, "ada@example.com", "00000000").ExpectProblem(401, "invalid_code")

		r := verifyCode(e, "ADA@example.com", m.Code).Expect(200)
		var tk apitest.Tokens
		r.Decode(&tk)
		if tk.AccessToken == "" || tk.RefreshToken == "" || tk.SessionID == "" || tk.TokenType != "Bearer" {
			t.Fatalf("verify answered %s; want a token response", r.Body)
		}
		if tk.User["email_verified"] != true || tk.User["id"] != idOf(ada) {
			t.Errorf("user in the token response %v; want ada, verified", tk.User)
		}
		if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, []string{"email"}) {
			t.Errorf("amr claim %v; want [email]", got)
		}
		me := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()
		if fmt.Sprint(me["amr"]) != "[email]" {
			t.Errorf("GET /v1/me amr %v; want [email]", me["amr"])
		}
		if u := me["user"].(map[string]any); u["email_verified"] != true || u["email_verified_at"] == nil {
			t.Errorf("after a sign-in by code: %v; want the address verified", u)
		}
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200)

		// Single use, and its link went with it.
		verifyCode(e, "ada@example.com", m.Code).ExpectProblem(401, "invalid_code")
		verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")

		evs := auditRowsOf(t, e, "login_succeeded")
		last := evs[len(evs)-1]
		d := detailsOf(t, last)
		if last.UserID != idOf(ada) || d["method"] != "email_code" || fmt.Sprint(d["amr"]) != "[email]" || d["session_id"] != tk.SessionID {
			t.Errorf("login_succeeded %+v; want ada's, method email, amr [email], the session", last)
		}
		ver := auditRowsOf(t, e, "email_verified")
		if len(ver) != 1 || ver[0].UserID != idOf(ada) || detailsOf(t, ver[0])["by"] != "email_code" {
			t.Errorf("email_verified events %+v; want one for ada, by email_code", ver)
		}

		// An account disabled after its code was mailed does not sign in with it.
		bob := e.Signup("bob")
		m = mailCode(e, srv, "bob@example.com")
		setStatus(t, e, idOf(bob), "disabled")
		verifyCode(e, "bob@example.com", m.Code).ExpectProblem(403, "account_disabled")
		verifyMagic(e, m.Token).ExpectProblem(403, "account_disabled")
	})
}

// TestEmailLinkSignIn: the link's token alone signs in, by POST only. Opening
// the link (a mail scanner does) reaches no API route and consumes nothing.
func TestEmailLinkSignIn(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		m := mailCode(e, srv, "ada@example.com")

		q := "?token=" + url.QueryEscape(m.Token)
		if r := e.Request("GET", "/v1/auth/email/code/verify"+q, nil); r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("GET of the verify endpoint: %d %s; want 405", r.Status, r.Body)
		}
		for _, method := range []string{"GET", "HEAD"} {
			if r := e.Request(method, "/magic-link"+q, nil); r.Status != http.StatusNotFound {
				t.Fatalf("%s /magic-link: %d %s; want 404 (the page is the app's, not an API route)", method, r.Status, r.Body)
			}
		}
		if n := countRows(t, e, "SELECT count(*) FROM email_codes WHERE used_at IS NULL"); n != 1 {
			t.Fatalf("%d live codes after the GETs; want the one, unused", n)
		}

		var tk apitest.Tokens
		verifyMagic(e, " "+m.Token+" ").Expect(200).Decode(&tk)
		if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, []string{"email"}) {
			t.Errorf("amr %v; want [email]", got)
		}
		if meOf(e, tk.AccessToken)["email_verified"] != true {
			t.Error("a sign-in by link does not verify the address")
		}
		verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")
		verifyCode(e, "ada@example.com", m.Code).ExpectProblem(401, "invalid_code")
		verifyMagic(e, "bm90LWEtdG9rZW4").ExpectProblem(401, "invalid_code")
	})
}

func TestEmailCodeSuperseded(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		first := mailCode(e, srv, "ada@example.com")
		second := mailCode(e, srv, "ada@example.com")
		verifyMagic(e, first.Token).ExpectProblem(401, "invalid_code")
		if first.Code != second.Code {
			verifyCode(e, "ada@example.com", first.Code).ExpectProblem(401, "invalid_code")
		}
		if n := countRows(t, e, "SELECT count(*) FROM email_codes"); n != 1 {
			t.Errorf("%d codes stored for one address; want 1", n)
		}
		verifyCode(e, "ada@example.com", second.Code).Expect(200)
		verifyMagic(e, second.Token).ExpectProblem(401, "invalid_code") // used with its code

		// A newer one kills an older link the same way.
		third := mailCode(e, srv, "ada@example.com")
		fourth := mailCode(e, srv, "ada@example.com")
		verifyMagic(e, third.Token).ExpectProblem(401, "invalid_code")
		if third.Code != fourth.Code {
			verifyCode(e, "ada@example.com", third.Code).ExpectProblem(401, "invalid_code")
		}
		verifyMagic(e, fourth.Token).Expect(200)
	})
}

func TestEmailCodeExpiry(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			e.Signup("ada")
			flushMail(e)
			m := mailCode(e, srv, "ada@example.com")
			e.Clock.Advance(11 * time.Minute)
			verifyCode(e, "ada@example.com", m.Code).ExpectProblem(401, "invalid_code")
			verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")
			verifyCode(e, "ada@example.com", mailCode(e, srv, "ada@example.com").Code).Expect(200) // a new one works
		})
	})
	t.Run("EMAIL_CODE_TTL", func(t *testing.T) {
		eachDBMail(t, apitest.Vars{"EMAIL_CODE_TTL": "20m"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			e.Signup("early")
			e.Signup("late")
			e.Signup("link")
			flushMail(e)
			early := mailCode(e, srv, "early@example.com")
			if text := early.Mail.Parts["text/plain"]; !strings.Contains(text, "20 minutes") {
				t.Errorf("mail does not give EMAIL_CODE_TTL:\n%s", text)
			}
			late := mailCode(e, srv, "late@example.com")
			link := mailCode(e, srv, "link@example.com")
			e.Clock.Advance(11 * time.Minute) // beyond the default
			verifyCode(e, "early@example.com", early.Code).Expect(200)
			e.Clock.Advance(9*time.Minute - time.Second)
			verifyMagic(e, link.Token).Expect(200) // just in time
			e.Clock.Advance(time.Second)
			verifyCode(e, "late@example.com", late.Code).ExpectProblem(401, "invalid_code") // expired on the dot
			verifyMagic(e, late.Token).ExpectProblem(401, "invalid_code")
		})
	})
}

// TestEmailCodeWrongCodesLock: a wrong code counts toward the account's
// lockout as a wrong password does, and the lock holds for every way in.
func TestEmailCodeWrongCodesLock(t *testing.T) {
	eachDBMail(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		ada := e.Signup("ada")
		flushMail(e)
		m := mailCode(e, srv, "ada@example.com")
		wrong := "00000000"
		if m.Code == wrong {
			wrong = "11111111"
		}
		for range 3 {
			verifyCode(e, "ada@example.com", wrong).ExpectProblem(401, "invalid_code")
		}
		r := verifyCode(e, "ada@example.com", m.Code).ExpectProblem(429, "too_many_attempts")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		verifyMagic(e, m.Token).ExpectProblem(429, "too_many_attempts")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).
			ExpectProblem(429, "too_many_attempts")

		fails := auditRowsOf(t, e, "login_failed")
		if len(fails) != 3 || fails[0].UserID != idOf(ada) || detailsOf(t, fails[0])["reason"] != "invalid_code" {
			t.Errorf("login_failed events %+v; want 3 for ada, reason invalid_code", fails)
		}
		if locks := auditRowsOf(t, e, "login_locked"); len(locks) != 1 || locks[0].UserID != idOf(ada) {
			t.Errorf("login_locked events %+v; want one for ada", locks)
		}

		// Mixed with wrong passwords, the count is one.
		e.Signup("bob")
		flushMail(e)
		m = mailCode(e, srv, "bob@example.com")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "bob", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		verifyCode(e, "bob@example.com", wrong).ExpectProblem(401, "invalid_code")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "bob", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		verifyCode(e, "bob@example.com", m.Code).ExpectProblem(429, "too_many_attempts")

		// After the lock, the code (still live) signs in, and the count starts again.
		e.Clock.Advance(5 * time.Minute)
		e.Signup("cyd")
		flushMail(e)
		m = mailCode(e, srv, "cyd@example.com")
		verifyCode(e, "cyd@example.com", wrong).ExpectProblem(401, "invalid_code")
		verifyCode(e, "cyd@example.com", wrong).ExpectProblem(401, "invalid_code")
		verifyCode(e, "cyd@example.com", m.Code).Expect(200)
	})
}

// TestEmailCodeDiesAfterFiveWrongTries, with the lockout off.
func TestEmailCodeDiesAfterFiveWrongTries(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		for _, c := range []struct {
			name   string
			wrong  int
			status int
		}{{"four", 4, 200}, {"five", 5, 401}} {
			e.Signup(c.name)
			flushMail(e)
			m := mailCode(e, srv, c.name+"@example.com")
			wrong := "00000000"
			if m.Code == wrong {
				wrong = "11111111"
			}
			for range c.wrong {
				verifyCode(e, c.name+"@example.com", wrong).ExpectProblem(401, "invalid_code")
			}
			if c.status == 200 {
				verifyCode(e, c.name+"@example.com", m.Code).Expect(200)
				continue
			}
			verifyCode(e, c.name+"@example.com", m.Code).ExpectProblem(401, "invalid_code")
			verifyCode(e, c.name+"@example.com", m.Code).ExpectProblem(401, "invalid_code")
			// A new code is a new count.
			verifyCode(e, c.name+"@example.com", mailCode(e, srv, c.name+"@example.com").Code).Expect(200)
		}
	})
}

// TestEmailCodeIsBoundToItsAddress: a code proves the mailbox it went to, no other.
func TestEmailCodeIsBoundToItsAddress(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		e.Signup("bob")
		e.Signup("cyd")
		flushMail(e)
		ada := mailCode(e, srv, "ada@example.com")
		bob := mailCode(e, srv, "bob@example.com")
		if ada.Code != bob.Code {
			verifyCode(e, "bob@example.com", ada.Code).ExpectProblem(401, "invalid_code")
		}
		verifyCode(e, "cyd@example.com", ada.Code).ExpectProblem(401, "invalid_code")    // cyd has no code
		verifyCode(e, "nobody@example.com", ada.Code).ExpectProblem(401, "invalid_code") // no account
		var tk apitest.Tokens
		verifyCode(e, "ada@example.com", ada.Code).Expect(200).Decode(&tk)
		if tk.User["username"] != "ada" {
			t.Fatalf("ada's code signed in %v", tk.User["username"])
		}
		verifyMagic(e, bob.Token).Expect(200).Decode(&tk)
		if tk.User["username"] != "bob" {
			t.Fatalf("bob's link signed in %v", tk.User["username"])
		}
	})
}

func TestEmailCodeValidation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		for name, tc := range map[string]struct {
			body        any
			code, field string
		}{
			"missing email":  {map[string]any{}, "validation_failed", "email"},
			"not an email":   {map[string]any{"email": "nobody"}, "validation_failed", "email"},
			"a username":     {map[string]any{"email": "root"}, "validation_failed", "email"},
			"unknown field":  {map[string]any{"email": "a@example.com", "password": "x"}, "validation_failed", "password"},
			"wrong type":     {map[string]any{"email": 7}, "validation_failed", "email"},
			"create string":  {map[string]any{"email": "a@example.com", "create": "yes"}, "validation_failed", "create"},
			"malformed json": {`{"email":`, "malformed_json", ""},
			"empty body":     {"", "malformed_json", ""},
			"two objects":    {`{"email":"a@example.com"}{"email":"b@example.com"}`, "malformed_json", ""},
		} {
			t.Run("request "+name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/email/code", tc.body).ExpectProblem(400, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, "")
				}
			})
		}
		e.Request("POST", "/v1/auth/email/code", `{"email":"a@example.com"}`, "Content-Type", "text/plain").
			ExpectProblem(415, "unsupported_media_type")

		for name, tc := range map[string]struct {
			body        any
			code, field string
		}{
			"neither":            {map[string]any{}, "validation_failed", "email"},
			"email only":         {map[string]any{"email": "a@example.com"}, "validation_failed", "code"},
			"code only":          {map[string]any{"code": "12345678"}, "validation_failed", "email"},
			"token and email":    {map[string]any{"token": "abc", "email": "a@example.com"}, "validation_failed", "token"},
			"token and code":     {map[string]any{"token": "abc", "code": "12345678"}, "validation_failed", "token"},
			"all three":          {map[string]any{"token": "abc", "email": "a@example.com", "code": "12345678"}, "validation_failed", "token"},
			"seven digits":       {map[string]any{"email": "a@example.com", "code": "1234567"}, "validation_failed", "code"},
			"nine digits":        {map[string]any{"email": "a@example.com", "code": "123456789"}, "validation_failed", "code"},
			"letters":            {map[string]any{"email": "a@example.com", "code": "1234abcd"}, "validation_failed", "code"},
			"code as a number":   {map[string]any{"email": "a@example.com", "code": 12345678}, "validation_failed", "code"},
			"bad email":          {map[string]any{"email": "nobody", "code": "12345678"}, "validation_failed", "email"},
			"overlong token":     {map[string]any{"token": strings.Repeat("A", 257)}, "validation_failed", "token"},
			"unknown field":      {map[string]any{"email": "a@example.com", "code": "12345678", "login": "a"}, "validation_failed", "login"},
			"malformed json":     {`{"token":`, "malformed_json", ""},
			"unknown email code": {map[string]any{"email": "a@example.com", "code": "12345678"}, "invalid_code", ""},
			"unknown token":      {map[string]any{"token": "bm90LWEtdG9rZW4"}, "invalid_code", ""},
		} {
			t.Run("verify "+name, func(t *testing.T) {
				e := e.WithT(t)
				status := 400
				if tc.code == "invalid_code" {
					status = 401
				}
				r := e.Request("POST", "/v1/auth/email/code/verify", tc.body).ExpectProblem(status, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, "")
				}
			})
		}
		e.Request("POST", "/v1/auth/email/code/verify", `{"token":"abc"}`, "Content-Type", "text/plain").
			ExpectProblem(415, "unsupported_media_type")
	})
}

func TestEmailLoginDisabled(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_LOGIN": "false", "EMAIL_LOGIN_SIGNUP": "true"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		requestCode(e, "ada@example.com", false).ExpectProblem(404, "email_login_disabled")
		requestCode(e, "new@example.com", true).ExpectProblem(404, "email_login_disabled")
		verifyCode(e, "ada@example.com", "12345678").ExpectProblem(404, "email_login_disabled")
		verifyMagic(e, "bm90LWEtdG9rZW4").ExpectProblem(404, "email_login_disabled")
		deliverMail(e, 0)
		if evs := auditRowsOf(t, e, "email_code_sent"); len(evs) != 0 {
			t.Errorf("email_code_sent events %+v with EMAIL_LOGIN=false", evs)
		}
		// Invalid bodies are still invalid.
		e.Request("POST", "/v1/auth/email/code", map[string]any{"email": "nobody"}).ExpectProblem(400, "validation_failed")
	})
}

func TestEmailCodeMailRateLimit(t *testing.T) {
	eachDBMail(t, apitest.Vars{"MAIL_RATE_LIMIT": "2/h"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		e.Signup("bob")
		flushMail(e)
		var answers []*apitest.Response
		for range 3 {
			answers = append(answers, requestCode(e, "ada@example.com", false).Expect(http.StatusAccepted))
		}
		sameAnswerButRequestID(t, answers[0], answers[2])
		deliverMail(e, 2) // the third request sent nothing
		// Per address: bob's is still sent.
		requestCode(e, "Bob@example.com", false).Expect(http.StatusAccepted)
		deliverMail(e, 1)

		var reasons []string
		for _, ev := range auditRowsOf(t, e, "email_code_sent") {
			d := detailsOf(t, ev)
			reasons = append(reasons, fmt.Sprint(d["mail"], "/", d["reason"]))
		}
		if want := []string{"queued/<nil>", "queued/<nil>", "not_sent/rate_limited", "queued/<nil>"}; !slices.Equal(reasons, want) {
			t.Errorf("email_code_sent events %v; want %v", reasons, want)
		}
		// The second code is the live one.
		verifyCode(e, "ada@example.com", lastSignInMail(t, srv, "ada@example.com").Code).Expect(200)
		e.Clock.Advance(time.Hour)
		requestCode(e, "ada@example.com", false).Expect(http.StatusAccepted)
		deliverMail(e, 1) // the window has passed
	})
}

// TestEmailCodeWithTOTP: a sign-in by email is a first factor: with TOTP on,
// the second step follows, and the session records both.
func TestEmailCodeWithTOTP(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk, secret, _ := mfaUser(e, "ada")
		admin := e.AdminLogin().AccessToken
		// Verified: the sign-in is no first proof, which would end the factors.
		e.As(admin, "PATCH", "/v1/users/"+idOf(tk.User), map[string]any{"email_verified": true}).Expect(200)
		flushMail(e)
		m := mailCode(e, srv, "ada@example.com")

		step := verifyCode(e, "ada@example.com", m.Code).Expect(200).JSON()
		if step["mfa_required"] != true || step["access_token"] != nil || step["refresh_token"] != nil || step["mfa_token"] == nil {
			t.Fatalf("verify with TOTP on answered %v; want mfa_required and no tokens", step)
		}
		if fmt.Sprint(step["methods"]) != "[totp recovery_code]" {
			t.Errorf("methods %v", step["methods"])
		}
		verifyCode(e, "ada@example.com", m.Code).ExpectProblem(401, "invalid_code") // the code is spent
		secondStep(e, step["mfa_token"].(string), map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		var done apitest.Tokens
		secondStep(e, step["mfa_token"].(string), map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).Expect(200).Decode(&done)
		want := []string{"email", "otp", "mfa"}
		if got := claimAMR(t, done.AccessToken); !slices.Equal(got, want) {
			t.Errorf("amr %v; want %v", got, want)
		}
		if got := e.As(done.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["amr"]; fmt.Sprint(got) != "[email otp mfa]" {
			t.Errorf("GET /v1/me amr %v", got)
		}
		sess := e.As(done.AccessToken, "GET", "/v1/auth/session", nil).Expect(200).JSON()["session"].(map[string]any)
		if fmt.Sprint(sess["amr"]) != "[email otp mfa]" {
			t.Errorf("session amr %v", sess["amr"])
		}
		// The password and TOTP are untouched, and the earlier session lives on.
		if u := meOf(e, done.AccessToken); u["has_password"] != true || u["mfa"].(map[string]any)["totp"] != true {
			t.Errorf("after the sign-in: %v", u)
		}
		e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
		evs := auditRowsOf(t, e, "login_succeeded")
		if d := detailsOf(t, evs[len(evs)-1]); d["method"] != "email_code" || fmt.Sprint(d["amr"]) != "[email otp mfa]" {
			t.Errorf("login_succeeded details %v; want method email, amr [email otp mfa]", d)
		}
	})
}

func TestEmailCodeSignup(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		eachDBMail(t, apitest.Vars{"EMAIL_LOGIN_SIGNUP": "true"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			// Without create, an unknown address gets nothing.
			requestCode(e, "new@example.com", false).Expect(http.StatusAccepted)
			deliverMail(e, 0)
			requestCode(e, "New@example.com", true).Expect(http.StatusAccepted)
			deliverMail(e, 1)
			m := lastSignInMail(t, srv, "New@example.com")
			if n := countRows(t, e, "SELECT count(*) FROM users WHERE email = ?", "New@example.com"); n != 0 {
				t.Fatal("the account exists before the code is used")
			}
			if evs := auditRowsOf(t, e, "email_code_sent"); len(evs) != 2 || detailsOf(t, evs[1])["signup"] != true {
				t.Errorf("email_code_sent events %+v; want the second a sign-up", evs)
			}

			var tk apitest.Tokens
			verifyCode(e, "new@example.com", m.Code).Expect(200).Decode(&tk)
			u := meOf(e, tk.AccessToken)
			if u["email"] != "New@example.com" || u["email_verified"] != true || u["has_password"] != false ||
				fmt.Sprint(u["roles"]) != "[user]" || u["status"] != "active" || u["username"] == "" {
				t.Errorf("account made by a code: %v", u)
			}
			if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, []string{"email"}) {
				t.Errorf("amr %v", got)
			}
			if evs := auditRowsOf(t, e, "signup"); len(evs) != 1 || evs[0].UserID != u["id"] {
				t.Errorf("signup events %+v", evs)
			}
			verifyCode(e, "new@example.com", m.Code).ExpectProblem(401, "invalid_code")
			verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")

			// Now known: a create asks for a plain sign-in code.
			requestCode(e, "new@example.com", true).Expect(http.StatusAccepted)
			deliverMail(e, 1)
			verifyMagic(e, lastSignInMail(t, srv, "New@example.com").Token).Expect(200)
			if n := countRows(t, e, "SELECT count(*) FROM users"); n != 2 {
				t.Errorf("%d users; want root and the new one", n)
			}

			// A username-like local part that is taken gets another username.
			e.Signup("taken")
			requestCode(e, "taken@other.example", true).Expect(http.StatusAccepted)
			flushMail(e)
			verifyCode(e, "taken@other.example", lastSignInMail(t, srv, "taken@other.example").Code).Expect(200).Decode(&tk)
			if tk.User["username"] == "taken" || tk.User["username"] == "" {
				t.Errorf("username %v for taken@other.example; want a free one", tk.User["username"])
			}
		})
	})
	t.Run("approval", func(t *testing.T) {
		eachDBMail(t, apitest.Vars{"EMAIL_LOGIN_SIGNUP": "true", "SIGNUP_REQUIRES_APPROVAL": "true"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			requestCode(e, "new@example.com", true).Expect(http.StatusAccepted)
			deliverMail(e, 1)
			m := lastSignInMail(t, srv, "new@example.com")
			verifyCode(e, "new@example.com", m.Code).ExpectProblem(403, "account_pending")
			var users struct {
				Users []map[string]any `json:"users"`
			}
			e.As(e.AdminLogin().AccessToken, "GET", "/v1/users?q=new@example.com", nil).Expect(200).Decode(&users)
			if len(users.Users) != 1 || users.Users[0]["status"] != "pending" || users.Users[0]["email_verified"] != true || users.Users[0]["has_password"] != false {
				t.Fatalf("users %v; want one, pending, verified, without a password", users.Users)
			}
			verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")
			// Pending: no new code until approved.
			requestCode(e, "new@example.com", true).Expect(http.StatusAccepted)
			deliverMail(e, 0)
		})
	})
	t.Run("off", func(t *testing.T) {
		eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			requestCode(e, "new@example.com", true).Expect(http.StatusAccepted)
			deliverMail(e, 0)
			verifyCode(e, "new@example.com", "12345678").ExpectProblem(401, "invalid_code")
			if evs := auditRowsOf(t, e, "email_code_sent"); len(evs) != 1 || detailsOf(t, evs[0])["reason"] != "unknown_email" {
				t.Errorf("email_code_sent events %+v; want one, not sent: unknown_email", evs)
			}
		})
	})
}

// TestEmailCodeEndsAPreHijack: whoever signed up with someone else's address
// (unverified: EMAIL_VERIFICATION=optional) keeps no way in once the owner
// signs in by a code: the password and every session end.
func TestEmailCodeEndsAPreHijack(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		const attackerPW = "attacker-Chose-this-41!"
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "victim@example.com", "username": "victim", "password": attackerPW,
		}).Expect(201)
		attacker := e.Login("victim", attackerPW)
		if meOf(e, attacker.AccessToken)["email_verified"] != false {
			t.Fatal("the attacker's account is verified")
		}
		flushMail(e) // the verification link, to the victim's mailbox

		m := mailCode(e, srv, "victim@example.com")
		var victim apitest.Tokens
		verifyCode(e, "victim@example.com", m.Code).Expect(200).Decode(&victim)

		e.As(attacker.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": attacker.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "victim", "password": attackerPW}).ExpectProblem(401, "invalid_credentials")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "victim@example.com", "password": attackerPW}).ExpectProblem(401, "invalid_credentials")

		u := meOf(e, victim.AccessToken)
		if u["has_password"] != false || u["email_verified"] != true {
			t.Errorf("victim's account after the sign-in: %v; want no password, verified", u)
		}
		evs := auditRowsOf(t, e, "email_verified")
		if len(evs) != 1 {
			t.Fatalf("email_verified events %+v", evs)
		}
		if d := detailsOf(t, evs[0]); d["password_removed"] != true || d["sessions_revoked"] != float64(1) {
			t.Errorf("email_verified details %v; want password_removed, 1 session revoked", d)
		}
		// A second sign-in is no first proof: the victim's own session stays.
		verifyCode(e, "victim@example.com", mailCode(e, srv, "victim@example.com").Code).Expect(200)
		e.As(victim.AccessToken, "GET", "/v1/me", nil).Expect(200)
	})
}

// TestEmailCodeFirstProofEndsAPendingEmailChange: an attacker who signed up
// with the victim's address and asked to move the account to an address of
// their own must not be able to confirm that move once the victim has proved
// the address by a code (a password reset's first proof cancels it too).
func TestEmailCodeFirstProofEndsAPendingEmailChange(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		const attackerPW = "attacker-Chose-this-41!"
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "victim@example.com", "username": "victim", "password": attackerPW,
		}).Expect(201)
		attacker := e.Login("victim", attackerPW)
		e.As(attacker.AccessToken, "PATCH", "/v1/me", map[string]any{"email": "attacker@evil.example", "password": attackerPW}).Expect(200)
		flushMail(e)
		change := verifyToken(t, srv, "attacker@evil.example", changeSubject)

		m := mailCode(e, srv, "victim@example.com")
		var victim apitest.Tokens
		verifyCode(e, "victim@example.com", m.Code).Expect(200).Decode(&victim)
		if u := meOf(e, victim.AccessToken); u["pending_email"] != nil {
			t.Errorf("pending_email %v after the owner's first proof; want none", u["pending_email"])
		}
		verify(e, change).ExpectProblem(400, "invalid_token")
		if u := meOf(e, victim.AccessToken); u["email"] != "victim@example.com" {
			t.Fatalf("the attacker moved the victim's account to %v", u["email"])
		}
	})
}

// TestEmailCodeFirstProofRemovesFactors: with EMAIL_VERIFICATION=off an
// unverified account may hold factors; the first sign-in by code proves the
// address and removes them (as a reset's first proof does): TOTP, passkeys,
// personal access tokens, the password, the sessions.
func TestEmailCodeFirstProofRemovesFactors(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		tk, _, _ := mfaUser(e, "ada")
		d := newDevice(t, idOf(tk.User))
		d.register(e, tk.AccessToken)
		pat := e.As(tk.AccessToken, "POST", "/v1/me/tokens", map[string]any{"name": "script", "expires_in": 3600, "password": apitest.StrongPassword}).
			Expect(201).JSON()["secret"].(string)
		e.As(pat, "GET", "/v1/me", nil).Expect(200)
		flushMail(e)

		m := mailCode(e, srv, "ada@example.com")
		r := verifyCode(e, "ada@example.com", m.Code).Expect(200).JSON()
		if r["mfa_required"] == true || r["access_token"] == nil {
			t.Fatalf("first proof of an address with TOTP from before it: %v; want the tokens (TOTP removed)", r)
		}
		u := meOf(e, r["access_token"].(string))
		if mfa := u["mfa"].(map[string]any); mfa["totp"] != false || mfa["passkeys"] != float64(0) || mfa["recovery_codes_left"] != float64(0) ||
			u["has_password"] != false || u["email_verified"] != true {
			t.Errorf("after the first proof: %v; want no factors, no password, verified", u)
		}
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).ExpectProblem(401, "invalid_credentials")
		d.cred.Counter++
		d.login(e).ExpectProblem(401, "invalid_passkey")
		deliverMail(e, 1) // the notice of what was removed
		if s := strings.Join(subjectsTo(t, srv, "ada@example.com"), "|"); !strings.Contains(s, "were removed") {
			t.Errorf("no notice of the removed factors; mails: %q", s)
		}
		if r := e.As(pat, "GET", "/v1/me", nil); r.Status != 401 {
			t.Errorf("a personal access token made before the first proof still works: %d %s", r.Status, r.Body)
		}
	})
}

func TestEmailCodeCookieMode(t *testing.T) {
	eachDBMail(t, apitest.Vars{"COOKIE_MODE": "true", "CORS_ORIGINS": "http://app.test"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		m := mailCode(e, srv, "ada@example.com")
		b := &browser{t: t, e: e}
		r := b.send("POST", "/v1/auth/email/code/verify", map[string]any{"email": "ada@example.com", "code": m.Code, "remember": true}, "Origin", "http://app.test").
			Expect(200)
		b.keep(r, 720*time.Hour)
		if r.Header.Get("Access-Control-Allow-Origin") != "http://app.test" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("verify from the app's origin: CORS %v", corsHeaders(r))
		}
		var tk apitest.Tokens
		r.Decode(&tk)
		if tk.AccessToken == "" || tk.RefreshToken != "" {
			t.Fatalf("verify body in cookie mode %s; want an access token and no refresh token", r.Body)
		}
		b.keep(b.send("POST", "/v1/auth/refresh", nil, "X-CSRF-Token", b.csrf).Expect(200), 720*time.Hour)

		// By link, as the magic-link page does.
		m = mailCode(e, srv, "ada@example.com")
		b2 := &browser{t: t, e: e}
		b2.keep(b2.send("POST", "/v1/auth/email/code/verify", map[string]any{"token": m.Token}).Expect(200), 168*time.Hour)
		b.noTokenInBodies()
		b2.noTokenInBodies()

		// With TOTP on, the code step sets no cookie; the second step does.
		tkm, secret, _ := mfaUser(e, "bob")
		e.As(e.AdminLogin().AccessToken, "PATCH", "/v1/users/"+idOf(tkm.User), map[string]any{"email_verified": true}).Expect(200)
		flushMail(e)
		m = mailCode(e, srv, "bob@example.com")
		r = verifyCode(e, "bob@example.com", m.Code).Expect(200)
		if sc := setCookies(t, r); len(sc) != 0 {
			t.Errorf("the code step set cookies: %v", sc)
		}
		r = secondStep(e, r.JSON()["mfa_token"].(string), map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).Expect(200)
		if sc := setCookies(t, r); sc[refreshCookie] == nil || sc[refreshCookie].Value == "" {
			t.Errorf("second step cookies %v", sc)
		}
	})
}

// TestEmailCodeConcurrent: of many sign-ins racing with one code and its
// link, exactly one wins; racing wrong codes are checked at most
// LOCKOUT_THRESHOLD times (API.md "Account safety rules").
func TestEmailCodeConcurrent(t *testing.T) {
	eachDBMail(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3", "EMAIL_LOGIN_SIGNUP": "true"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("racer")
		flushMail(e)
		m := mailCode(e, srv, "racer@example.com")
		got := concurrently(8, func(i int) *apitest.Response {
			if i%2 == 0 {
				return verifyMagic(e, m.Token)
			}
			return verifyCode(e, "racer@example.com", m.Code)
		})
		if got["200"] != 1 || got["401 invalid_code"] != 7 {
			t.Errorf("8 racing sign-ins with one code and link: %v; want one 200, seven 401 invalid_code", got)
		}
		if n := countRows(t, e, "SELECT count(*) FROM sessions"); n != 1 {
			t.Errorf("%d sessions; want 1", n)
		}

		// A sign-up code: one account, one session.
		requestCode(e, "newbie@example.com", true).Expect(http.StatusAccepted)
		flushMail(e)
		m = lastSignInMail(t, srv, "newbie@example.com")
		got = concurrently(6, func(i int) *apitest.Response { return verifyCode(e, "newbie@example.com", m.Code) })
		if got["200"] != 1 || got["401 invalid_code"] != 5 {
			t.Errorf("6 racing sign-ups with one code: %v; want one 200, five 401 invalid_code", got)
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE email = ?", "newbie@example.com"); n != 1 {
			t.Errorf("%d accounts for newbie@example.com; want 1", n)
		}

		e.Signup("guessed")
		flushMail(e)
		m = mailCode(e, srv, "guessed@example.com")
		got = concurrently(20, func(i int) *apitest.Response {
			code := fmt.Sprintf("%08d", i)
			if code == m.Code {
				code = "99999999"
			}
			return verifyCode(e, "guessed@example.com", code)
		})
		if got["401 invalid_code"] != 3 || got["429 too_many_attempts"] != 17 {
			t.Errorf("20 racing wrong codes: %v; want 3 checked (401) and 17 refused (429)", got)
		}
	})
}

// TestEmailCodeEndsWithTheAddress: a code proves the mailbox it went to; once
// that is no longer the account's address (an administrator's change, a
// confirmed change), neither the code nor its link signs in, and nothing
// marks the new address verified.
func TestEmailCodeEndsWithTheAddress(t *testing.T) {
	t.Run("admin change", func(t *testing.T) {
		eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			ada := e.Signup("ada")
			bob := e.Signup("bob")
			flushMail(e)
			adaCode := mailCode(e, srv, "ada@example.com")
			bobCode := mailCode(e, srv, "bob@example.com")
			admin := e.AdminLogin().AccessToken
			e.As(admin, "PATCH", "/v1/users/"+idOf(ada), map[string]any{"email": "ada@new.example"}).Expect(200)
			e.As(admin, "PATCH", "/v1/users/"+idOf(bob), map[string]any{"email": "bob@new.example"}).Expect(200)
			verifyCode(e, "ada@example.com", adaCode.Code).ExpectProblem(401, "invalid_code")
			verifyCode(e, "ada@new.example", adaCode.Code).ExpectProblem(401, "invalid_code")
			verifyMagic(e, bobCode.Token).ExpectProblem(401, "invalid_code")
			for _, id := range []string{idOf(ada), idOf(bob)} {
				if u := userOf(e.As(admin, "GET", "/v1/users/"+id, nil).Expect(200)); u["email_verified"] != false {
					t.Errorf("%s: a code mailed to the old address verified the new one: %v", u["username"], u)
				}
			}
			// The new address gets its own code.
			verifyCode(e, "ada@new.example", mailCode(e, srv, "ada@new.example").Code).Expect(200)
		})
	})
	t.Run("confirmed change", func(t *testing.T) {
		eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
			tk := e.SignupLogin("ada")
			flushMail(e)
			verify(e, verifyToken(t, srv, "ada@example.com", confirmSubject)).Expect(200)
			m := mailCode(e, srv, "ada@example.com")
			e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": "ada@new.example", "password": apitest.StrongPassword}).Expect(200)
			flushMail(e)
			// Only asked for: the code still signs in to the account at its current address.
			verify(e, verifyToken(t, srv, "ada@new.example", changeSubject)).Expect(200)
			verifyCode(e, "ada@example.com", m.Code).ExpectProblem(401, "invalid_code")
			verifyMagic(e, m.Token).ExpectProblem(401, "invalid_code")
		})
	})
}

// TestEmailCodeWithVerificationRequired: a sign-in by code proves the address,
// so an account that may not log in with its password until verified may with a code.
func TestEmailCodeWithVerificationRequired(t *testing.T) {
	eachDBMail(t, apitest.Vars{"EMAIL_VERIFICATION": "required"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).ExpectProblem(403, "email_unverified")
		flushMail(e)
		var tk apitest.Tokens
		verifyCode(e, "ada@example.com", mailCode(e, srv, "ada@example.com").Code).Expect(200).Decode(&tk)
		if u := meOf(e, tk.AccessToken); u["email_verified"] != true {
			t.Errorf("after a sign-in by code: %v; want the address verified", u)
		}
	})
}

// TestEmailCodeMailExpiresWithTheCode: a sign-in mail that could not be
// delivered before its code expired is given up, not sent late.
func TestEmailCodeMailExpiresWithTheCode(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		srv.Stop()
		requestCode(e, "ada@example.com", false).Expect(http.StatusAccepted)
		deliverMail(e, 0) // refused: the server is down
		srv.Restart()
		e.Clock.Advance(11 * time.Minute)
		deliverMail(e, 0)
		if n := len(mailsTo(t, srv, "ada@example.com")); n != 0 {
			t.Fatalf("%d mails for ada after the code expired; want none", n)
		}
	})
}

// TestEmailLoginMailTemplates: MAIL_TEMPLATES_DIR replaces the files it
// holds; the others keep the embedded wording.
func TestEmailLoginMailTemplates(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"email_code.subject.txt": "Your Acme code: {{.Code}}\n",
		"invitation.txt":         "Welcome to Acme, {{.Username}}. Choose a password: {{.Link}} (for {{.Expiry}})\n",
	} {
		testdb.Must(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	eachDBMail(t, apitest.Vars{"MAIL_TEMPLATES_DIR": dir}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("ada")
		flushMail(e)
		requestCode(e, "ada@example.com", false).Expect(http.StatusAccepted)
		deliverMail(e, 1)
		m := mailsTo(t, srv, "ada@example.com")[0]
		code := emailCodeLine.FindStringSubmatch(m.Parts["text/plain"]) // the embedded text body
		if code == nil || m.Header.Get("Subject") != "Your Acme code: "+code[1] {
			t.Fatalf("subject %q, text:\n%s\nwant the replaced subject with the code of the embedded body", m.Header.Get("Subject"), m.Parts["text/plain"])
		}
		verifyCode(e, "ada@example.com", code[1]).Expect(200)

		invite(e, e.AdminLogin().AccessToken, "ivy", nil)
		deliverMail(e, 1)
		inv := mailsTo(t, srv, "ivy@example.com")[0]
		link := inviteLinkRe.FindStringSubmatch(inv.Parts["text/plain"])
		if inv.Header.Get("Subject") != inviteSubject || link == nil || !strings.HasPrefix(inv.Parts["text/plain"], "Welcome to Acme, ivy.") ||
			!strings.Contains(inv.Parts["text/plain"], "(for 7 days)") || !strings.Contains(inv.Parts["text/html"], `href="`+link[0]+`"`) {
			t.Fatalf("invitation %q:\n%s\n%s\nwant the replaced text body, the embedded subject and HTML", inv.Header.Get("Subject"), inv.Parts["text/plain"], inv.Parts["text/html"])
		}
		tok, err := url.QueryUnescape(strings.TrimSuffix(link[2], ")"))
		testdb.Must(t, err)
		acceptInvite(e, tok, apitest.StrongPassword).Expect(200)
	})
}
