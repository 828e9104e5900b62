package tracing_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/tracing"
)

// receiver is an OTLP/HTTP (protobuf) trace receiver in the test process.
type receiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	attrs []*commonpb.KeyValue // resource attributes
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not OTLP/HTTP protobuf traces", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		rc.attrs = append(rc.attrs, rs.GetResource().GetAttributes()...)
		for _, ss := range rs.ScopeSpans {
			rc.spans = append(rc.spans, ss.Spans...)
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attr(s *tracepb.Span, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return valueString(kv.Value), true
		}
	}
	return "", false
}

func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	default:
		b, _ := json.Marshal(v)
		return string(b) + v.String()
	}
}

// A login with a caller's traceparent is a server span of that trace, with
// child spans for its database statements and the password check; no span
// holds the password, the tokens or the email, and the request's log lines
// name the trace.
func TestLoginIsTraced(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	logs := &apitest.LogBuffer{}
	e := apitest.New(t, "sqlite", apitest.Vars{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_SERVICE_NAME":           "authsvc-test",
		"LOG_LEVEL":                   "info",
	}, apitest.LogTo(logs))
	e.Signup("tracy")
	email := "tracy@example.com"

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentID = "00f067aa0ba902b7"
	var tk apitest.Tokens
	e.Request("POST", "/v1/auth/login", map[string]any{"login": email, "password": apitest.StrongPassword},
		"traceparent", "00-"+traceID+"-"+parentID+"-01").Expect(http.StatusOK).Decode(&tk)
	if tk.AccessToken == "" || tk.RefreshToken == "" {
		t.Fatalf("no tokens: %+v", tk)
	}
	flusher, ok := e.App.Tracing.(interface{ ForceFlush(context.Context) error })
	if !ok {
		t.Fatalf("tracing is off: %T", e.App.Tracing)
	}
	if err := flusher.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	var server *tracepb.Span
	byName := map[string]int{}
	statements := 0
	for _, s := range rc.spans {
		if hex.EncodeToString(s.TraceId) != traceID {
			continue
		}
		byName[s.Name]++
		if s.Name == "POST /v1/auth/login" && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			server = s
		}
		if _, ok := attr(s, "db.query.text"); ok {
			statements++
		}
	}
	if server == nil {
		t.Fatalf("no server span for the login in trace %s; spans: %v", traceID, byName)
	}
	if got := hex.EncodeToString(server.ParentSpanId); got != parentID {
		t.Errorf("server span's parent = %s, want the caller's %s", got, parentID)
	}
	if route, _ := attr(server, "http.route"); route != "/v1/auth/login" {
		t.Errorf("http.route = %q", route)
	}
	if code, _ := attr(server, "http.response.status_code"); !strings.Contains(code, "200") {
		t.Errorf("http.response.status_code = %q", code)
	}
	if byName["password.verify"] != 1 {
		t.Errorf("password.verify spans: %d; spans: %v", byName["password.verify"], byName)
	}
	if statements == 0 {
		t.Errorf("no database statement spans; spans: %v", byName)
	}
	t.Logf("spans of the trace: %v", byName)
	serviceName := ""
	for _, kv := range rc.attrs {
		if kv.Key == "service.name" {
			serviceName = valueString(kv.Value)
		}
	}
	if serviceName != "authsvc-test" {
		t.Errorf("service.name = %q", serviceName)
	}

	secrets := map[string]string{
		"password": apitest.StrongPassword, "access token": tk.AccessToken,
		"refresh token": tk.RefreshToken, "email": email, "admin password": apitest.AdminPassword,
		"secret key": apitest.TestSecretKey,
	}
	for _, s := range rc.spans {
		for _, kv := range s.Attributes {
			v := valueString(kv.Value)
			for what, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("span %q attribute %s holds the %s: %s", s.Name, kv.Key, what, v)
				}
			}
		}
		for what, secret := range secrets {
			if strings.Contains(s.Name, secret) || strings.Contains(s.Status.GetMessage(), secret) {
				t.Errorf("span %q names the %s", s.Name, what)
			}
		}
	}

	// The access log line of the login, and every line of that request, names the trace.
	sawAccess := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["msg"] == "request" && strings.Contains(sc.Text(), "/v1/auth/login") {
			sawAccess = true
			if line["trace_id"] != traceID {
				t.Errorf("the login's access log line has trace_id %v, want %s: %s", line["trace_id"], traceID, sc.Text())
			}
			if id, _ := line["span_id"].(string); id != hex.EncodeToString(server.SpanId) {
				t.Errorf("span_id %v, want the server span's %x", line["span_id"], server.SpanId)
			}
		}
	}
	if !sawAccess {
		t.Fatalf("no access log line for the login:\n%s", logs.String())
	}
}

// Without an endpoint, tracing is a no-op: nothing to flush, no exporter.
func TestSetupOffWithoutEndpoint(t *testing.T) {
	tp, shutdown, err := tracing.Setup(context.Background(), func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(interface{ ForceFlush(context.Context) error }); ok {
		t.Errorf("tracing is on without an endpoint: %T", tp)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
