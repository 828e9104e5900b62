package cluster

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/store"
)

// Sign-in by email and invitations across instances: a code or link asked
// for on one instance (and mailed by whichever instance's outbox worker
// takes it) signs in on another, once, whatever reaches the instances at
// the same time; wrong codes on different instances count toward one
// lockout and one code's death; an invitation made on one instance is
// accepted on another and its password works on a third.

// mailVars is the cluster's configuration with mail going to srv.
func mailVars(t *testing.T, srv *smtptest.Server) map[string]string {
	vars := clusterVars(t)
	vars["SMTP_URL"], vars["MAIL_FROM"] = srv.URL("", ""), "authsvc <noreply@cluster.test>"
	return vars
}

// codeLine is the code on a line of its own in the sign-in mail's text.
var codeLine = regexp.MustCompile(`(?m)^\s*(\d{8})\s*$`)

// mailed is one mail's link token and, for a sign-in mail, its code.
type mailed struct{ token, code string }

// newMailTo waits up to 20 s for a mail to `to` whose text carries a link to
// PUBLIC_URL + path with a token not in seen, adds the token to seen and
// returns it, with the 8-digit code when the mail has one. Any instance's
// outbox worker may send it.
func newMailTo(t *testing.T, srv *smtptest.Server, to, path string, seen map[string]bool) mailed {
	t.Helper()
	link := regexp.MustCompile(`http://authsvc\.cluster\.test` + regexp.QuoteMeta(path) + `\?token=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := srv.Received()
		for _, m := range got {
			if !slices.Contains(m.To, to) {
				continue
			}
			text := smtptest.Parse(t, m.Data).Parts["text/plain"]
			l := link.FindStringSubmatch(text)
			if l == nil {
				continue
			}
			tok, err := url.QueryUnescape(l[1])
			if err != nil {
				t.Fatal(err)
			}
			if seen[tok] {
				continue
			}
			seen[tok] = true
			out := mailed{token: tok}
			if c := codeLine.FindStringSubmatch(text); c != nil {
				out.code = c[1]
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new mail to %s with a %s link within 20 s (%d mails received in all)", to, path, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// askCode asks instance i for a sign-in code for address (create: for a sign-up).
func (c *cluster) askCode(t *testing.T, i int, address string, create bool) {
	t.Helper()
	body := map[string]any{"email": address}
	if create {
		body["create"] = true
	}
	r := c.must(t, c.node(i), c.ip(), "POST", "/v1/auth/email/code", "", body)
	if r.status != http.StatusAccepted || r.str("message") == "" {
		t.Fatalf("POST /v1/auth/email/code for %s on %s: %v; want 202", address, c.node(i).name, r)
	}
}

// signInMail asks instance i for a code for address and waits for its mail.
func (c *cluster) signInMail(t *testing.T, srv *smtptest.Server, i int, address string, create bool, seen map[string]bool) mailed {
	t.Helper()
	c.askCode(t, i, address, create)
	m := newMailTo(t, srv, address, "/magic-link", seen)
	if m.code == "" {
		t.Fatalf("the sign-in mail to %s carries no 8-digit code", address)
	}
	return m
}

// verifyCode posts a code with its address to instance i, from an address of its own.
func (c *cluster) verifyCode(t *testing.T, i int, address, code string) res {
	t.Helper()
	return c.must(t, c.node(i), c.ip(), "POST", "/v1/auth/email/code/verify", "", map[string]any{"email": address, "code": code})
}

// verifyToken posts a link's token to instance i, from an address of its own.
func (c *cluster) verifyToken(t *testing.T, i int, token string) res {
	t.Helper()
	return c.must(t, c.node(i), c.ip(), "POST", "/v1/auth/email/code/verify", "", map[string]any{"token": token})
}

func wantInvalidCode(t *testing.T, what string, r res) {
	t.Helper()
	if r.status != http.StatusUnauthorized || r.code() != "invalid_code" {
		t.Errorf("%s: %v; want 401 invalid_code", what, r)
	}
}

// wrongCode is a code that is not code.
func wrongCode(code string, n int) string {
	v, _ := strconv.Atoi(code)
	return fmt.Sprintf("%08d", (v+1+n)%100_000_000)
}

// emailSession: r is a token response whose access token, and GET /v1/me
// with it on instance i, say amr ["email"]; it returns /v1/me's user.
func (c *cluster) emailSession(t *testing.T, what string, r res, i int) map[string]any {
	t.Helper()
	tk := tokensOf(t, r)
	if got := amrOf(t, tk.access); !slices.Equal(got, []string{"email"}) {
		t.Errorf("%s: amr %v in the access token; want [email]", what, got)
	}
	me := c.must(t, c.node(i), c.ip(), "GET", "/v1/me", tk.access, nil)
	u, _ := me.body["user"].(map[string]any)
	if me.status != http.StatusOK || u == nil {
		t.Fatalf("%s: GET /v1/me on %s: %v", what, c.node(i).name, me)
	}
	amr, _ := me.body["amr"].([]any)
	if len(amr) != 1 || amr[0] != "email" {
		t.Errorf("%s: GET /v1/me on %s: amr %v; want [email]", what, c.node(i).name, me.body["amr"])
	}
	return u
}

// TestEmailLoginAcrossInstances runs three instances on one fresh PostgreSQL
// database, sign-up by code on (EMAIL_LOGIN_SIGNUP), LOCKOUT_THRESHOLD 3.
func TestEmailLoginAcrossInstances(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Config{})
	vars := mailVars(t, mail)
	vars["EMAIL_LOGIN_SIGNUP"] = "true"
	c := startCluster(t, vars, 3)
	t.Run("code asked for on A, verified on B, the session on C", func(t *testing.T) { codeAcrossInstances(t, c, mail) })
	t.Run("link asked for on B verified on C; the older one from A is dead", func(t *testing.T) { linkAcrossInstances(t, c, mail) })
	t.Run("one code on A, B and C at once: one sign-in", func(t *testing.T) { codeRace(t, c, mail) })
	t.Run("wrong codes on A, B and C: one lockout", func(t *testing.T) { codeLockout(t, c, mail) })
	t.Run("wrong sign-up codes on A, B and C: the code dies after 5", func(t *testing.T) { codeDies(t, c, mail) })
	t.Run("sign-up by code asked for on A, verified on B", func(t *testing.T) { signupByCode(t, c, mail) })
	t.Run("codes asked for on A, B and C at once: one lives", func(t *testing.T) { concurrentRequests(t, c, mail) })
	t.Run("a code mailed to the account's old address, after an address change on B, is dead", func(t *testing.T) { codeAfterAddressChange(t, c, mail) })
}

// concurrentRequests: one address asks for a code on A, B and C at the same
// instant, twice on each: each request is mailed, but a newer request kills
// the older code and link, so one code is left, and at most one of the
// mails' links signs in.
func concurrentRequests(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 2, mail)
	const n = 6
	start := make(chan struct{})
	var wg sync.WaitGroup
	ips := make([]string, n)
	for k := range ips {
		ips[k] = c.ip()
	}
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.call(c.node(k), ips[k], "POST", "/v1/auth/email/code", "", map[string]any{"email": u.email})
			if err != nil || r.status != http.StatusAccepted {
				t.Errorf("request %d on %s: %v, %v", k, c.node(k).name, r, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	seen := map[string]bool{}
	var mails []mailed
	for range n {
		mails = append(mails, newMailTo(t, mail, u.email, "/magic-link", seen))
	}
	if got := queryInt(t, c.db(t), `SELECT count(*) FROM email_codes WHERE email_key = $1`, store.EmailKey(u.email)); got != 1 {
		t.Errorf("%d requests for one address at once on A, B and C: %d codes stored for it; want 1", n, got)
	}
	ok := 0
	for k, m := range mails {
		if r := c.verifyToken(t, k, m.token); r.status == http.StatusOK {
			ok++
		}
	}
	if ok > 1 {
		t.Errorf("%d of the %d links mailed for requests at once signed in; want at most 1 (a newer request kills the older link)", ok, n)
	}
}

// codeAfterAddressChange: a code and link mailed to the account's address
// on A; an administrator moves the account to another address on B; the old
// mailbox's code and link sign in to nothing, on C or A: "mails … to the
// account's address" means the account's address at the time of use, as
// the links already mailed die with an address change.
func codeAfterAddressChange(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 0, mail)
	m := c.signInMail(t, mail, 0, u.email, false, map[string]bool{})
	moved := fmt.Sprintf("moved-%s-%s", c.run, u.email)
	if r := c.must(t, c.node(1), c.ip(), "PATCH", "/v1/users/"+u.id, c.admin(t), map[string]any{"email": moved}); r.status != http.StatusOK {
		t.Fatalf("PATCH /v1/users/{id} with a new email on B: %v", r)
	}
	wantInvalidCode(t, "the code mailed to the old address before the change, on C", c.verifyCode(t, 2, u.email, m.code))
	wantInvalidCode(t, "the link mailed to the old address before the change, on A", c.verifyToken(t, 0, m.token))
}

// codeAcrossInstances: a code asked for on A (mailed by any instance),
// verified on B; C takes the session (amr ["email"]) and shows the address
// verified; the code, and the link of the same mail, work no more anywhere.
func codeAcrossInstances(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.newUser(t, 0) // unverified: the code proves the address
	seen := map[string]bool{}
	m := c.signInMail(t, mail, 0, u.email, false, seen)

	r := c.verifyCode(t, 1, u.email, m.code)
	me := c.emailSession(t, "the code asked for on A, verified on B (the session on C)", r, 2)
	if me["id"] != u.id || me["email_verified"] != true {
		t.Errorf("GET /v1/me on C after the code: id %v, email_verified %v; want %s, true", me["id"], me["email_verified"], u.id)
	}
	wantInvalidCode(t, "the code used on B, again on C", c.verifyCode(t, 2, u.email, m.code))
	wantInvalidCode(t, "the code used on B, again on A", c.verifyCode(t, 0, u.email, m.code))
	wantInvalidCode(t, "the link of the mail whose code was used on B, on A", c.verifyToken(t, 0, m.token))

	// The same body for an address no account has, and no mail for it.
	nobody := fmt.Sprintf("nobody-%s@cluster.test", c.run)
	c.askCode(t, 2, nobody, false)
	wantInvalidCode(t, "a code for an address no account has", c.verifyCode(t, 1, nobody, m.code))
}

// linkAcrossInstances: a code asked for on A, then another on B: the newer
// mail's link verifies on C, the older mail's link and code are dead
// everywhere; the link works once.
func linkAcrossInstances(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 1, mail)
	seen := map[string]bool{}
	older := c.signInMail(t, mail, 0, u.email, false, seen)
	newer := c.signInMail(t, mail, 1, u.email, false, seen)

	wantInvalidCode(t, "the link of the mail asked for on A, after a newer one on B, on C", c.verifyToken(t, 2, older.token))
	if older.code != newer.code {
		wantInvalidCode(t, "the code of the mail asked for on A, after a newer one on B, on C", c.verifyCode(t, 2, u.email, older.code))
	}
	me := c.emailSession(t, "the link mailed for B, verified on C (the session on A)", c.verifyToken(t, 2, newer.token), 0)
	if me["id"] != u.id {
		t.Errorf("the link signed in %v; want %s", me["id"], u.id)
	}
	wantInvalidCode(t, "the link used on C, again on B", c.verifyToken(t, 1, newer.token))
	wantInvalidCode(t, "the code of the mail whose link was used on C, on A", c.verifyCode(t, 0, u.email, newer.code))
	// A verified account's password is untouched by a sign-in by email.
	tokensOf(t, c.must(t, c.node(2), c.ip(), "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
}

// codeRace: one code (or one mail's code and link) sent to A, B and C at
// the same instant, twice to each: exactly one sign-in, every other answer
// 401 invalid_code.
func codeRace(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 2, mail)
	seen := map[string]bool{}
	for _, mixed := range []bool{false, true} {
		m := c.signInMail(t, mail, 2, u.email, false, seen)
		const n = 6
		results := make([]res, n)
		errs := make([]error, n)
		ips := make([]string, n)
		for k := range ips {
			ips[k] = c.ip()
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k := range n {
			body := map[string]any{"email": u.email, "code": m.code}
			if mixed && k%2 == 1 {
				body = map[string]any{"token": m.token}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[k], errs[k] = c.call(c.node(k), ips[k], "POST", "/v1/auth/email/code/verify", "", body)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for k, r := range results {
			switch {
			case errs[k] != nil:
				t.Errorf("mixed=%v: request %d on %s: %v", mixed, k, c.node(k).name, errs[k])
			case r.status == http.StatusOK:
				ok++
				c.emailSession(t, fmt.Sprintf("mixed=%v: the one sign-in, on %s", mixed, c.node(k).name), r, k+1)
			default:
				wantInvalidCode(t, fmt.Sprintf("mixed=%v: request %d on %s, racing the others", mixed, k, c.node(k).name), r)
			}
		}
		if ok != 1 {
			t.Errorf("mixed=%v: %d of %d requests with one code signed in; want exactly 1: %v", mixed, ok, n, results)
		}
	}
}

// codeLockout: wrong codes on A, B and C count toward the account's one
// lockout (LOCKOUT_THRESHOLD 3): the third locks it, and then the right code
// is refused on every instance; a wrong password and wrong codes count
// together.
func codeLockout(t *testing.T, c *cluster, mail *smtptest.Server) {
	const threshold = 3 // LOCKOUT_THRESHOLD
	locked := func(r res, what string) {
		t.Helper()
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != http.StatusTooManyRequests || r.code() != "too_many_attempts" || err != nil || secs <= 0 {
			t.Errorf("%s: %v (Retry-After %q); want 429 too_many_attempts with Retry-After", what, r, r.header.Get("Retry-After"))
		}
	}
	status := func(id string) string {
		t.Helper()
		r := c.must(t, c.node(1), "", "GET", "/v1/users/"+id, c.admin(t), nil)
		s, _ := r.body["user"].(map[string]any)["status"].(string)
		if r.status != http.StatusOK {
			t.Fatalf("GET /v1/users/%s: %v", id, r)
		}
		return s
	}
	db := c.db(t)

	u := c.verifiedUser(t, 0, mail)
	m := c.signInMail(t, mail, 0, u.email, false, map[string]bool{})
	for i := range threshold {
		if i == threshold-1 && status(u.id) == "locked" {
			t.Fatalf("locked after %d wrong codes; want the lock at %d", i, threshold)
		}
		wantInvalidCode(t, fmt.Sprintf("wrong code %d on %s", i+1, c.node(i).name), c.verifyCode(t, i, u.email, wrongCode(m.code, i)))
	}
	for i := range 3 {
		locked(c.verifyCode(t, i, u.email, m.code), "the right code on the locked account on "+c.node(i).name)
	}
	locked(c.verifyToken(t, 1, m.token), "the link on the locked account on B")
	locked(c.must(t, c.node(2), c.ip(), "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}),
		"the right password on the account locked by wrong codes, on C")
	if s := status(u.id); s != "locked" {
		t.Errorf("the account after %d wrong codes on A, B and C: status %q; want locked", threshold, s)
	}
	if n := queryInt(t, db, `SELECT failures FROM email_codes WHERE email_key = $1`, store.EmailKey(u.email)); n != threshold {
		t.Errorf("the code's failures after %d wrong codes on A, B and C: %d", threshold, n)
	}

	// A wrong password on A and wrong codes on B and C: one count.
	v := c.verifiedUser(t, 1, mail)
	mv := c.signInMail(t, mail, 1, v.email, false, map[string]bool{})
	if r := c.must(t, c.node(0), c.ip(), "POST", "/v1/auth/login", "", map[string]any{"login": v.email, "password": "Wrong-password-for-" + c.run}); r.status != http.StatusUnauthorized || r.code() != "invalid_credentials" {
		t.Fatalf("a wrong password on A: %v", r)
	}
	for i := 1; i < threshold; i++ {
		wantInvalidCode(t, fmt.Sprintf("wrong code %d after a wrong password, on %s", i, c.node(i).name), c.verifyCode(t, i, v.email, wrongCode(mv.code, i)))
	}
	locked(c.verifyCode(t, 0, v.email, mv.code), "the right code after a wrong password and two wrong codes, on A")
}

// codeDies: a sign-up code (no account, so no lockout) takes 5 wrong tries
// spread over A, B and C, then neither it nor its link works anywhere, and
// no account was made.
func codeDies(t *testing.T, c *cluster, mail *smtptest.Server) {
	address := fmt.Sprintf("dies-%s@cluster.test", c.run)
	m := c.signInMail(t, mail, 0, address, true, map[string]bool{})
	for i := range 5 {
		wantInvalidCode(t, fmt.Sprintf("wrong sign-up code %d on %s", i+1, c.node(i).name), c.verifyCode(t, i, address, wrongCode(m.code, i)))
	}
	wantInvalidCode(t, "the right code after 5 wrong ones, on A", c.verifyCode(t, 0, address, m.code))
	wantInvalidCode(t, "the link of the code that died, on B", c.verifyToken(t, 1, m.token))
	db := c.db(t)
	if n := queryInt(t, db, `SELECT count(*) FROM users WHERE email_key = $1`, store.EmailKey(address)); n != 0 {
		t.Errorf("%d accounts for the address whose sign-up code died; want none", n)
	}
	if n := queryInt(t, db, `SELECT failures FROM email_codes WHERE email_key = $1`, store.EmailKey(address)); n != 5 {
		t.Errorf("the dead code's failures: %d; want 5", n)
	}
}

// signupByCode: with EMAIL_LOGIN_SIGNUP and create, a code for an address no
// account has, asked for on A and verified on B, makes the account (its
// address verified, no password) and signs it in; C shows it.
func signupByCode(t *testing.T, c *cluster, mail *smtptest.Server) {
	address := fmt.Sprintf("new-%s@cluster.test", c.run)
	m := c.signInMail(t, mail, 0, address, true, map[string]bool{})
	me := c.emailSession(t, "a sign-up code asked for on A, verified on B (the session on C)", c.verifyCode(t, 1, address, m.code), 2)
	if me["email"] != address || me["email_verified"] != true || me["has_password"] != false {
		t.Errorf("the account a sign-up code made: email %v, email_verified %v, has_password %v; want %s, true, false",
			me["email"], me["email_verified"], me["has_password"], address)
	}
	wantInvalidCode(t, "the sign-up code used on B, again on C", c.verifyCode(t, 2, address, m.code))
	wantInvalidCode(t, "the sign-up mail's link after its code was used, on A", c.verifyToken(t, 0, m.token))
	db := c.db(t)
	if n := queryInt(t, db, `SELECT count(*) FROM users WHERE email_key = $1`, store.EmailKey(address)); n != 1 {
		t.Errorf("%d accounts for the address signed up by code; want 1", n)
	}
}

// TestInvitationsAcrossInstances runs three instances on one fresh PostgreSQL database.
func TestInvitationsAcrossInstances(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Config{})
	c := startCluster(t, mailVars(t, mail), 3)
	t.Run("invited on A, accepted on B, password login on C", func(t *testing.T) { invitationAcrossInstances(t, c, mail) })
	t.Run("invited again on B: the link from A is dead, the new one works on C", func(t *testing.T) { reinvitation(t, c, mail) })
}

// TestInvitationsWithVerificationRequired: with EMAIL_VERIFICATION=required an
// invitation, whose acceptance verifies the address, still signs in.
func TestInvitationsWithVerificationRequired(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Config{})
	vars := mailVars(t, mail)
	vars["EMAIL_VERIFICATION"] = "required"
	c := startCluster(t, vars, 2)
	u := c.invite(t, 0, "req")
	tok := newMailTo(t, mail, u.email, "/accept-invite", map[string]bool{}).token
	if r := c.accept(t, 1, tok, userPassword); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("accepting an invitation on B with EMAIL_VERIFICATION=required: %v; want 200 and the token response (the acceptance verifies the address)", r)
	}
	tokensOf(t, c.must(t, c.node(0), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
}

// invite has the admin create an account with an invitation on instance i.
func (c *cluster) invite(t *testing.T, i int, name string) user {
	t.Helper()
	n := c.seq.Add(1)
	u := user{email: fmt.Sprintf("%s%d-%s@cluster.test", name, n, c.run), ip: c.ip()}
	r := c.must(t, c.node(i), c.ip(), "POST", "/v1/users", c.admin(t), map[string]any{
		"email": u.email, "username": fmt.Sprintf("%s%d_%s", name, n, c.run), "invite": true,
	})
	view, _ := r.body["user"].(map[string]any)
	if r.status != http.StatusCreated || view == nil {
		t.Fatalf("POST /v1/users with invite on %s: %v; want 201", c.node(i).name, r)
	}
	u.id, _ = view["id"].(string)
	if view["has_password"] != false || view["status"] != "active" {
		t.Errorf("an invited account: has_password %v, status %v; want false, active", view["has_password"], view["status"])
	}
	return u
}

func (c *cluster) accept(t *testing.T, i int, token, password string) res {
	t.Helper()
	return c.must(t, c.node(i), c.ip(), "POST", "/v1/auth/invite/accept", "", map[string]any{"token": token, "password": password})
}

func wantInvalidToken(t *testing.T, what string, r res) {
	t.Helper()
	if r.status != http.StatusBadRequest || r.code() != "invalid_token" {
		t.Errorf("%s: %v; want 400 invalid_token", what, r)
	}
}

// invitationAcrossInstances: an account made with an invitation on A; the
// link accepted on B with a strong password (a weak one refused first, the
// link still good); the password logs in on C; the link works once; a new
// invitation is refused (already_accepted).
func invitationAcrossInstances(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.invite(t, 0, "inv")
	tok := newMailTo(t, mail, u.email, "/accept-invite", map[string]bool{}).token

	if r := c.must(t, c.node(2), c.ip(), "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}); r.status != http.StatusUnauthorized {
		t.Errorf("a password login to the invited account before it accepted, on C: %v; want 401", r)
	}
	if r := c.accept(t, 1, tok, "password"); r.status != http.StatusBadRequest || r.code() != "validation_failed" {
		t.Errorf("accepting with a weak password on B: %v; want 400 validation_failed", r)
	}
	r := c.accept(t, 1, tok, userPassword)
	tk := tokensOf(t, r)
	if got := amrOf(t, tk.access); !slices.Equal(got, []string{"pwd"}) {
		t.Errorf("amr after accepting the invitation on B: %v; want [pwd]", got)
	}
	me := c.meUser(t, 2, u.ip, tk.access)
	if me["id"] != u.id || me["email_verified"] != true || me["has_password"] != true {
		t.Errorf("GET /v1/me on C after the acceptance on B: id %v, email_verified %v, has_password %v; want %s, true, true",
			me["id"], me["email_verified"], me["has_password"], u.id)
	}
	login := tokensOf(t, c.must(t, c.node(2), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
	c.meUser(t, 0, u.ip, login.access)

	wantInvalidToken(t, "the invitation accepted on B, again on A", c.accept(t, 0, tok, userPassword+"x"))
	wantInvalidToken(t, "the invitation accepted on B, again on C", c.accept(t, 2, tok, userPassword+"y"))
	if r := c.must(t, c.node(2), c.ip(), "POST", "/v1/users/"+u.id+"/invite", c.admin(t), nil); r.status != http.StatusConflict || r.code() != "already_accepted" {
		t.Errorf("inviting the user who accepted, on C: %v; want 409 already_accepted", r)
	}
	// The first password stands: neither refused acceptance changed it.
	tokensOf(t, c.must(t, c.node(1), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
}

// reinvitation: invited on A, invited again on B: the first link is dead on
// C, the second is accepted on A and its password works on B.
func reinvitation(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.invite(t, 0, "reinv")
	seen := map[string]bool{}
	first := newMailTo(t, mail, u.email, "/accept-invite", seen).token
	if r := c.must(t, c.node(1), c.ip(), "POST", "/v1/users/"+u.id+"/invite", c.admin(t), nil); r.status != http.StatusAccepted {
		t.Fatalf("POST /v1/users/{id}/invite on B: %v; want 202", r)
	}
	second := newMailTo(t, mail, u.email, "/accept-invite", seen).token
	wantInvalidToken(t, "the first invitation, after a newer one on B, on C", c.accept(t, 2, first, userPassword))
	tokensOf(t, c.accept(t, 0, second, userPassword))
	tokensOf(t, c.must(t, c.node(1), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
}
