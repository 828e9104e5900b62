package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test's own connection to the cluster's database
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/bintest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

const (
	secretKey     = "5b0e8f2a9c4d7e1f3a6b8c0d2e4f6a8b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f"
	adminEmail    = "root@cluster.test"
	adminPassword = "Root-pass-for-cluster-tests-9481!"
	userPassword  = "Cluster-member-pass-58!violet"
	// redisDB is the database number these tests use on the machine's Redis
	// (ratelimit's tests use 11). Every key they make starts with the
	// cluster's own REDIS_PREFIX, and expires by itself within a minute.
	redisDB = 12
	// grace is REFRESH_REUSE_GRACE: short, so reuse detection is reached soon.
	grace = time.Second
)

func TestMain(m *testing.M) { bintest.Main(m) }

// redisURL is the machine's Redis; without one the test is skipped, except in
// CI, where that is a failure.
func redisURL(t testing.TB) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: redisDB, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	return fmt.Sprintf("redis://127.0.0.1:6379/%d", redisDB)
}

// clusterVars is the configuration every instance shares: one database, one
// Redis, one SECRET_KEY, cheap hashing, limits low enough to reach.
func clusterVars(t testing.TB) map[string]string {
	return map[string]string{
		"DATABASE_URL":       testdb.URL(t, store.Postgres),
		"DATABASE_MAX_CONNS": "8",
		"REDIS_URL":          redisURL(t),
		// A prefix of this cluster's own: the clusters of a run share Redis and
		// the bootstrap admin's login, whose limit must count one cluster's logins.
		"REDIS_PREFIX":             "authsvc-" + secret.Token()[:12] + ":",
		"SECRET_KEY":               secretKey,
		"PUBLIC_URL":               "http://authsvc.cluster.test",
		"ADMIN_EMAIL":              adminEmail,
		"ADMIN_USERNAME":           "root",
		"ADMIN_PASSWORD":           adminPassword,
		"INTROSPECTION_CLIENTS":    apitest.GatewayClient + ":" + apitest.GatewaySecret,
		"PASSWORD_HASH_MEMORY_KIB": "1024",
		"PASSWORD_HASH_ITERATIONS": "1",
		"KEY_ROTATION_INTERVAL":    "0",
		"REFRESH_REUSE_GRACE":      grace.String(),
		"LOGIN_RATE_LIMIT":         "6/m",
		"LOCKOUT_THRESHOLD":        "3",
		"SIGNUP_RATE_LIMIT":        "0",
		"MAIL_RATE_LIMIT":          "0",
		// Each test client sends its own X-Forwarded-For, so that the per-address
		// login limit counts only what a check means it to.
		"TRUSTED_PROXIES": "127.0.0.1/32",
		"LOG_FORMAT":      "json",
		"LOG_LEVEL":       "info",
	}
}

