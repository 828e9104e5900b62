package handlers_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// mailFrom is MAIL_FROM in these tests.
const mailFrom = "authsvc <noreply@example.com>"

// mailVars points the service at the test SMTP server.
func smtpVars(srv *smtptest.Server, extra apitest.Vars) apitest.Vars {
	v := apitest.Vars{"SMTP_URL": srv.URL("", ""), "MAIL_FROM": mailFrom}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

// eachDBMail is apitest.Each with an SMTP server of its own per database: the
// server must exist before the service, whose SMTP_URL names it.
func eachDBMail(t *testing.T, extra apitest.Vars, fn func(t *testing.T, e *apitest.Env, srv *smtptest.Server, vars apitest.Vars)) {
	t.Helper()
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t, smtptest.Config{})
		vars := smtpVars(srv, extra)
		fn(t, apitest.New(t, dialect, vars), srv, vars)
	})
}

// forgotPW asks for a reset link and waits for the work done after answering.
func forgotPW(e *apitest.Env, email string) *apitest.Response {
	e.T.Helper()
	r := e.Request("POST", "/v1/auth/password/forgot", map[string]any{"email": email})
	e.App.Accounts.Wait()
	return r
}

func resetPW(e *apitest.Env, tok, pw string) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/password/reset", map[string]any{"token": tok, "new_password": pw})
}

// deliver runs the outbox worker once and checks how many mails went out.
// flushMail sends what earlier steps queued (security notices), so that a
// later deliverMail counts only the mails of its own step.
func flushMail(e *apitest.Env) {
	e.T.Helper()
	if _, err := e.App.Mail.RunOnce(context.Background()); err != nil {
		e.T.Fatalf("mail worker RunOnce: %v", err)
	}
}

func deliverMail(e *apitest.Env, want int) {
	e.T.Helper()
	sent, err := e.App.Mail.RunOnce(context.Background())
	if err != nil || sent != want {
		e.T.Fatalf("mail worker RunOnce = %d, %v; want %d, nil", sent, err, want)
	}
}

var resetLink = regexp.MustCompile(`(\S+)/reset-password\?token=(\S+)`)

// tokenFrom reads the reset link out of a received mail, checking where it
// went and that both parts carry the link.
func tokenFrom(t *testing.T, m smtptest.Mail, to string) string {
	t.Helper()
	if len(m.To) != 1 || m.To[0] != to || m.From != "noreply@example.com" {
		t.Fatalf("mail from %q to %q; want from noreply@example.com to %s", m.From, m.To, to)
	}
	p := smtptest.Parse(t, m.Data)
	if p.Header.Get("Subject") != "Reset your password" {
		t.Errorf("subject %q", p.Header.Get("Subject"))
	}
	text := p.Parts["text/plain"]
	found := resetLink.FindStringSubmatch(text)
	if found == nil {
		t.Fatalf("no reset link in the text part:\n%s", text)
	}
	if found[1] != "http://authsvc.test" {
		t.Errorf("link base %q; want PUBLIC_URL http://authsvc.test", found[1])
	}
	if !strings.Contains(p.Parts["text/html"], `href="`+found[0]+`"`) {
		t.Errorf("HTML part lacks the link %s:\n%s", found[0], p.Parts["text/html"])
	}
	tok, err := url.QueryUnescape(found[2])
	testdb.Must(t, err)
	return tok
}

// lastToken is the token of the last mail the server received for `to`.
func lastToken(t *testing.T, srv *smtptest.Server, to string) string {
	t.Helper()
	got := srv.Received()
	for i := len(got) - 1; i >= 0; i-- {
		if slices.Contains(got[i].To, to) {
			return tokenFrom(t, got[i], to)
		}
	}
	t.Fatalf("no mail received for %s", to)
	return ""
}

// rawDB is the service's database pool, for looking at rows as stored.
func dbOf(t *testing.T, e *apitest.Env) *sql.DB {
	t.Helper()
	db, err := e.App.Store.SQL()
	testdb.Must(t, err)
	return db
}

