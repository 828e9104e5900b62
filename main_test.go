package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/bintest"
	"github.com/authsvc/authsvc/store"
)

// These tests build the real binary once (bintest.Build) and run it as an
// operator would: real process, real port, real SQLite file, signals, exit
// statuses.

func TestMain(m *testing.M) { bintest.Main(m) }

// baseVars is a cheap configuration on a SQLite file in dir, with no SECRET_KEY.
func baseVars(dir string) map[string]string {
	return map[string]string{
		"DATABASE_URL":             "sqlite://" + filepath.Join(dir, "a.db"),
		"PASSWORD_HASH_MEMORY_KIB": "1024",
		"PASSWORD_HASH_ITERATIONS": "1",
	}
}

// environ is vars as the process's whole environment: nothing leaks in from
// the developer's shell, and the working directory holds no .env.
func environ(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// logLines collects a process's stderr line by line and wakes waiters on each line.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLogLines() *logLines { return &logLines{changed: make(chan struct{})} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// snapshot returns the lines so far and a channel closed at the next line.
func (l *logLines) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), l.changed
}

func (l *logLines) String() string {
	lines, _ := l.snapshot()
	return strings.Join(lines, "\n")
}

// entries parses the JSON log; a line that is not JSON fails the test.
func (l *logLines) entries(t *testing.T) []map[string]any {
	t.Helper()
	lines, _ := l.snapshot()
	out := make([]map[string]any, 0, len(lines))
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not a JSON log entry: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// service is one running authsvc process.
type service struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	log     *logLines
	exited  chan struct{}
	waitErr error
}

// start runs `authsvc` (serve) in dir and waits until /healthz answers.
func start(t *testing.T, dir string, vars map[string]string) *service {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	v := map[string]string{"HTTP_ADDR": addr}
	for k, val := range vars {
		v[k] = val
	}
	s := &service{t: t, base: "http://" + addr, log: newLogLines(), exited: make(chan struct{})}
	s.cmd = exec.Command(bintest.Build(t))
	s.cmd.Dir, s.cmd.Env, s.cmd.Stderr = dir, environ(v), s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	s.waitReady()
	return s
}

// waitReady polls /healthz until it answers 200, the process dies, or 20 s pass.
func (s *service) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if res, err := client.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("authsvc exited before it was ready (%v); stderr:\n%s", s.waitErr, s.log)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("authsvc not ready after 20 s; stderr:\n%s", s.log)
		}
	}
}

// waitLog waits up to 20 s for a log entry whose msg is msg.
func (s *service) waitLog(msg string) map[string]any {
	s.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		lines, changed := s.log.snapshot()
		for _, line := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		select {
		case <-changed:
		case <-s.exited:
			s.t.Fatalf("authsvc exited without logging %q; stderr:\n%s", msg, s.log)
		case <-timeout:
			s.t.Fatalf("authsvc did not log %q within 20 s; stderr:\n%s", msg, s.log)
		}
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within 25 s.
func (s *service) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	s.waitExit()
}

func (s *service) waitExit() {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(25 * time.Second):
		s.t.Fatalf("authsvc still running 25 s after SIGTERM; stderr:\n%s", s.log)
	}
	if s.waitErr != nil {
		s.t.Fatalf("authsvc exit: %v (want status 0); stderr:\n%s", s.waitErr, s.log)
	}
}

// call sends a JSON request and returns the status and decoded body.
func (s *service) call(method, path, bearer string, body any) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// login logs in and fails the test unless it succeeds; it returns the token response.
func (s *service) login(login, password string) map[string]any {
	s.t.Helper()
	status, body := s.call("POST", "/v1/auth/login", "", map[string]any{"login": login, "password": password})
	if status != http.StatusOK {
		s.t.Fatalf("login %q: %d %v", login, status, body)
	}
	return body
}

