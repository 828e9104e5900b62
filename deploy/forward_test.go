// Package deploy_test runs the forward-authentication snippets shipped in
// deploy/ for real: Debian's nginx and Caddy, started on loopback ports with
// those very files (only their addresses rewritten), between a client and a
// test app, asking a real authsvc. Without the binaries the tests skip,
// except under CI=true, where they fail.
package deploy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestNginxForwardAuth runs deploy/nginx/authsvc-forward.conf in nginx.
func TestNginxForwardAuth(t *testing.T) {
	t.Parallel()
	bin := binary(t, "nginx")
	s := newStack(t)
	p := startNginx(t, bin, s)
	// nginx drops every header whose name has a character other than a
	// letter, a digit or "-": every alias, not only "_".
	s.exercise(t, p, traits{dropsEveryAlias: true})
}

// TestCaddyForwardAuth runs deploy/caddy/authsvc-forward.Caddyfile in Caddy.
func TestCaddyForwardAuth(t *testing.T) {
	t.Parallel()
	bin := binary(t, "caddy")
	s := newStack(t)
	p := startCaddy(t, bin, s)
	s.exercise(t, p, traits{})
}

// startNginx writes a main configuration that includes the shipped snippet,
// its upstreams and listen address rewritten, and runs nginx in the
// foreground with a prefix, temporary paths and pid file of its own.
func startNginx(t *testing.T, bin string, s *stack) *proxy {
	dir := t.TempDir()
	return startProxy(t, "nginx", func(port int) *exec.Cmd {
		site := render(t, filepath.Join("nginx", "authsvc-forward.conf"),
			"server authsvc:8080;", "server "+s.authsvcAddr()+";",
			"server app:3000;", "server "+s.appAddr()+";",
			"listen 80;", "listen 127.0.0.1:"+strconv.Itoa(port)+";")
		sitePath := filepath.Join(dir, "authsvc-forward.conf")
		if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
			t.Fatal(err)
		}
		var temps strings.Builder
		for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			temps.WriteString("    " + kind + "_temp_path " + filepath.Join(dir, kind) + ";\n")
		}
		main := "worker_processes 1;\nevents { worker_connections 256; }\nhttp {\n    access_log off;\n" +
			temps.String() + "    include " + sitePath + ";\n}\n"
		mainPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		// -e: the log before the configuration is read (else /var/log/nginx).
		return exec.Command(bin, "-p", dir+"/", "-c", mainPath, "-e", "stderr",
			"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr notice;")
	})
}

// startCaddy runs the shipped Caddyfile as it is: its addresses come from
// the environment. Caddy's state (autosave, storage) goes to a directory of
// the test's.
func startCaddy(t *testing.T, bin string, s *stack) *proxy {
	dir := t.TempDir()
	caddyfile, err := filepath.Abs(filepath.Join("caddy", "authsvc-forward.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	return startProxy(t, "caddy", func(port int) *exec.Cmd {
		cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", caddyfile)
		cmd.Env = append(os.Environ(), "LISTEN_PORT="+strconv.Itoa(port),
			"AUTHSVC_ADDR="+s.authsvcAddr(), "APP_ADDR="+s.appAddr(),
			"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
		return cmd
	})
}

// stack is a real authsvc and an app that records what reaches it.
type stack struct {
	e       *apitest.Env
	authsvc *httptest.Server
	app     *httptest.Server

	mu   sync.Mutex
	hits int
	last seenRequest
}

type seenRequest struct {
	method, path, body string
	header             http.Header
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{e: apitest.New(t, "sqlite", nil)}
	s.authsvc = httptest.NewServer(s.e.App.Server)
	t.Cleanup(s.authsvc.Close)
	s.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.hits++
		s.last = seenRequest{method: r.Method, path: r.URL.Path, body: string(body), header: r.Header.Clone()}
		s.mu.Unlock()
		w.Write([]byte("app " + r.URL.Path))
	}))
	t.Cleanup(s.app.Close)
	return s
}

func (s *stack) authsvcAddr() string { return strings.TrimPrefix(s.authsvc.URL, "http://") }
func (s *stack) appAddr() string     { return strings.TrimPrefix(s.app.URL, "http://") }

func (s *stack) seen() (int, seenRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, s.last
}

// traits are where the proxies differ.
type traits struct {
	// dropsEveryAlias: headers named with any character other than letters,
	// digits and "-" (X.Auth.User-Id, X~Auth~Roles) are dropped too. The
	// account safety rule asks for "_" only; nginx does all of them.
	dropsEveryAlias bool
}

// answer is a proxy's response.
type answer struct {
	status int
	header http.Header
	code   string // problem JSON's code
}