// rebind turns ? placeholders into $n on PostgreSQL.
func rebindQ(e *apitest.Env, q string) string {
	if e.App.Store.Dialect() != store.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// count runs a SELECT count(*) … query.
func countRows(t *testing.T, e *apitest.Env, q string, args ...any) int {
	t.Helper()
	var n int
	testdb.Must(t, dbOf(t, e).QueryRow(rebindQ(e, q), args...).Scan(&n))
	return n
}

// auditRow is a row of audit_events.
type auditRow struct {
	Type    string
	UserID  string
	ActorID string
	Details string
}

// auditOf lists the events of a type, oldest first.
func auditRowsOf(t *testing.T, e *apitest.Env, typ string) []auditRow {
	t.Helper()
	rows, err := dbOf(t, e).Query(rebindQ(e,
		`SELECT type, COALESCE(CAST(user_id AS text), ''), COALESCE(CAST(actor_id AS text), ''), details
		 FROM audit_events WHERE type = ? ORDER BY id`), typ)
	testdb.Must(t, err)
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var ev auditRow
		testdb.Must(t, rows.Scan(&ev.Type, &ev.UserID, &ev.ActorID, &ev.Details))
		out = append(out, ev)
	}
	testdb.Must(t, rows.Err())
	return out
}

// dump returns every row of a table, all columns as bytes.
func dumpTable(t *testing.T, e *apitest.Env, table string) [][]byte {
	t.Helper()
	rows, err := dbOf(t, e).Query("SELECT * FROM " + table)
	testdb.Must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	testdb.Must(t, err)
	var out [][]byte
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		testdb.Must(t, rows.Scan(ptrs...))
		for _, v := range vals {
			out = append(out, bytes.Clone(v))
		}
	}
	testdb.Must(t, rows.Err())
	return out
}

// checkNoPlainToken fails if any stored value holds the token, as text or as its raw bytes.
func checkNoPlainToken(t *testing.T, values [][]byte, tok string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	testdb.Must(t, err)
	for _, v := range values {
		if bytes.Contains(v, []byte(tok)) || bytes.Contains(v, raw) || bytes.Contains(v, []byte(url.QueryEscape(tok))) {
			t.Fatalf("the database holds the reset token in usable form: %q", v)
		}
	}
}

func idOf(u map[string]any) string { return u["id"].(string) }

