package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/cli"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestServeListensBeforeCreating: started on an address another listener
// holds, or on a bad one, `authsvc serve` fails with one line naming HTTP_ADDR
// before it migrates, creates keys or the bootstrap admin, so no one-time
// password is logged and lost; the next start on a free address creates the
// admin and logs a password that logs in, and the one after logs none.
func TestServeListensBeforeCreating(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		dir := t.TempDir()
		url := testdb.URL(t, dialect)
		if dialect == store.SQLite {
			url = "sqlite://" + filepath.Join(dir, "authsvc.db")
		}
		held, err := net.Listen("tcp", "127.0.0.1:0")
		testdb.Must(t, err)
		defer held.Close()
		p := newProgram(t, map[string]string{
			"DATABASE_URL": url, "SECRET_KEY": apitest.TestSecretKey, "LOG_LEVEL": "info",
		})
		if dialect == store.SQLite {
			delete(p.vars, "SECRET_KEY") // the default: a key file beside the database
		}
		p.listen = nil // the real net.Listen

		for addr, want := range map[string]string{
			held.Addr().String(): "address already in use",
			"127.0.0.1:99999":    "invalid port",
		} {
			p.vars["HTTP_ADDR"] = addr
			r := p.run("serve").expect(t, 1)
			if !strings.HasPrefix(r.stderr, "authsvc: HTTP_ADDR: ") || !strings.Contains(r.stderr, want) ||
				strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("HTTP_ADDR=%s: stderr %q; want one line naming HTTP_ADDR and saying %q", addr, r.stderr, want)
			}
			if r.stdout != "" {
				t.Errorf("HTTP_ADDR=%s: stdout %q", addr, r.stdout)
			}
		}
		if dialect == store.SQLite {
			for _, name := range []string{"authsvc.db", "authsvc.secret"} {
				if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
					t.Errorf("%s exists after the failed starts (%v)", name, err)
				}
			}
		}
		for i, s := range states(t, p.run("migrate", "status").expect(t, 0).stdout) {
			if s != "pending" {
				t.Errorf("migration %d is %s after the failed starts; want nothing migrated", i+1, s)
			}
		}

		first := serveWhile(t, p, nil)
		password := generatedPassword(t, first)
		if password == "" {
			t.Fatalf("the first start on a free address logged no generated password:\n%s", first)
		}
		again := serveWhile(t, p, func(base string) {
			body, _ := json.Marshal(map[string]string{"login": "admin", "password": password})
			res, err := http.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
			testdb.Must(t, err)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("login as admin with the logged password: %d", res.StatusCode)
			}
		})
		if strings.Contains(again, `"password"`) || strings.Contains(again, password) {
			t.Errorf("a later start logged a password again:\n%s", again)
		}
		if got := strings.Join(adminNames(t, p), ","); got != "admin" {
			t.Errorf("admins after the starts: %q; want the one bootstrap admin", got)
		}
	})
}

// serveWhile runs `authsvc serve` on a listener of the test's; once it has
// answered /healthz (by then start-up, bootstrap included, is done) it calls
// during, if set, with the service's base URL, then stops the service and
// returns its log.
func serveWhile(t *testing.T, p *program, during func(base string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testdb.Must(t, err)
	saved := p.listen
	defer func() { p.listen = saved }()
	p.vars["HTTP_ADDR"] = "127.0.0.1:0"
	p.listen = func(string) (net.Listener, error) { return ln, nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, nil, p.env(&stdout, &stderr)) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Get(base + "/healthz")
	if err == nil {
		res.Body.Close()
		if during != nil {
			during(base)
		}
	}
	cancel()
	if code := <-done; code != 0 || err != nil {
		t.Fatalf("serve: /healthz %v, exit %d\nstderr: %s", err, code, stderr.String())
	}
	return stderr.String()
}

// generatedPassword is the password of the log's bootstrap-admin line, if any.
func generatedPassword(t *testing.T, log string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Level, Msg, Username, Password string
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, "created the bootstrap admin with a one-time generated password") {
			if line.Level != "WARN" || line.Username != "admin" {
				t.Errorf("bootstrap line: %s", sc.Text())
			}
			return line.Password
		}
	}
	return ""
}

// adminNames lists the admins' usernames with `authsvc users list`.
func adminNames(t *testing.T, p *program) []string {
	t.Helper()
	out := p.run("users", "list", "--role", "admin").expect(t, 0).stdout
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Fields(l)[1])
	}
	return names
}
