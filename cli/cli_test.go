package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/cli"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// lockedBuffer is an output stream the service may write from its own goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is one finished run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// program is the command line with a fake environment.
type program struct {
	t      *testing.T
	vars   map[string]string
	dotEnv string
	stdin  string
	input  io.Reader // stdin when set, in place of stdin
	listen func(addr string) (net.Listener, error)
}

// newProgram has cheap hashing, an absent .env and a listener that must not be used.
func newProgram(t *testing.T, vars map[string]string) *program {
	v := map[string]string{
		"PASSWORD_HASH_MEMORY_KIB": "1024",
		"PASSWORD_HASH_ITERATIONS": "1",
		"LOG_LEVEL":                "warn",
	}
	for k, val := range vars {
		v[k] = val
	}
	return &program{
		t: t, vars: v, dotEnv: filepath.Join(t.TempDir(), "absent.env"),
		listen: func(addr string) (net.Listener, error) {
			t.Errorf("the command opened a listener on %s", addr)
			return nil, net.ErrClosed
		},
	}
}

func (p *program) env(stdout, stderr *lockedBuffer) cli.Env {
	var in io.Reader = strings.NewReader(p.stdin)
	if p.input != nil {
		in = p.input
	}
	return cli.Env{
		Getenv: func(k string) string { return p.vars[k] },
		Stdin:  in,
		Stdout: stdout, Stderr: stderr,
		Listen: p.listen, DotEnv: p.dotEnv,
	}
}

func (p *program) run(args ...string) result {
	p.t.Helper()
	var stdout, stderr lockedBuffer
	code := cli.Run(context.Background(), args, p.env(&stdout, &stderr))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// expect fails unless the run ended with code.
func (r result) expect(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "authsvc.db")
}

// TestConfigErrors: a bad setting stops the program with status 1 and one line
// on stderr naming the variable, before anything is opened.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name     string
		variable string
		vars     map[string]string
	}{
		{"bad DATABASE_URL", "DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://db/authsvc"}},
		{"unknown JWT_ALG", "JWT_ALG", map[string]string{"JWT_ALG": "HS256"}},
		{"bad duration", "ACCESS_TOKEN_TTL", map[string]string{"ACCESS_TOKEN_TTL": "15"}},
		{"short SECRET_KEY", "SECRET_KEY", map[string]string{"SECRET_KEY": "c0ffee"}},
		{"PostgreSQL without SECRET_KEY", "SECRET_KEY", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/authsvc"}},
		{"bad rate", "LOGIN_RATE_LIMIT", map[string]string{"LOGIN_RATE_LIMIT": "lots"}},
	}
	for _, tc := range cases {
		for _, cmd := range [][]string{nil, {"migrate", "status"}, {"keys", "list"}} {
			t.Run(tc.name+"/"+strings.Join(append([]string{"authsvc"}, cmd...), " "), func(t *testing.T) {
				vars := map[string]string{"DATABASE_URL": sqliteURL(t)}
				for k, v := range tc.vars {
					vars[k] = v
				}
				r := newProgram(t, vars).run(cmd...).expect(t, 1)
				if r.stdout != "" {
					t.Errorf("stdout: %q", r.stdout)
				}
				if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "authsvc: "+tc.variable+": ") {
					t.Fatalf("stderr %q is not one line naming %s", r.stderr, tc.variable)
				}
			})
		}
	}
}

func TestDotEnv(t *testing.T) {
	write := func(t *testing.T, content string) string {
		path := filepath.Join(t.TempDir(), ".env")
		testdb.Must(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	t.Run("read when the environment is silent", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "from-dotenv.db")
		p := newProgram(t, nil)
		p.dotEnv = write(t, "DATABASE_URL=sqlite://"+db+"\n")
		p.run("migrate", "up").expect(t, 0)
		if _, err := os.Stat(db); err != nil {
			t.Fatalf("the database named in .env was not created: %v", err)
		}
	})
	t.Run("its errors name the variable", func(t *testing.T) {
		p := newProgram(t, map[string]string{"DATABASE_URL": sqliteURL(t)})
		p.dotEnv = write(t, "JWT_ALG=HS512\n")
		r := p.run("migrate", "status").expect(t, 1)
		if !strings.HasPrefix(r.stderr, "authsvc: JWT_ALG: ") {
			t.Fatalf("stderr %q", r.stderr)
		}
	})
	t.Run("the environment wins", func(t *testing.T) {
		dir := t.TempDir()
		fromEnv, fromFile := filepath.Join(dir, "env.db"), filepath.Join(dir, "file.db")
		p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + fromEnv, "JWT_ALG": "EdDSA"})
		p.dotEnv = write(t, "DATABASE_URL=sqlite://"+fromFile+"\nJWT_ALG=HS512\n")
		p.run("migrate", "up").expect(t, 0)
		if _, err := os.Stat(fromEnv); err != nil {
			t.Fatalf("the environment's database was not used: %v", err)
		}
		if _, err := os.Stat(fromFile); err == nil {
			t.Fatal(".env's DATABASE_URL was used although the environment sets it")
		}
	})
	t.Run("a malformed file is an error", func(t *testing.T) {
		p := newProgram(t, map[string]string{"DATABASE_URL": sqliteURL(t)})
		p.dotEnv = write(t, "JWT_ALG='unterminated\n")
		r := p.run("migrate", "status").expect(t, 1)
		if !strings.Contains(r.stderr, p.dotEnv) {
			t.Fatalf("stderr %q does not name %s", r.stderr, p.dotEnv)
		}
	})
}