func TestPasswordResetByMail(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "Ada@example.com", "username": "ada", "password": apitest.StrongPassword,
			"first_name": "Augusta", "last_name": "Lovelace",
		}).Expect(201)
		s1 := e.Login("ada", apitest.StrongPassword)
		s2 := e.Login("ada", apitest.StrongPassword)
		id := idOf(s1.User)

		// The address is matched case-insensitively; the mail goes to the stored one.
		r := forgotPW(e, "  ada@EXAMPLE.com ").Expect(http.StatusAccepted)
		if msg := r.JSON()["message"]; msg == nil || msg == "" {
			t.Fatalf("body %s; want a message", r.Body)
		}
		// Sent off the request path: nothing has arrived yet, the mail waits in the outbox.
		if n := len(srv.Received()); n != 0 {
			t.Fatalf("%d mails arrived before the worker ran", n)
		}
		stored := append(dumpTable(t, e, "password_reset_tokens"), dumpTable(t, e, "mail_outbox")...)
		stored = append(stored, dumpTable(t, e, "audit_events")...)
		if n := countRows(t, e, "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL"); n != 1 {
			t.Fatalf("%d mails queued; want 1", n)
		}

		deliverMail(e, 1)
		tok := tokenFrom(t, srv.Received()[0], "Ada@example.com")
		checkNoPlainToken(t, stored, tok)
		checkNoPlainToken(t, dumpTable(t, e, "mail_outbox"), tok) // and the payload is wiped once sent
		// What is stored is the token's MAC.
		if n := countRows(t, e, "SELECT count(*) FROM password_reset_tokens WHERE token_hash = ? AND user_id = ?",
			e.App.Secret.MAC("reset-token", []byte(tok)), id); n != 1 {
			t.Fatal("no reset token row holds the MAC of the mailed token")
		}

		// A new password that breaks the policy is refused, naming why, and the token stays usable.
		r = resetPW(e, tok, "Augusta-Lovelace").ExpectProblem(400, "validation_failed")
		checkFieldError(t, r, "new_password", "based on your name, username or email address")
		resetPW(e, tok, "short").ExpectProblem(400, "validation_failed")

		const newPW = "quartz-Meadow-lantern-71?"
		r = resetPW(e, tok, newPW).Expect(200)
		if !strings.Contains(r.JSON()["message"].(string), "Log in") {
			t.Errorf("reset answer %s", r.Body)
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).
			ExpectProblem(401, "invalid_credentials")
		e.Login("ada@example.com", newPW)

		// Every earlier session is revoked, and listed in the revocation feed.
		for _, s := range []apitest.Tokens{s1, s2} {
			e.As(s.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": s.RefreshToken}).
				ExpectProblem(401, "invalid_refresh_token")
			if n := countRows(t, e, "SELECT count(*) FROM revocations WHERE session_id = ?", s.SessionID); n != 1 {
				t.Errorf("session %s: %d revocation entries; want 1", s.SessionID, n)
			}
		}

		// Single use.
		resetPW(e, tok, "another-Strong-pass-93!").ExpectProblem(400, "invalid_token")
		e.Login("ada", newPW)

		req := auditRowsOf(t, e, "password_reset_requested")
		if len(req) != 1 || req[0].UserID != id || req[0].ActorID != "" || !strings.Contains(req[0].Details, `"queued"`) {
			t.Errorf("password_reset_requested events %+v", req)
		}
		done := auditRowsOf(t, e, "password_reset")
		if len(done) != 1 || done[0].UserID != id || !strings.Contains(done[0].Details, `"sessions_revoked":2`) {
			t.Errorf("password_reset events %+v", done)
		}
	})
}

// checkFieldError checks the first field error of a validation problem.
func checkFieldError(t *testing.T, r *apitest.Response, field, msgPart string) {
	t.Helper()
	var p struct {
		Errors []struct{ Field, Message string } `json:"errors"`
	}
	r.Decode(&p)
	if len(p.Errors) == 0 || p.Errors[0].Field != field || !strings.Contains(p.Errors[0].Message, msgPart) {
		t.Fatalf("errors %+v; want field %q with a message containing %q", p.Errors, field, msgPart)
	}
}

