package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/cli"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
)

// usersCLI runs authsvc in-process against the database of a service under test.
type usersCLI struct {
	t     *testing.T
	e     *apitest.Env
	vars  apitest.Vars
	stdin string
}

type usersRun struct {
	code           int
	stdout, stderr string
}

func newUsersCLI(t *testing.T, dialect string) *usersCLI {
	url := testdb.URL(t, dialect)
	return &usersCLI{t: t, e: apitest.NewOn(t, url, nil), vars: apitest.BaseVars(url)}
}

func (u *usersCLI) run(args ...string) usersRun {
	u.t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{
		Getenv: func(k string) string { return u.vars[k] },
		Stdin:  strings.NewReader(u.stdin),
		Stdout: &stdout, Stderr: &stderr,
		DotEnv: filepath.Join(u.t.TempDir(), "absent.env"),
		Now:    u.e.Clock.Now,
	})
	return usersRun{code, stdout.String(), stderr.String()}
}

func (r usersRun) expect(t *testing.T, code int) usersRun {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// rows returns the usernames of a users list output, in order.
func (r usersRun) rows(t *testing.T) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "USERNAME") {
		t.Fatalf("no header: %q", r.stdout)
	}
	var out []string
	for _, l := range lines[1:] {
		out = append(out, strings.Fields(l)[1])
	}
	return out
}

func TestUsersList(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		u := newUsersCLI(t, d)
		e := u.e
		admin := e.AdminLogin().AccessToken
		for _, name := range []string{"alice", "bob", "carol"} {
			e.Signup(name)
		}
		e.As(admin, "PATCH", "/v1/users/"+e.Signup("dave")["id"].(string), map[string]any{"status": "disabled"}).Expect(http.StatusOK)

		all := u.run("users", "list").expect(t, 0)
		if got := strings.Join(all.rows(t), ","); got != "root,alice,bob,carol,dave" {
			t.Fatalf("list = %s\n%s", got, all.stdout)
		}
		if !strings.Contains(all.stdout, "alice@example.com") || !strings.Contains(all.stdout, "admin,user") || !strings.Contains(all.stdout, "disabled") {
			t.Fatalf("list lacks columns:\n%s", all.stdout)
		}
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"--q", "AL"}, "alice"},
			{[]string{"--status", "disabled"}, "dave"},
			{[]string{"--status", "active", "--role", "user"}, "root,alice,bob,carol"},
			{[]string{"--role", "admin"}, "root"},
			{[]string{"--limit", "2"}, "root,alice"},
			{[]string{"--limit", "0"}, "root,alice,bob,carol,dave"},
			{[]string{"--q", "nobody"}, ""},
		}
		for _, tc := range cases {
			r := u.run(append([]string{"users", "list"}, tc.args...)...).expect(t, 0)
			if got := strings.Join(r.rows(t), ","); got != tc.want {
				t.Errorf("users list %v = %q, want %q", tc.args, got, tc.want)
			}
		}
		u.run("users", "list", "--status", "sleepy").expect(t, 2)
		u.run("users", "list", "--limit", "-1").expect(t, 2)
		u.run("users", "list", "--bogus").expect(t, 2)
		help := u.run("users", "list", "--help").expect(t, 0)
		if !strings.Contains(help.stdout, "Usage: authsvc users list") || !strings.Contains(help.stdout, "-status") {
			t.Fatalf("help = %q", help.stdout)
		}
		u.run("users").expect(t, 2)
		if r := u.run("users", "--help").expect(t, 0); !strings.Contains(r.stdout, "set-role") {
			t.Fatalf("users --help = %q", r.stdout)
		}
	})
}

func TestUsersSetRole(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		u := newUsersCLI(t, d)
		e := u.e
		alice := e.SignupLogin("alice")
		aliceID := alice.User["id"].(string)
		root := e.AdminLogin()

		r := u.run("users", "set-role", "--user", "alice", "--role", "admin").expect(t, 0)
		if !strings.Contains(r.stdout, "granted role admin to alice; 1 session(s) revoked") {
			t.Fatalf("stdout = %q", r.stdout)
		}
		// Her old token carried the old roles: it is refused at once.
		e.As(alice.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		tk := e.Login("alice", apitest.StrongPassword)
		e.As(tk.AccessToken, "GET", "/v1/audit", nil).Expect(200)
		if r := u.run("users", "set-role", "--user", "alice@example.com", "--role", "admin").expect(t, 0); !strings.Contains(r.stdout, "already holds") {
			t.Fatalf("stdout = %q", r.stdout)
		}
		e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200) // no change, no revocation

		// Removing admin from root is fine while alice is an admin...
		r = u.run("users", "set-role", "--user", root.User["id"].(string), "--role", "admin", "--remove").expect(t, 0)
		if !strings.Contains(r.stdout, "removed role admin from root") {
			t.Fatalf("stdout = %q", r.stdout)
		}
		e.As(root.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		// ...but not from alice, now the last active admin.
		r = u.run("users", "set-role", "--user", aliceID, "--role", "admin", "--remove").expect(t, 1)
		if !strings.Contains(r.stderr, "last active admin") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		e.As(tk.AccessToken, "GET", "/v1/audit", nil).Expect(200) // still admin, session intact
		if r := u.run("users", "set-role", "--user", "root", "--role", "admin", "--remove").expect(t, 0); !strings.Contains(r.stdout, "does not hold") {
			t.Fatalf("stdout = %q", r.stdout)
		}

		// Every change is in the audit trail, attributed to the command line.
		var page struct {
			Events []struct {
				UserID  string         `json:"user_id"`
				ActorID *string        `json:"actor_id"`
				Details map[string]any `json:"details"`
			} `json:"events"`
		}
		e.As(tk.AccessToken, "GET", "/v1/audit?type=role_changed", nil).Expect(200).Decode(&page)
		if len(page.Events) != 2 || page.Events[0].UserID != root.User["id"] || page.Events[1].UserID != aliceID ||
			page.Events[0].ActorID != nil || page.Events[0].Details["via"] != "command line" {
			t.Fatalf("role_changed events = %+v", page.Events)
		}

		u.run("users", "set-role", "--user", "nobody", "--role", "admin").expect(t, 1)
		if r := u.run("users", "set-role", "--user", "alice", "--role", "wizard").expect(t, 1); !strings.Contains(r.stderr, `no role "wizard"`) {
			t.Fatalf("stderr = %q", r.stderr)
		}
		u.run("users", "set-role", "--user", "alice").expect(t, 2)
		u.run("users", "set-role", "--role", "admin").expect(t, 2)
		if r := u.run("users", "set-role", "--help").expect(t, 0); !strings.Contains(r.stdout, "-remove") {
			t.Fatalf("help = %q", r.stdout)
		}
		// A custom role works the same.
		e.As(tk.AccessToken, "POST", "/v1/roles", map[string]any{"name": "master", "permissions": []string{"users:read"}}).Expect(201)
		u.run("users", "set-role", "--user", "root", "--role", "master").expect(t, 0)
		if r := u.run("users", "list", "--role", "master").expect(t, 0); strings.Join(r.rows(t), ",") != "root" {
			t.Fatalf("masters = %q", r.stdout)
		}
	})
}