// migrationCount is how many migrations the dialect ships.
func migrationCount(t *testing.T, dialect string) int {
	t.Helper()
	view, err := store.Migrations(dialect)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(view, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations for %s: %v", dialect, err)
	}
	return len(files)
}

// states parses `migrate status`: one "NNNNN  state  name" line per migration.
func states(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 5 || !strings.HasSuffix(f[2], ".sql") {
			t.Fatalf("status line %q", line)
		}
		got = append(got, f[1])
	}
	return got
}

func TestMigrateRoundTrip(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		n := migrationCount(t, dialect)
		p := newProgram(t, map[string]string{"DATABASE_URL": testdb.URL(t, dialect), "SECRET_KEY": apitest.TestSecretKey})
		status := func() string {
			t.Helper()
			return strings.Join(states(t, p.run("migrate", "status").expect(t, 0).stdout), " ")
		}
		all := func(state string) []string { return strings.Fields(strings.Repeat(state+" ", n)) }
		pending, applied := strings.Join(all("pending"), " "), strings.Join(all("applied"), " ")
		lastRolledBack := strings.Join(append(all("applied")[1:], "pending"), " ")

		if got := status(); got != pending {
			t.Fatalf("fresh database: %s, want %s", got, pending)
		}
		p.run("migrate", "up").expect(t, 0)
		if got := status(); got != applied {
			t.Fatalf("after up: %s, want %s", got, applied)
		}
		p.run("migrate", "up").expect(t, 0) // nothing left to do is not an error
		p.run("migrate", "down").expect(t, 0)
		if got := status(); got != lastRolledBack {
			t.Fatalf("after down: %s, want %s", got, lastRolledBack)
		}
		p.run("migrate", "up").expect(t, 0)
		if got := status(); got != applied {
			t.Fatalf("after up again: %s, want %s", got, applied)
		}
		// The schema really is there: the service starts on it.
		p.run("keys", "list").expect(t, 0)
	})
}

func TestUsageErrors(t *testing.T) {
	p := newProgram(t, map[string]string{"DATABASE_URL": sqliteURL(t)})
	for _, args := range [][]string{
		{"frobnicate"},
		{"serve", "--port", "80"},
		{"migrate"},
		{"migrate", "sideways"},
		{"migrate", "up", "down"},
		{"keys"},
		{"keys", "spin"},
		{"admin"},
		{"admin", "create"},
		{"admin", "create", "--email", "a@example.com"},
		{"admin", "create", "--username", "a"},
		{"admin", "create", "--email", "\u212Aate@example.com", "--username", "kelvin"}, // the Kelvin sign has no ASCII form
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if r := p.run(args...).expect(t, 2); !strings.Contains(r.stderr, "usage: ") {
				t.Fatalf("stderr %q does not say what is wrong", r.stderr)
			}
		})
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"migrate", "--help"},
		{"admin", "--help"}, {"admin", "create", "--help"}, {"keys", "--help"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := p.run(args...).expect(t, 0)
			if r.stdout == "" || r.stderr != "" {
				t.Fatalf("stdout %q, stderr %q; want help on stdout only", r.stdout, r.stderr)
			}
		})
	}
}

