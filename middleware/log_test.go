package middleware_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// accessLine is the part of an access-log line this test reads.
type accessLine struct {
	RequestID string `json:"request_id"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Bytes     int64  `json:"bytes"`
}

// TestAccessLogCountsWhatIsSent: over real HTTP through the service's router,
// each request's access-log line has the path asked for, the status sent and
// the body bytes sent, also for the static files Swagger UI and the passkey
// demo serve (Swagger UI's index page is written past echo's Response, and its
// handler rewrites the request path).
func TestAccessLogCountsWhatIsSent(t *testing.T) {
	logs := &apitest.LogBuffer{}
	e := apitest.New(t, store.SQLite, apitest.Vars{"PASSKEY_DEMO": "true", "LOG_LEVEL": "info"}, apitest.LogTo(logs))
	srv := httptest.NewServer(e.App.Server)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	type sent struct {
		method, path string
		status       int
		bytes        int64
	}
	want := map[string]sent{} // by request id
	for _, tc := range []struct{ method, path string }{
		{"GET", "/apidocs/index.html"},
		{"GET", "/apidocs/swagger-ui.css"},
		{"GET", "/apidocs/swagger-ui-bundle.js"},
		{"GET", "/apidocs/favicon-32x32.png"},
		{"GET", "/apidocs/doc.json"},
		{"GET", "/apidocs"},
		{"GET", "/demo/passkeys"},
		{"GET", "/demo/passkeys.js"},
		{"GET", "/.well-known/jwks.json"},
		{"GET", "/healthz"},
		{"HEAD", "/apidocs/swagger-ui.css"},
		{"GET", "/no/such/file.css"},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		id := res.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s %s: no X-Request-Id", tc.method, tc.path)
		}
		want[id] = sent{tc.method, tc.path, res.StatusCode, int64(len(body))}
	}
	if w := want; len(w) < 12 {
		t.Fatalf("request ids repeat: %v", w)
	}

	got := map[string]accessLine{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg string `json:"msg"`
			accessLine
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "request" {
			got[l.RequestID] = l.accessLine
		}
	}
	for id, w := range want {
		l, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s %s: no access-log line", w.method, w.path)
		case l.Method != w.method || l.Path != w.path || l.Status != w.status || l.Bytes != w.bytes:
			t.Errorf("%s %s: logged %s %s status %d bytes %d; sent status %d, %d bytes",
				w.method, w.path, l.Method, l.Path, l.Status, l.Bytes, w.status, w.bytes)
		}
		if w.method == "GET" && w.status == http.StatusOK && w.bytes == 0 {
			t.Errorf("GET %s: an empty 200; the test expects a body", w.path)
		}
	}
}