// sameAnswer fails unless two responses are byte-identical apart from the request id.
func sameAnswerButRequestID(t *testing.T, a, b *apitest.Response) {
	t.Helper()
	if a.Status != b.Status || !bytes.Equal(a.Body, b.Body) {
		t.Fatalf("answers differ:\n%d %s\n%d %s", a.Status, a.Body, b.Status, b.Body)
	}
	names := func(h http.Header) []string {
		var out []string
		for k := range h {
			if k != "X-Request-Id" {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	if !slices.Equal(names(a.Header), names(b.Header)) {
		t.Fatalf("headers differ: %v vs %v", names(a.Header), names(b.Header))
	}
	for _, k := range names(a.Header) {
		if !slices.Equal(a.Header.Values(k), b.Header.Values(k)) {
			t.Fatalf("header %s differs: %q vs %q", k, a.Header.Values(k), b.Header.Values(k))
		}
	}
	if a.Header.Get("X-Request-Id") == "" || a.Header.Get("X-Request-Id") == b.Header.Get("X-Request-Id") {
		t.Fatalf("request ids %q, %q; want two different ones", a.Header.Get("X-Request-Id"), b.Header.Get("X-Request-Id"))
	}
}

func TestForgotRevealsNothing(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		ctx := context.Background()
		known := e.Signup("known")
		disabled := e.Signup("gone")
		pending := e.Signup("waiting")
		for id, status := range map[string]string{idOf(disabled): "disabled", idOf(pending): "pending"} {
			testdb.Must(t, e.App.Store.UpdateUser(ctx, uuid.MustParse(id), e.Clock.Now(), store.UserUpdate{Status: new(status)}))
		}

		answers := map[string]*apitest.Response{}
		for _, email := range []string{"known@example.com", "nobody@example.com", "gone@example.com", "waiting@example.com"} {
			answers[email] = forgotPW(e, email).Expect(http.StatusAccepted)
		}
		for email, r := range answers {
			if email != "known@example.com" {
				sameAnswerButRequestID(t, answers["known@example.com"], r)
			}
		}

		// Known and pending accounts get a mail; unknown and disabled ones none.
		deliverMail(e, 2)
		var to []string
		for _, m := range srv.Received() {
			to = append(to, m.To...)
		}
		sort.Strings(to)
		if !slices.Equal(to, []string{"known@example.com", "waiting@example.com"}) {
			t.Fatalf("mails went to %v; want known and waiting", to)
		}
		if n := countRows(t, e, "SELECT count(*) FROM password_reset_tokens"); n != 2 {
			t.Errorf("%d reset tokens stored; want 2", n)
		}

		// Every request is audited, the unknown one without a user.
		evs := auditRowsOf(t, e, "password_reset_requested")
		if len(evs) != 4 {
			t.Fatalf("%d password_reset_requested events; want 4: %+v", len(evs), evs)
		}
		byUser := map[string]auditRow{}
		for _, ev := range evs {
			byUser[ev.UserID] = ev
			if strings.Contains(ev.Details, "@") {
				t.Errorf("audit details hold an address: %s", ev.Details)
			}
		}
		for user, want := range map[string]string{
			idOf(known): `"queued"`, idOf(pending): `"queued"`,
			idOf(disabled): `"account_disabled"`, "": `"unknown_email"`,
		} {
			if !strings.Contains(byUser[user].Details, want) {
				t.Errorf("event for user %q: %+v; want details with %s", user, byUser[user], want)
			}
		}

		// The pending user may set a password, but still waits for approval to log in.
		const pw = "saffron-Glacier-pulley-47^"
		resetPW(e, lastToken(t, srv, "waiting@example.com"), pw).Expect(200)
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "waiting", "password": pw}).ExpectProblem(403, "account_pending")
	})
}

func TestForgotValidation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		for name, tc := range map[string]struct {
			body        any
			status      int
			code, field string
		}{
			"missing email":  {map[string]any{}, 400, "validation_failed", "email"},
			"not an email":   {map[string]any{"email": "nobody"}, 400, "validation_failed", "email"},
			"unknown field":  {map[string]any{"email": "a@example.com", "username": "a"}, 400, "validation_failed", "username"},
			"wrong type":     {map[string]any{"email": 7}, 400, "validation_failed", "email"},
			"malformed json": {`{"email":`, 400, "malformed_json", ""},
			"empty body":     {"", 400, "malformed_json", ""},
		} {
			t.Run(name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/password/forgot", tc.body).ExpectProblem(tc.status, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, "")
				}
			})
		}
		e.Request("POST", "/v1/auth/password/forgot", `{"email":"a@example.com"}`, "Content-Type", "text/plain").
			ExpectProblem(415, "unsupported_media_type")

		for name, tc := range map[string]struct {
			body        any
			code, field string
		}{
			"missing token":        {map[string]any{"new_password": apitest.StrongPassword}, "validation_failed", "token"},
			"missing new password": {map[string]any{"token": "x"}, "validation_failed", "new_password"},
			"unknown field":        {map[string]any{"token": "x", "new_password": apitest.StrongPassword, "email": "a@example.com"}, "validation_failed", "email"},
			"unknown token":        {map[string]any{"token": "bm90LWEtdG9rZW4", "new_password": apitest.StrongPassword}, "invalid_token", ""},
			"overlong token":       {map[string]any{"token": strings.Repeat("A", 100000), "new_password": apitest.StrongPassword}, "invalid_token", ""},
		} {
			t.Run("reset "+name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/password/reset", tc.body).ExpectProblem(400, tc.code)
				if tc.field != "" {
					checkFieldError(t, r, tc.field, "")
				}
			})
		}
	})
}