func TestAdminCreateErrors(t *testing.T) {
	p := newProgram(t, map[string]string{"DATABASE_URL": sqliteURL(t)})
	create := func(stdin string, args ...string) result {
		p.stdin = stdin
		return p.run(append([]string{"admin", "create"}, args...)...)
	}
	cases := []struct {
		name, stdin, email, username, want string
	}{
		{"no password on stdin", "", "ops@example.com", "ops", "no password"},
		{"empty line on stdin", "\n", "ops@example.com", "ops", "empty"},
		{"weak password", "password1\n", "ops@example.com", "ops", "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := create(tc.stdin, "--email", tc.email, "--username", tc.username).expect(t, 1)
			if !strings.HasPrefix(r.stderr, "authsvc: ") || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("stderr %q, want it to mention %q", r.stderr, tc.want)
			}
		})
	}
	r := create(apitest.StrongPassword+"\n", "--email", "ops@example.com", "--username", "ops").expect(t, 0)
	if !strings.Contains(r.stdout, "created admin ops (ops@example.com") {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = create(apitest.StrongPassword+"\n", "--email", "OPS@example.com", "--username", "ops2").expect(t, 1)
	if !strings.Contains(r.stderr, "email already exists") {
		t.Fatalf("duplicate email: stderr %q", r.stderr)
	}
	// ADMIN_PASSWORD stands in for stdin.
	p.vars["ADMIN_PASSWORD"] = apitest.StrongPassword
	create("", "--email", "ops3@example.com", "--username", "ops3").expect(t, 0)
	// An international domain is stored as its A-label, as through the API.
	r = create("", "--email", "Ops4@Bücher.example", "--username", "ops4").expect(t, 0)
	if !strings.Contains(r.stdout, "created admin ops4 (Ops4@xn--bcher-kva.example,") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

// TestServeShutsDownOnCancel runs `authsvc serve` in-process on a listener the
// test owns: the service answers on it, and cancelling ctx ends it with status 0.
func TestServeShutsDownOnCancel(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		testdb.Must(t, err)
		p := newProgram(t, map[string]string{
			"DATABASE_URL": testdb.URL(t, dialect), "SECRET_KEY": apitest.TestSecretKey,
			"HTTP_ADDR": "127.0.0.1:0", "ADMIN_USERNAME": "root", "ADMIN_PASSWORD": apitest.AdminPassword,
			"LOG_LEVEL": "info",
		})
		var asked string
		p.listen = func(addr string) (net.Listener, error) { asked = addr; return ln, nil }

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr lockedBuffer
		done := make(chan int, 1)
		go func() { done <- cli.Run(ctx, nil, p.env(&stdout, &stderr)) }()

		// The listener is open already, so the first request waits for the server.
		base := "http://" + ln.Addr().String()
		client := &http.Client{Timeout: 20 * time.Second}
		res, err := client.Post(base+"/v1/auth/login", "application/json",
			strings.NewReader(`{"login":"root","password":"`+apitest.AdminPassword+`"}`))
		if err != nil {
			t.Fatalf("login: %v\nstderr: %s", err, stderr.String())
		}
		var tk apitest.Tokens
		testdb.Must(t, json.NewDecoder(res.Body).Decode(&tk))
		res.Body.Close()
		if res.StatusCode != http.StatusOK || tk.AccessToken == "" {
			t.Fatalf("bootstrap admin login: %d %+v", res.StatusCode, tk)
		}

		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("serve returned %d after cancel\nstderr: %s", code, stderr.String())
			}
		case <-time.After(25 * time.Second):
			t.Fatal("serve did not return within 25 s of cancel")
		}
		if asked != "127.0.0.1:0" {
			t.Errorf("Listen got %q, want HTTP_ADDR", asked)
		}
		if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			t.Error("the listener still accepts connections after shutdown")
		}
		for _, msg := range []string{`"msg":"listening"`, `"msg":"shutting down: finishing in-flight requests"`} {
			if !strings.Contains(stderr.String(), msg) {
				t.Errorf("log lacks %s:\n%s", msg, stderr.String())
			}
		}
	})
}

// The SQLite default keeps its generated SECRET_KEY beside the database.
func TestSecretKeyFileBesideSQLiteDatabase(t *testing.T) {
	dir := t.TempDir()
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(dir, "authsvc.db")})
	first := p.run("keys", "list").expect(t, 0).stdout
	info, err := os.Stat(filepath.Join(dir, "authsvc.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("authsvc.secret mode %v, want 0600", info.Mode().Perm())
	}
	// A second run unseals the same keys with the same file.
	if second := p.run("keys", "list").expect(t, 0).stdout; second != first {
		t.Fatalf("keys changed between runs:\n%s\n%s", first, second)
	}
}
