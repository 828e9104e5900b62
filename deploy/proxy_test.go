package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain says on stderr which proxies are missing (unless CI=true, where
// the tests fail instead). When both are, it runs no test, so that go test
// reports "ok … [no tests to run]" rather than a plain "ok" over skipped
// tests, as clients/ does.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("CI") != "true" {
		missing := 0
		for _, name := range []string{"nginx", "caddy"} {
			if _, why := lookBinary(name); why != "" {
				fmt.Fprintf(os.Stderr, "SKIPPED: deploy: %s; its forward-auth test did not run\n", why)
				missing++
			}
		}
		if missing == 2 {
			_ = flag.Set("test.run", "^$")
		}
	}
	os.Exit(m.Run())
}

// binary finds a proxy's executable. Without it the test is skipped, except
// under CI=true, where that is a failure: .ci/run installs both packages.
func binary(t *testing.T, name string) string {
	t.Helper()
	path, why := lookBinary(name)
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return path
}

// lookBinary finds name in PATH or in the sbin directories a non-root PATH
// may lack (Debian installs nginx in /usr/sbin); else it says why not.
func lookBinary(name string) (path, why string) {
	if p, err := exec.LookPath(name); err == nil {
		return p, ""
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, ""
		}
	}
	return "", fmt.Sprintf("%s is not installed (Debian: apt-get install %s)", name, name)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freePort is a loopback TCP port nobody listens on right now. The proxy
// binds it a moment later; startProxy tries again on the rare collision.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// render reads a shipped file from deploy/ and makes each replacement, every
// "old" of which must occur exactly once: a snippet edited so that the test's
// substitution no longer applies fails here instead of testing something else.
func render(t *testing.T, path string, replacements ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replacements); i += 2 {
		old, repl := replacements[i], replacements[i+1]
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("%s: %q occurs %d times; the test rewrites it and needs it exactly once", path, old, n)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	return s
}

// syncBuffer collects a child's output; the child writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxy is a running nginx or Caddy.
type proxy struct {
	base string // http://127.0.0.1:port
	logs *syncBuffer
}

// startProxy runs the command made by build for a free port until the port
// accepts connections, and stops it (its whole process group: nginx's
// workers too) when the test ends. The proxy's output goes to the test log
// when the test fails.
func startProxy(t *testing.T, name string, build func(port int) *exec.Cmd) *proxy {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		cmd := build(port)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		exited := make(chan struct{})
		var exitErr error
		go func() { exitErr = cmd.Wait(); close(exited) }()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := waitListening(addr, exited, 15*time.Second); err != nil {
			stop(cmd, exited)
			if errors.Is(err, errExited) {
				err = fmt.Errorf("%w: %v", err, exitErr)
			}
			lastErr = fmt.Errorf("%s did not start: %v\n%s", name, err, logs.String())
			if strings.Contains(logs.String(), "address already in use") {
				continue // someone took the port in between: another one
			}
			t.Fatal(lastErr)
		}
		t.Cleanup(func() {
			stop(cmd, exited)
			if t.Failed() {
				t.Logf("%s output:\n%s", name, logs.String())
			}
		})
		return &proxy{base: "http://" + addr, logs: logs}
	}
	t.Fatal(lastErr)
	return nil
}

var errExited = errors.New("exited")

// waitListening polls addr until it accepts a connection, the process exits
// (exited is closed) or the time is up.
func waitListening(addr string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("nothing listens on " + addr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop ends the process group gracefully (SIGTERM), then for good.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// A worker that outlived its master (it should not) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