func TestResetTokenLifecycle(t *testing.T) {
	eachDBMail(t, apitest.Vars{"RESET_TOKEN_TTL": "20m"}, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		const pw = "orchid-Pylon-gravel-36%"
		requestToken := func(user string) string {
			t.Helper()
			flushMail(e)
			forgotPW(e, user+"@example.com").Expect(http.StatusAccepted)
			deliverMail(e, 1)
			return lastToken(t, srv, user+"@example.com")
		}
		for _, u := range []string{"early", "late", "twice", "changer", "banned", "leaver"} {
			e.Signup(u)
		}

		t.Run("expiry", func(t *testing.T) {
			e := e.WithT(t)
			early := requestToken("early")
			late := requestToken("late")
			if text := smtptest.Parse(t, srv.Received()[0].Data).Parts["text/plain"]; !strings.Contains(text, "20 minutes") {
				t.Errorf("mail does not give RESET_TOKEN_TTL:\n%s", text)
			}
			e.Clock.Advance(20*time.Minute - time.Second)
			resetPW(e, early, pw).Expect(200) // just in time
			e.Clock.Advance(time.Second)
			resetPW(e, late, pw).ExpectProblem(400, "invalid_token") // expired on the dot
			e.Login("early", pw)
			e.Login("late", apitest.StrongPassword)
		})

		t.Run("superseded", func(t *testing.T) {
			e := e.WithT(t)
			first := requestToken("twice")
			second := requestToken("twice")
			if first == second {
				t.Fatal("the same token twice")
			}
			resetPW(e, first, pw).ExpectProblem(400, "invalid_token")
			resetPW(e, second, pw).Expect(200)
			resetPW(e, second, pw+"x").ExpectProblem(400, "invalid_token")
			e.Login("twice", pw)
		})

		t.Run("password changed since", func(t *testing.T) {
			e := e.WithT(t)
			tok := requestToken("changer")
			s := e.Login("changer", apitest.StrongPassword)
			e.As(s.AccessToken, "POST", "/v1/me/password", map[string]any{"old_password": apitest.StrongPassword, "new_password": pw}).Expect(200)
			resetPW(e, tok, "hollow-Comet-spindle-24&").ExpectProblem(400, "invalid_token")
			e.Login("changer", pw)
		})

		t.Run("account disabled since", func(t *testing.T) {
			e := e.WithT(t)
			tok := requestToken("banned")
			s := e.Login("banned", apitest.StrongPassword)
			testdb.Must(t, e.App.Store.UpdateUser(context.Background(), uuid.MustParse(s.User["id"].(string)), e.Clock.Now(),
				store.UserUpdate{Status: new("disabled")}))
			resetPW(e, tok, pw).ExpectProblem(403, "account_disabled")
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "banned", "password": pw}).ExpectProblem(401, "invalid_credentials")
		})

		t.Run("account deleted since", func(t *testing.T) {
			e := e.WithT(t)
			tok := requestToken("leaver")
			s := e.Login("leaver", apitest.StrongPassword)
			e.As(s.AccessToken, "DELETE", "/v1/me", map[string]any{"password": apitest.StrongPassword}).Expect(204)
			resetPW(e, tok, pw).ExpectProblem(400, "invalid_token")
		})
	})
}

// TestResetConcurrent: of many resets racing with one token, exactly one wins.
func TestResetConcurrent(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("racer")
		forgotPW(e, "racer@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 1)
		tok := lastToken(t, srv, "racer@example.com")
		const n = 8
		statuses := make(chan int, n)
		for i := range n {
			go func() {
				statuses <- resetPW(e, tok, "racer-Pass-"+strconv.Itoa(i)+"-lantern-Quiet!").Status
			}()
		}
		won := 0
		for range n {
			switch s := <-statuses; s {
			case 200:
				won++
			case 400:
			default:
				t.Errorf("a racing reset got %d", s)
			}
		}
		if won != 1 {
			t.Fatalf("%d resets succeeded with one token; want exactly 1", won)
		}
		if evs := auditRowsOf(t, e, "password_reset"); len(evs) != 1 {
			t.Fatalf("%d password_reset events; want 1", len(evs))
		}
	})
}