func hasRole(tokens map[string]any, role string) bool {
	user, _ := tokens["user"].(map[string]any)
	roles, _ := user["roles"].([]any)
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// kidOf reads the kid from a compact JWS header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

// run executes one command to completion and returns its exit status and output.
func run(t *testing.T, dir string, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bintest.Build(t), args...)
	cmd.Dir, cmd.Env = dir, environ(vars)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("authsvc %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// mustRun runs a command that must exit 0.
func mustRun(t *testing.T, dir string, vars map[string]string, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := run(t, dir, vars, stdin, args...)
	if code != 0 {
		t.Fatalf("authsvc %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func checkSecretFile(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "authsvc.secret")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no generated SECRET_KEY beside the database: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, perm)
	}
	data, _ := os.ReadFile(path)
	if !regexp.MustCompile(`^[0-9a-f]{64,}\n?$`).Match(data) {
		t.Fatalf("%s does not hold a hex key of 32+ bytes", path)
	}
}

const (
	adminPassword = "Root-pass-for-tests-9481!"
	opsPassword   = "violet-Harbor-tunnel-58!"
)

// TestBootstrapAdminFromEnvironment: with ADMIN_* set, the first start creates
// that admin and never logs the password.
func TestBootstrapAdminFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := baseVars(dir)
	vars["ADMIN_EMAIL"], vars["ADMIN_USERNAME"], vars["ADMIN_PASSWORD"] = "root@example.com", "root", adminPassword
	s := start(t, dir, vars)
	checkSecretFile(t, dir)

	tk := s.login("root@example.com", adminPassword)
	if !hasRole(tk, "admin") {
		t.Fatalf("bootstrap admin lacks the admin role: %v", tk["user"])
	}
	created := s.waitLog("created the bootstrap admin")
	if created["username"] != "root" || created["email"] != "root@example.com" {
		t.Fatalf("bootstrap log entry %v", created)
	}
	s.stop()
	if strings.Contains(s.log.String(), adminPassword) {
		t.Fatalf("the log contains ADMIN_PASSWORD:\n%s", s.log)
	}
}

// TestLifecycle follows one SQLite database through an operator's first days:
// first start with a generated admin password, a restart, a graceful stop with
// a request in flight, the maintenance commands, and a start after them.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := baseVars(dir)

	// First start: the one-time password is logged once, under "password".
	first := start(t, dir, vars)
	checkSecretFile(t, dir)
	var generated string
	for _, e := range first.log.entries(t) {
		if pw, ok := e["password"].(string); ok {
			if generated != "" {
				t.Fatal("the generated password is logged more than once")
			}
			generated = pw
			if e["username"] != "admin" || e["level"] != "WARN" {
				t.Errorf("bootstrap entry %v", e)
			}
		}
	}
	if generated == "" {
		t.Fatalf("no generated password in the log:\n%s", first.log)
	}
	tk := first.login("admin", generated)
	if !hasRole(tk, "admin") {
		t.Fatalf("bootstrap admin lacks the admin role: %v", tk["user"])
	}
	first.stop()

	// Second start on the same database: no new admin, no password printed,
	// and the first run's token still verifies (same secret, same keys).
	second := start(t, dir, vars)
	for _, e := range second.log.entries(t) {
		if _, ok := e["password"]; ok || strings.Contains(fmt.Sprint(e["msg"]), "bootstrap admin") {
			t.Fatalf("second start bootstrapped again: %v", e)
		}
	}
	if status, body := second.call("GET", "/v1/me", tk["access_token"].(string), nil); status != http.StatusOK {
		t.Fatalf("token from the first run: %d %v", status, body)
	}
	second.login("admin", generated)
	gracefulStop(t, second, generated)
	countUsers(t, vars["DATABASE_URL"], 1, 1)

	// Maintenance commands on the stopped service's database.
	status := mustRun(t, dir, vars, "", "migrate", "status")
	view, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	migrations, _ := fs.Glob(view, "*.sql")
	if lines := strings.Split(strings.TrimSpace(status), "\n"); len(lines) != len(migrations) || strings.Contains(status, "pending") {
		t.Fatalf("migrate status, want %d applied migrations:\n%s", len(migrations), status)
	}
	before := keyStates(t, mustRun(t, dir, vars, "", "keys", "list"))
	out := mustRun(t, dir, vars, "", "keys", "rotate")
	rotated := regexp.MustCompile(`^rotated: (\S+) \(ES256\) now signs\n$`).FindStringSubmatch(out)
	if rotated == nil {
		t.Fatalf("keys rotate: %q", out)
	}
	after := keyStates(t, mustRun(t, dir, vars, "", "keys", "list"))
	if before[rotated[1]] != "next" || after[rotated[1]] != "current" {
		t.Fatalf("rotation did not promote the published next key %s: before %v, after %v", rotated[1], before, after)
	}
	for kid, state := range before {
		if state == "current" && after[kid] != "retiring" {
			t.Fatalf("old current key %s is %q after rotation, want retiring", kid, after[kid])
		}
	}
	out = mustRun(t, dir, vars, opsPassword+"\n", "admin", "create", "--email", "ops@example.com", "--username", "ops")
	if !strings.HasPrefix(out, "created admin ops (ops@example.com, id ") {
		t.Fatalf("admin create: %q", out)
	}

	// Third start: the new admin logs in, tokens carry the rotated kid, and a
	// token signed by the old key still verifies while it is retiring.
	third := start(t, dir, vars)
	ops := third.login("ops", opsPassword)
	if !hasRole(ops, "admin") {
		t.Fatalf("admin create made a user without the admin role: %v", ops["user"])
	}
	if kid := kidOf(t, ops["access_token"].(string)); kid != rotated[1] {
		t.Fatalf("token signed with kid %s, want the rotated key %s", kid, rotated[1])
	}
	if status, body := third.call("GET", "/v1/me", tk["access_token"].(string), nil); status != http.StatusOK {
		t.Fatalf("token signed before rotation: %d %v", status, body)
	}
	third.stop()
	countUsers(t, vars["DATABASE_URL"], 2, 2)
}

// gracefulStop sends SIGTERM while a login is in flight and checks the login
// still completes. Expect: 100-continue makes "in flight" certain without
// sleeping: the server answers 100 only once the handler is reading the body,
// and the test sends the body only after the service has logged its shutdown.
func gracefulStop(t *testing.T, s *service, password string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	body := fmt.Sprintf(`{"login":"admin","password":%q}`, password)
	fmt.Fprintf(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: authsvc\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", res, err)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.waitLog("shutting down: finishing in-flight requests")
	select {
	case <-s.exited:
		t.Fatalf("authsvc exited with a request in flight; stderr:\n%s", s.log)
	default:
	}

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight login lost at shutdown: %v", err)
	}
	defer res.Body.Close()
	var tk map[string]any
	json.NewDecoder(res.Body).Decode(&tk)
	if res.StatusCode != http.StatusOK || tk["access_token"] == nil {
		t.Fatalf("in-flight login at shutdown: %d %v", res.StatusCode, tk)
	}
	s.waitExit()
}

// keyStates parses `keys list` into kid → state.
func keyStates(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "KID") {
		t.Fatalf("keys list:\n%s", out)
	}
	states := map[string]string{}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 5 || f[1] != "ES256" {
			t.Fatalf("keys list line %q", line)
		}
		states[f[0]] = f[2]
	}
	return states
}

// countUsers checks the stopped service's database directly.
func countUsers(t *testing.T, databaseURL string, users, admins int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, databaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CountActiveAdmins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != users || a != admins {
		t.Fatalf("%d users, %d active admins; want %d and %d", n, a, users, admins)
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := baseVars(dir)

	if out := mustRun(t, dir, vars, "", "version"); out != "authsvc "+bintest.Version+"\n" {
		t.Errorf("version: %q", out)
	}
	help := mustRun(t, dir, vars, "", "--help")
	for _, want := range []string{"Usage:", "serve", "migrate up|down|status", "admin create --email", "keys rotate|list", "version"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	code, stdout, stderr := run(t, dir, vars, "", "frobnicate")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = run(t, dir, map[string]string{"DATABASE_URL": "mysql://db/authsvc"}, "", "migrate", "status")
	if code != 1 || !strings.HasPrefix(stderr, "authsvc: DATABASE_URL: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad DATABASE_URL: exit %d, stderr %q", code, stderr)
	}
	// Nothing above touched the database.
	if _, err := os.Stat(filepath.Join(dir, "a.db")); err == nil {
		t.Error("version, help or a usage error created the database")
	}
}
