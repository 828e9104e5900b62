package hooks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/hooks"
	"github.com/authsvc/authsvc/token"
)

var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// server answers with fn after verifying the signature with the library; the
// bodies it got are kept.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	bad    int // requests whose signature did not verify
}

func newServer(t *testing.T, fakeClock bool, fn func(w http.ResponseWriter, body []byte)) *server {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verify := wh.Verify
		if fakeClock {
			verify = wh.VerifyIgnoringTimestamp
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || verify(body, r.Header) != nil {
			s.bad++
		}
		s.mu.Unlock()
		fn(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func answer(status int, ctype, body string) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, _ []byte) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newHook(t *testing.T, url string, open bool, timeout time.Duration, now func() time.Time) (*hooks.Hook, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	h, err := hooks.New(hooks.Config{
		Name: "token", URL: url, Secret: secret, Timeout: timeout, FailOpen: open,
		Log: slog.New(slog.NewJSONHandler(logs, nil)), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

func claims() *token.Claims {
	return &token.Claims{SessionID: "s1", Roles: []string{"user"}, AMR: []string{"pwd"}}
}

func TestTokenSignedAndClaims(t *testing.T) {
	fake := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC) // far from now: only VerifyIgnoringTimestamp passes
	srv := newServer(t, true, answer(200, "application/json; charset=utf-8",
		`{"claims": {"tenant": "t1", "n": 12345678901234567890, "sub": "evil", "roles": ["admin"], "amr": ["x"]}}`))
	h, logs := newHook(t, srv.URL, false, time.Second, func() time.Time { return fake })
	for range 3 {
		extra, err := h.Token(context.Background(), hooks.User{ID: "u1", Email: "a@example.com", Username: "ada"}, claims())
		if err != nil {
			t.Fatal(err)
		}
		if extra["tenant"] != "t1" || len(extra) != 2 {
			t.Fatalf("extra = %v", extra)
		}
		if n, _ := json.Marshal(extra["n"]); string(n) != "12345678901234567890" {
			t.Fatalf("a large number changed: %s", n)
		}
	}
	if srv.bad != 0 {
		t.Fatalf("%d requests did not verify", srv.bad)
	}
	var got map[string]any
	if err := json.Unmarshal(srv.bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != "token.issue" || got["session_id"] != "s1" || got["user"].(map[string]any)["username"] != "ada" {
		t.Fatalf("body = %s", srv.bodies[0])
	}
	if got["claims"].(map[string]any)["sid"] != "s1" {
		t.Fatalf("claims not sent: %s", srv.bodies[0])
	}
	for _, name := range []string{`"claim":"sub"`, `"claim":"roles"`, `"claim":"amr"`} {
		if c := strings.Count(logs.String(), name); c != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", name, c, logs)
		}
	}
	if strings.Contains(logs.String(), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the secret was logged")
	}
}

func TestRealClockVerifies(t *testing.T) {
	srv := newServer(t, false, answer(200, "application/json", `{"claims": {}}`))
	h, _ := newHook(t, srv.URL, false, time.Second, nil)
	if _, err := h.Token(context.Background(), hooks.User{}, claims()); err != nil {
		t.Fatal(err)
	}
	if srv.bad != 0 {
		t.Fatal("signature did not verify with the timestamp checked")
	}
}

func TestFailures(t *testing.T) {
	slow := func(w http.ResponseWriter, _ []byte) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}
	redirect := func(w http.ResponseWriter, _ []byte) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
	}
	big := `{"claims": {"x": "` + strings.Repeat("a", hooks.MaxAnswer) + `"}}`
	cases := map[string]func(http.ResponseWriter, []byte){
		"timeout":      slow,
		"500":          answer(500, "application/json", `{}`),
		"404":          answer(404, "application/json", `{}`),
		"redirect":     redirect,
		"content type": answer(200, "text/html", `{"claims": {}}`),
		"no type":      answer(200, "", `{"claims": {}}`),
		"bad json":     answer(200, "application/json", `{"claims": `),
		"not object":   answer(200, "application/json", `{"claims": [1]}`),
		"trailing":     answer(200, "application/json", `{} {}`),
		"too large":    answer(200, "application/json", big),
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, false, fn)
			closed, _ := newHook(t, srv.URL, false, 100*time.Millisecond, nil)
			if _, err := closed.Token(context.Background(), hooks.User{}, claims()); !errors.Is(err, hooks.ErrFailed) {
				t.Fatalf("closed: err = %v, want ErrFailed", err)
			}
			open, logs := newHook(t, srv.URL, true, 100*time.Millisecond, nil)
			extra, err := open.Token(context.Background(), hooks.User{}, claims())
			if err != nil || extra != nil {
				t.Fatalf("open: %v, %v", extra, err)
			}
			if !strings.Contains(logs.String(), `"level":"WARN"`) {
				t.Fatalf("open: no warning: %s", logs)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		closed, _ := newHook(t, url, false, time.Second, nil)
		if _, err := closed.Token(context.Background(), hooks.User{}, claims()); !errors.Is(err, hooks.ErrFailed) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSignup(t *testing.T) {
	long := strings.Repeat("é", hooks.MaxReason) + "<b>"
	cases := []struct {
		body    string
		allowed bool
		reason  string
		err     error
		open    bool
	}{
		{body: `{"allow": true}`, allowed: true},
		{body: `{"allow": false, "reason": "not on the list"}`, reason: "not on the list"},
		{body: `{"allow": false, "reason": "` + long + `"}`, reason: strings.Repeat("é", hooks.MaxReason/2)},
		{body: "{\"allow\": false, \"reason\": \"bad \xff byte\"}", reason: "bad \uFFFD byte"},
		{body: `{}`, err: hooks.ErrFailed},
		{body: `{"allow": "yes"}`, err: hooks.ErrFailed},
		{body: `{}`, open: true, allowed: true},
	}
	for _, c := range cases {
		srv := newServer(t, false, answer(200, "application/json", c.body))
		h, _ := newHook(t, srv.URL, c.open, time.Second, nil)
		allowed, reason, err := h.Signup(context.Background(), hooks.SignupUser{Email: "a@example.com", Username: "ada"})
		if allowed != c.allowed || reason != c.reason || !errors.Is(err, c.err) {
			t.Errorf("%s: %v %q %v", c.body, allowed, reason, err)
		}
		var got map[string]any
		json.Unmarshal(srv.bodies[0], &got)
		if got["type"] != "signup" || got["user"].(map[string]any)["email"] != "a@example.com" {
			t.Errorf("body = %s", srv.bodies[0])
		}
	}
}

func TestConfigChecks(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "/relative", "http://", "https://user:pw@host/"} {
		if hooks.CheckURL(u) == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	for _, s := range []string{"", "whsec_", "whsec_!!!", "c2VjcmV0"} {
		if hooks.CheckSecret(s) == nil {
			t.Errorf("secret %q accepted", s)
		}
	}
	if err := hooks.CheckSecret(secret); err != nil {
		t.Fatal(err)
	}
}
