package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot is the directory of authsvc's go.mod, so the benchmark builds the
// service wherever it is started from inside the module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run authbench inside the authsvc module (go run ./cmd/authbench)")
	}
	return filepath.Dir(gomod), nil
}

// workspace makes the run's temporary directory and builds the service into
// it. The caller removes tmp ("" if none was made), also after an error.
func workspace(ctx context.Context, prefix string) (tmp, bin string, err error) {
	if tmp, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return tmp, "", err
	}
	logf("building the service from %s", root)
	bin, err = buildService(ctx, root, tmp)
	return tmp, bin, err
}

// buildService builds the module root into dir, as CI's static build does
// (CGO_ENABLED=0, so the build cache of that step is reused).
func buildService(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "authsvc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// process is a child process serving HTTP on base: the service or the bare Echo.
type process struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	logPath string
	exited  chan struct{}
	waitErr error
}

// startProcess starts bin with args in dir with exactly env (nothing inherited
// but PATH and HOME, and dir holds no .env file), logging to dir/name.log, and
// waits until GET base+readyPath answers 200.
func startProcess(ctx context.Context, name, dir, addr, readyPath string, env map[string]string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, base: "http://" + addr, logPath: logPath, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, readyPath, 90*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s did not become ready: %w\n%s", name, err, p.logTail(20))
	}
	return p, nil
}

func (p *process) waitReady(ctx context.Context, path string, limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(p.base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the process with SIGTERM (a graceful shutdown), and SIGKILL if it
// is still running after 25 s. Calling it again does nothing.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// peakRSS is the process's resident-set high-water mark (VmHWM) in bytes.
func (p *process) peakRSS() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

func (p *process) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// credentials are the run's secrets, made fresh for each run.
type credentials struct {
	secretKey     string // SECRET_KEY, 64 hex characters
	adminPassword string
	clientSecret  string // the introspection client's secret
	userPassword  string // every seeded user's password
}

const (
	adminUsername = "benchadmin"
	clientID      = "bench"
)

func newCredentials() credentials {
	return credentials{
		secretKey:     randomHex(32),
		adminPassword: "Admin-" + randomHex(12),
		clientSecret:  randomHex(16),
		userPassword:  "Quartz-lantern-" + randomHex(6),
	}
}

// serviceEnv is the service's configuration for the scenarios: the rate limits
// are off so that they do not decide the numbers, keys never rotate.
func serviceEnv(o options, db *database, addr string, c credentials) map[string]string {
	env := map[string]string{
		"DATABASE_URL":             db.url,
		"SECRET_KEY":               c.secretKey,
		"HTTP_ADDR":                addr,
		"PUBLIC_URL":               "http://" + addr,
		"ADMIN_USERNAME":           adminUsername,
		"ADMIN_EMAIL":              adminUsername + "@example.com",
		"ADMIN_PASSWORD":           c.adminPassword,
		"KEY_ROTATION_INTERVAL":    "0",
		"LOG_LEVEL":                "warn",
		"INTROSPECTION_CLIENTS":    clientID + ":" + c.clientSecret,
		"LOGIN_RATE_LIMIT":         "0",
		"SIGNUP_RATE_LIMIT":        "0",
		"INTROSPECTION_RATE_LIMIT": "0",
	}
	if o.redisURL != "" {
		env["REDIS_URL"] = o.redisURL
	}
	return env
}

// floodEnv is env with the default rate limits and lockout back on, and the
// loopback trusted as a proxy: the flood's requests carry X-Forwarded-For
// addresses, as a flood from many clients behind a load balancer would.
func floodEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	delete(out, "LOGIN_RATE_LIMIT")
	delete(out, "SIGNUP_RATE_LIMIT")
	delete(out, "INTROSPECTION_RATE_LIMIT")
	out["TRUSTED_PROXIES"] = "127.0.0.0/8"
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