func TestForgotWhileSMTPDown(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		e.Signup("patient")

		// A mail server that accepts connections and never answers would hold a
		// synchronous send for the SMTP timeout (10 s); the request must not wait.
		srv.Hang()
		start := time.Now()
		forgotPW(e, "patient@example.com").Expect(http.StatusAccepted)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("forgot took %v with a hung mail server", d)
		}

		// Refused outright: the worker records a failed attempt and backs off.
		srv.Stop()
		deliverMail(e, 0)
		var attempts int
		var lastErr string
		testdb.Must(t, dbOf(t, e).QueryRow("SELECT attempts, last_error FROM mail_outbox").Scan(&attempts, &lastErr))
		if attempts != 1 || lastErr == "" {
			t.Fatalf("after a failed delivery: attempts %d, last_error %q", attempts, lastErr)
		}

		// Back up: nothing before the back-off has passed, then the mail.
		srv.Restart()
		deliverMail(e, 0)
		e.Clock.Advance(6 * time.Second) // the first back-off is at most 5 s
		deliverMail(e, 1)
		tok := lastToken(t, srv, "patient@example.com")
		resetPW(e, tok, "fennel-Quarry-beacon-62#").Expect(200)
		e.Login("patient", "fennel-Quarry-beacon-62#")
	})
}

func TestForgotMailSurvivesRestart(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, vars apitest.Vars) {
		e.Signup("phoenix")
		old := e.Login("phoenix", apitest.StrongPassword)
		srv.Stop()
		forgotPW(e, "phoenix@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 0) // fails: the server is down

		// The service restarts on the same database; the mail server comes back.
		e2 := apitest.NewOn(t, e.URL, vars)
		srv.Restart()
		e2.Clock.Advance(time.Minute)
		deliverMail(e2, 1)
		if n := len(srv.Received()); n != 1 {
			t.Fatalf("%d mails received; want 1", n)
		}
		tok := lastToken(t, srv, "phoenix@example.com")
		resetPW(e2, tok, "marble-Cactus-whistle-15$").Expect(200)
		deliverMail(e2, 1) // the notice of the reset
		e2.Login("phoenix", "marble-Cactus-whistle-15$")
		e2.As(old.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e2.Clock.Advance(time.Hour)
		deliverMail(e2, 0) // sent once only
	})
}

// TestForgotTiming compares how long forgot takes to answer for an existing
// and an unknown address. The lookup and the writes happen after the answer,
// so the two must be alike within noise; the bound fails the earlier design
// that wrote two rows before answering for a known address only.
func TestForgotTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, _ *smtptest.Server, _ apitest.Vars) {
		e.Signup("timed")
		const rounds = 60
		var known, unknown, diffs []time.Duration
		measure := func(email string) time.Duration {
			start := time.Now()
			r := e.Request("POST", "/v1/auth/password/forgot", map[string]any{"email": email})
			d := time.Since(start)
			r.Expect(http.StatusAccepted)
			e.App.Accounts.Wait() // the work after answering does not load the next measurement
			return d
		}
		for i := range rounds + 10 {
			k, u := measure("timed@example.com"), measure("ghost"+strconv.Itoa(i)+"@example.com")
			if i >= 10 { // warm-up
				known, unknown, diffs = append(known, k), append(unknown, u), append(diffs, k-u)
			}
		}
		// Pairs measured back to back see the same load; their median difference is the signal.
		mk, mu, md := medianOf(known), medianOf(unknown), medianOf(diffs)
		t.Logf("forgot, median of %d: known %v, unknown %v; median paired difference %v", rounds, mk, mu, md)
		if md.Abs() > max(200*time.Microsecond, mu/4) {
			t.Errorf("known and unknown addresses differ by %v (medians %v vs %v)", md, mk, mu)
		}
	})
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