// TestUsersSetPassword: the operator sets a new password read from stdin, by
// username, email or id; the policy applies, every session of the user ends,
// the old password stops working and the audit trail names the command line.
func TestUsersSetPassword(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		u := newUsersCLI(t, d)
		e := u.e
		const newPw = "Harbour-lantern-quietly-93!"
		first := e.SignupLogin("alice")
		second := e.Login("alice", apitest.StrongPassword)
		aliceID := first.User["id"].(string)

		u.stdin = newPw + "\n"
		r := u.run("users", "set-password", "--user", "alice").expect(t, 0)
		if r.stdout != "set a new password for alice; 2 session(s) revoked\n" || r.stderr != "" {
			t.Fatalf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		for _, tk := range []apitest.Tokens{first, second} {
			e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
			e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).
				ExpectProblem(http.StatusUnauthorized, "invalid_refresh_token")
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "alice", "password": apitest.StrongPassword}).
			ExpectProblem(http.StatusUnauthorized, "invalid_credentials")
		e.Login("alice", newPw)

		// The policy applies, with the user's own details as inputs; nothing changes.
		for stdin, want := range map[string]string{
			"password1\n":                   "too weak",
			"alice@example.com-alice\n":     "too weak",
			strings.Repeat("x", 129) + "\n": "too weak",
			"":                              "no password: pipe it on stdin",
			"\n":                            "empty",
		} {
			u.stdin = stdin
			r := u.run("users", "set-password", "--user", "alice@example.com").expect(t, 1)
			if !strings.HasPrefix(r.stderr, "authsvc: ") || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "ADMIN_PASSWORD") {
				t.Errorf("stdin %q: stderr %q; want it to say %q", stdin, r.stderr, want)
			}
		}
		tk := e.Login("alice", newPw) // still the password set above

		// The way back for a lost admin password: by id.
		root := e.AdminLogin()
		u.stdin = newPw + "\n"
		u.run("users", "set-password", "--user", root.User["id"].(string)).expect(t, 0)
		e.As(root.AccessToken, "GET", "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		admin := e.Login("root", newPw)

		var page struct {
			Events []struct {
				UserID  string         `json:"user_id"`
				ActorID *string        `json:"actor_id"`
				Details map[string]any `json:"details"`
			} `json:"events"`
		}
		e.As(admin.AccessToken, "GET", "/v1/audit?type=user_updated", nil).Expect(http.StatusOK).Decode(&page)
		if len(page.Events) != 2 {
			t.Fatalf("user_updated events = %+v; want alice's and root's", page.Events)
		}
		for i, want := range []struct {
			user    string
			revoked float64
		}{{root.User["id"].(string), 1}, {aliceID, 2}} { // newest first
			ev := page.Events[i]
			changed, _ := ev.Details["changed"].([]any)
			if ev.UserID != want.user || ev.ActorID != nil || ev.Details["via"] != "command line" ||
				len(changed) != 1 || changed[0] != "password" || ev.Details["sessions_revoked"] != want.revoked {
				t.Errorf("user_updated event %d = %+v; want %s's password by the command line, %v sessions revoked", i, ev, want.user, want.revoked)
			}
		}
		e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(http.StatusOK) // root's change left alice alone

		u.stdin = newPw + "\n"
		if r := u.run("users", "set-password", "--user", "nobody").expect(t, 1); !strings.Contains(r.stderr, `no user with id, email or username "nobody"`) {
			t.Errorf("unknown user: stderr %q", r.stderr)
		}
		u.run("users", "set-password").expect(t, 2)
		u.run("users", "set-password", "--user", "alice", "extra").expect(t, 2)
		if r := u.run("users", "set-password", "--help").expect(t, 0); !strings.Contains(r.stdout, "-user") || !strings.Contains(r.stdout, "stdin") {
			t.Errorf("help = %q", r.stdout)
		}
		if r := u.run("users", "--help").expect(t, 0); !strings.Contains(r.stdout, "set-password") {
			t.Errorf("users --help = %q", r.stdout)
		}
	})
}