// node is one authsvc process.
type node struct {
	name    string
	base    string // http://127.0.0.1:PORT
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// cluster is the instances of one test on one database.
type cluster struct {
	t     testing.TB
	vars  map[string]string
	dir   string
	mu    sync.Mutex
	nodes []*node // the current ones; a restart replaces its slot
	all   []*node // every process started, for the logs
	http  *http.Client

	adminOnce  sync.Once
	adminToken string
	seq        atomic.Int64
	run        string // names this run's users
	ipBase     uint32 // where this run's client addresses start
}

// startCluster starts n instances at the same instant on the (empty) database
// of vars, and waits until each answers /readyz.
func startCluster(t testing.TB, vars map[string]string, n int) *cluster {
	t.Helper()
	bin := bintest.Build(t)
	c := &cluster{
		t: t, vars: vars, dir: t.TempDir(), run: strings.ToLower(rand.Text()[:8]), ipBase: randUint32(),
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		},
			// A redirect is an answer under test (a provider's authorize and
			// callback), never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	t.Cleanup(func() {
		for _, nd := range c.all {
			nd.kill()
		}
		c.http.CloseIdleConnections()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	for i := range n {
		c.nodes = append(c.nodes, c.spawn(bin, string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.waitReady(nd) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// spawn starts one process on a free loopback port, its log in a file.
func (c *cluster) spawn(bin, name string) *node {
	c.t.Helper()
	addr := freeAddr(c.t)
	nd := &node{name: name, base: "http://" + addr, exited: make(chan struct{})}
	nd.logPath = filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", name, len(c.all)))
	logFile, err := os.Create(nd.logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	env := []string{"HTTP_ADDR=" + addr}
	for k, v := range c.vars {
		env = append(env, k+"="+v)
	}
	nd.cmd = exec.Command(bin, "serve")
	nd.cmd.Dir, nd.cmd.Env, nd.cmd.Stdout, nd.cmd.Stderr = c.dir, env, logFile, logFile
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	logFile.Close() // the child has its own descriptor
	go func() { nd.waitErr = nd.cmd.Wait(); close(nd.exited) }()
	c.mu.Lock()
	c.all = append(c.all, nd)
	c.mu.Unlock()
	return nd
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls /readyz until it answers 200, the process dies, or 30 s pass.
func (c *cluster) waitReady(nd *node) error {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if res, err := c.http.Get(nd.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-nd.exited:
			return fmt.Errorf("instance %s exited before it was ready: %v", nd.name, nd.waitErr)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("instance %s not ready after 30 s", nd.name)
		}
	}
}

// replace starts a new process in slot i (the old one has stopped) and waits for it.
func (c *cluster) replace(i int) *node {
	c.t.Helper()
	nd := c.spawn(bintest.Build(c.t), c.node(i).name)
	if err := c.waitReady(nd); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes[i] = nd
	c.mu.Unlock()
	return nd
}

func (c *cluster) node(i int) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i%len(c.nodes)]
}

func (nd *node) kill() {
	select {
	case <-nd.exited:
	default:
		nd.cmd.Process.Kill()
		<-nd.exited
	}
}

func (nd *node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := nd.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitExit waits up to 30 s for the process to end and returns how it ended.
func (nd *node) waitExit(t testing.TB) error {
	t.Helper()
	select {
	case <-nd.exited:
		return nd.waitErr
	case <-time.After(30 * time.Second):
		t.Fatalf("instance %s still running 30 s after it was told to stop", nd.name)
		return nil
	}
}

// entries parses the instance's JSON log so far.
func (nd *node) entries(t testing.TB) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(nd.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("instance %s: log line is not JSON: %q", nd.name, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits up to 30 s for a log entry whose msg is msg.
func (nd *node) waitLog(t testing.TB, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, e := range nd.entries(t) {
			if e["msg"] == msg {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s did not log %q within 30 s", nd.name, msg)
		}
		select {
		case <-tick.C:
		case <-nd.exited:
			for _, e := range nd.entries(t) {
				if e["msg"] == msg {
					return e
				}
			}
			t.Fatalf("instance %s exited (%v) without logging %q", nd.name, nd.waitErr, msg)
		}
	}
}

// dumpLogs prints the end of every instance's log: on failure.
func (c *cluster) dumpLogs() {
	for _, nd := range c.all {
		data, _ := os.ReadFile(nd.logPath)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		c.t.Logf("---- instance %s (%s), last %d log lines:\n%s", nd.name, nd.base, len(lines), strings.Join(lines, "\n"))
	}
}

// authsvc runs a command of the binary with the cluster's configuration.
func (c *cluster) authsvc(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bintest.Build(t), args...)
	cmd.Dir = c.dir
	for k, v := range c.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authsvc %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// db opens the cluster's database for the test's own queries.
func (c *cluster) db(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", c.vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryInt runs a query that returns one integer.
func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// ip is a client address of this run, for X-Forwarded-For: one of 198.18.0.0/15,
// counted on from a random start so that runs sharing Redis share no address.
func (c *cluster) ip() string {
	n := uint32(c.seq.Add(1)) + c.ipBase
	return fmt.Sprintf("198.%d.%d.%d", 18+(n>>16)%2, (n>>8)&255, n&255)
}

// res is one answer.
type res struct {
	status int
	header http.Header
	body   map[string]any
}

func (r res) str(key string) string { s, _ := r.body[key].(string); return s }

func (r res) code() string { return r.str("code") }

func (r res) String() string { return fmt.Sprintf("%d %v", r.status, r.body) }

// call sends one request to nd from the client address ip; body may be nil.
// The error is the transport's only: a status is an answer.
func (c *cluster) call(nd *node, ip, method, path, bearer string, body any) (res, error) {
	header := http.Header{}
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return res{}, err
		}
		header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		header.Set("Authorization", "Bearer "+bearer)
	}
	return c.send(nd, ip, method, path, header, b)
}

// send is call with the request's body and headers as given.
func (c *cluster) send(nd *node, ip, method, path string, header http.Header, body []byte) (res, error) {
	req, err := http.NewRequest(method, nd.base+path, bytes.NewReader(body))
	if err != nil {
		return res{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	hr, err := c.http.Do(req)
	if err != nil {
		return res{}, err
	}
	defer hr.Body.Close()
	out := res{status: hr.StatusCode, header: hr.Header}
	data, err := io.ReadAll(hr.Body)
	if err != nil {
		return res{}, err
	}
	if len(data) > 0 && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		if err := json.Unmarshal(data, &out.body); err != nil {
			return res{}, fmt.Errorf("%s %s: body is not JSON: %v", method, path, err)
		}
	}
	return out, nil
}

// must is call, failing the test on a transport error.
func (c *cluster) must(t testing.TB, nd *node, ip, method, path, bearer string, body any) res {
	t.Helper()
	r, err := c.call(nd, ip, method, path, bearer, body)
	if err != nil {
		t.Fatalf("instance %s: %s %s: %v", nd.name, method, path, err)
	}
	return r
}

// user is an account of this run.
type user struct {
	id, email string
	ip        string // the client's address
}

// newUser signs up a fresh user through instance i.
func (c *cluster) newUser(t testing.TB, i int) user {
	t.Helper()
	n := c.seq.Add(1)
	u := user{email: fmt.Sprintf("u%d-%s@cluster.test", n, c.run), ip: c.ip()}
	r := c.must(t, c.node(i), u.ip, "POST", "/v1/auth/signup", "", map[string]any{
		"email": u.email, "username": fmt.Sprintf("u%d_%s", n, c.run), "password": userPassword,
	})
	if r.status != http.StatusCreated {
		t.Fatalf("signup %s on %s: %v", u.email, c.node(i).name, r)
	}
	u.id, _ = r.body["user"].(map[string]any)["id"].(string)
	return u
}

// tokens is a token response's access and refresh token.
type tokens struct{ access, refresh string }

func tokensOf(t testing.TB, r res) tokens {
	t.Helper()
	tk := tokens{access: r.str("access_token"), refresh: r.str("refresh_token")}
	if r.status != http.StatusOK || tk.access == "" || tk.refresh == "" {
		t.Fatalf("want a token response, got %v", r)
	}
	return tk
}

// login logs u in on instance i.
func (c *cluster) login(t testing.TB, i int, u user) tokens {
	t.Helper()
	return tokensOf(t, c.must(t, c.node(i), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}))
}

// admin is an access token of the bootstrap admin, logged in once on instance 0.
func (c *cluster) admin(t testing.TB) string {
	t.Helper()
	c.adminOnce.Do(func() {
		r := c.must(t, c.node(0), c.ip(), "POST", "/v1/auth/login", "", map[string]any{"login": adminEmail, "password": adminPassword})
		c.adminToken = r.str("access_token")
	})
	if c.adminToken == "" {
		t.Fatal("the bootstrap admin could not log in")
	}
	return c.adminToken
}

// kidOf reads the kid from a compact JWS header.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

// jwksKIDs lists the kids instance nd publishes.
func (c *cluster) jwksKIDs(t testing.TB, nd *node) map[string]bool {
	t.Helper()
	r := c.must(t, nd, "", "GET", "/.well-known/jwks.json", "", nil)
	keys, _ := r.body["keys"].([]any)
	out := map[string]bool{}
	for _, k := range keys {
		if m, ok := k.(map[string]any); ok {
			kid, _ := m["kid"].(string)
			out[kid] = true
		}
	}
	if r.status != http.StatusOK || len(out) == 0 {
		t.Fatalf("JWKS of %s: %v", nd.name, r)
	}
	return out
}

// isConnError tells a request that never got an answer (the instance is gone)
// from one that did.
func isConnError(err error) bool {
	if err == nil {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