// request sends method path through the proxy with token (none when empty)
// and extra headers, whose names go on the wire exactly as written (Go's
// client does not canonicalise keys assigned to the map): X_Auth_User_Id
// arrives as X_Auth_User_Id.
func request(t *testing.T, c *http.Client, method, url, token, body string, headers ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	if res.StatusCode >= 400 {
		var p struct{ Code string }
		b, _ := io.ReadAll(res.Body)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: %d with Content-Type %q; want problem JSON (%q)", method, url, res.StatusCode, ct, b)
		} else if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("%s %s: %d with a body that is not JSON: %q", method, url, res.StatusCode, b)
		}
		a.code = p.Code
	}
	return a
}

// identityName is a header's name as a CGI, WSGI, PHP or Rack app reads it:
// case ignored, and every character but a letter or digit read as "-".
func identityName(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// identity is every X-Auth-* header the app received, by identityName.
func identity(h http.Header) map[string][]string {
	out := map[string][]string{}
	for name, values := range h {
		if n := identityName(name); strings.HasPrefix(n, "x-auth-") {
			out[n] = append(out[n], values...)
		}
	}
	return out
}

// smuggled are identity headers a client makes up: another user's id, the
// admin role, every spelling that an app reading "_" as "-" (and case
// ignored) takes for authsvc's own.
func smuggled(victimID string, everyAlias bool) []string {
	h := []string{
		"X-Auth-User-Id", victimID,
		"x-auth-user-id", victimID,
		"X_Auth_User_Id", victimID,
		"x_auth_user_id", victimID,
		"X-Auth_User-Id", victimID,
		"x-auth-roles", "admin",
		"X_AUTH_ROLES", "admin",
		"X_Auth-Roles", "admin",
		"X-Auth-Username", "root",
		"X-Auth_Username", "root",
		"x_auth_email", "root@example.com",
		"X-Auth-Permissions", "users:write",
		"X_Auth_Permissions", "users:write",
		"X-Auth-Session-Id", "forged",
		"X-Auth-AMR", "mfa",
		"x_auth_amr", "mfa",
		"X-Auth-IDP", "google",
		"X_Auth_IDP", "google",
		"X-Auth-Client-Id", "svc",
		"x_auth_client_id", "svc",
	}
	if everyAlias {
		h = append(h, "X.Auth.User.Id", victimID, "X~Auth~Roles", "admin", "X-Auth.Username", "root")
	}
	return h
}

// exercise runs every case through the proxy at p.
func (s *stack) exercise(t *testing.T, p *proxy, tr traits) {
	c := &http.Client{Timeout: 15 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	e := s.e
	ada := e.SignupLogin("ada")
	adaID := ada.User["id"].(string)
	admin := e.AdminLogin()
	adminID := admin.User["id"].(string)

	// wantIdentity checks that the app got exactly authsvc's headers for
	// the user, each once, and nothing else named X-Auth-*.
	wantIdentity := func(t *testing.T, seen http.Header, want map[string]string) {
		t.Helper()
		got := identity(seen)
		for name, values := range got {
			w, ok := want[name]
			if !ok {
				t.Errorf("the app got %s: %q; authsvc sent no such header", name, values)
				continue
			}
			// An empty value (no permissions) may come as an empty header or none.
			if len(values) != 1 || values[0] != w {
				t.Errorf("the app got %s: %q; want only authsvc's %q", name, values, w)
			}
		}
		for name, w := range want {
			if _, ok := got[name]; !ok && w != "" {
				t.Errorf("the app got no %s; want %q", name, w)
			}
		}
	}
	adaIdentity := map[string]string{
		"x-auth-user-id": adaID, "x-auth-username": "ada", "x-auth-email": "ada@example.com",
		"x-auth-roles": "user", "x-auth-permissions": "", "x-auth-session-id": ada.SessionID, "x-auth-amr": "pwd",
	}

	// notReached runs fn and fails if any request reached the app meanwhile.
	notReached := func(t *testing.T, fn func()) {
		t.Helper()
		before, _ := s.seen()
		fn()
		if after, last := s.seen(); after != before {
			t.Errorf("a refused request reached the app: %s %s", last.method, last.path)
		}
	}

	t.Run("live token reaches the app with authsvc's headers", func(t *testing.T) {
		if a := request(t, c, "GET", p.base+"/orders/42?page=2", ada.AccessToken, ""); a.status != 200 {
			t.Fatalf("GET with a live token: %d %s", a.status, a.code)
		}
		_, seen := s.seen()
		if seen.path != "/orders/42" {
			t.Errorf("the app got path %q", seen.path)
		}
		wantIdentity(t, seen.header, adaIdentity)
		if got := seen.header.Get("Authorization"); got != "Bearer "+ada.AccessToken {
			t.Errorf("the app got Authorization %q; want the client's", got)
		}
		// A body goes to the app (the subrequest to authsvc has none).
		if a := request(t, c, "POST", p.base+"/orders", ada.AccessToken, `{"item":7}`); a.status != 200 {
			t.Fatalf("POST with a live token: %d %s", a.status, a.code)
		}
		if _, seen := s.seen(); seen.method != "POST" || seen.body != `{"item":7}` {
			t.Errorf("the app got %s with body %q; want POST with the client's body", seen.method, seen.body)
		}
	})

	t.Run("no token or a bad one: 401 with the challenge, the app not reached", func(t *testing.T) {
		notReached(t, func() {
			a := request(t, c, "GET", p.base+"/orders/42", "", "")
			if a.status != 401 || a.code != "missing_token" {
				t.Errorf("no token: %d %q; want 401 missing_token", a.status, a.code)
			}
			if got := a.header.Values("WWW-Authenticate"); !slices.Equal(got, []string{`Bearer realm="authsvc"`}) {
				t.Errorf("no token: WWW-Authenticate %q", got)
			}
			a = request(t, c, "GET", p.base+"/orders/42", "not-a-token", "")
			if a.status != 401 || a.code != "invalid_token" {
				t.Errorf("bad token: %d %q; want 401 invalid_token", a.status, a.code)
			}
			if got := a.header.Values("WWW-Authenticate"); !slices.Equal(got, []string{`Bearer realm="authsvc", error="invalid_token"`}) {
				t.Errorf("bad token: WWW-Authenticate %q", got)
			}
		})
	})

	t.Run("a logged-out token is refused at once", func(t *testing.T) {
		bob := e.SignupLogin("bob")
		if a := request(t, c, "GET", p.base+"/orders/1", bob.AccessToken, ""); a.status != 200 {
			t.Fatalf("before logout: %d %s", a.status, a.code)
		}
		e.As(bob.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
		notReached(t, func() {
			a := request(t, c, "GET", p.base+"/orders/1", bob.AccessToken, "")
			// nginx's body cannot know authsvc's code (session_revoked) and
			// says invalid_token, RFC 6750's error in the challenge.
			if a.status != 401 || (a.code != "session_revoked" && a.code != "invalid_token") {
				t.Errorf("after logout: %d %q; want 401 session_revoked", a.status, a.code)
			}
			if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("after logout: WWW-Authenticate %q", got)
			}
		})
	})

	t.Run("a role requirement: 403 for a user, the admin passes", func(t *testing.T) {
		notReached(t, func() {
			for _, headers := range [][]string{nil, {"X-Auth-Roles", "admin", "x_auth_roles", "admin"}} {
				a := request(t, c, "GET", p.base+"/admin/users", ada.AccessToken, "", headers...)
				if a.status != 403 || a.code != "forbidden" {
					t.Errorf("a user on /admin/ (headers %q): %d %q; want 403 forbidden", headers, a.status, a.code)
				}
				if got := a.header.Values("WWW-Authenticate"); !slices.Equal(got, []string{`Bearer realm="authsvc", error="insufficient_scope"`}) {
					t.Errorf("a user on /admin/: WWW-Authenticate %q", got)
				}
			}
			if a := request(t, c, "GET", p.base+"/admin/users", "", ""); a.status != 401 {
				t.Errorf("no token on /admin/: %d; want 401", a.status)
			}
		})
		if a := request(t, c, "GET", p.base+"/admin/users", admin.AccessToken, ""); a.status != 200 {
			t.Fatalf("the admin on /admin/: %d %s", a.status, a.code)
		}
		_, seen := s.seen()
		got := identity(seen.header)
		if seen.path != "/admin/users" || !slices.Equal(got["x-auth-user-id"], []string{adminID}) ||
			len(got["x-auth-roles"]) != 1 || !slices.Contains(strings.Split(got["x-auth-roles"][0], ","), "admin") {
			t.Errorf("the admin's request reached the app as %s with %q", seen.path, got)
		}
	})

	t.Run("smuggled identity headers never reach the app", func(t *testing.T) {
		// With a live token: the app sees authsvc's values only.
		if a := request(t, c, "GET", p.base+"/orders/42", ada.AccessToken, "", smuggled(adminID, tr.dropsEveryAlias)...); a.status != 200 {
			t.Fatalf("with a token: %d %s", a.status, a.code)
		}
		_, seen := s.seen()
		wantIdentity(t, seen.header, adaIdentity)

		// On a route without authentication none of them gets through.
		before, _ := s.seen()
		if a := request(t, c, "GET", p.base+"/public/page", "", "", smuggled(adminID, tr.dropsEveryAlias)...); a.status != 200 {
			t.Fatalf("public route: %d %s", a.status, a.code)
		}
		after, seen := s.seen()
		if after != before+1 || seen.path != "/public/page" {
			t.Fatalf("the public request did not reach the app (%d → %d, %s)", before, after, seen.path)
		}
		if got := identity(seen.header); len(got) != 0 {
			t.Errorf("on a route without authentication the app got %q", got)
		}

		// Without a token on a protected route: refused, not reached.
		notReached(t, func() {
			if a := request(t, c, "GET", p.base+"/orders/42", "", "", smuggled(adminID, tr.dropsEveryAlias)...); a.status != 401 {
				t.Errorf("no token, smuggled headers: %d; want 401", a.status)
			}
		})
	})
}
