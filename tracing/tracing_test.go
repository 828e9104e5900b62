package tracing_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	"github.com/authsvc/authsvc/internal/testdb"
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

// tracedService is a service on a fresh database of the dialect exporting
// its spans to an in-process OTLP receiver, logging JSON to logs.
func tracedService(t *testing.T, dialect string, vars apitest.Vars) (*apitest.Env, *receiver, *apitest.LogBuffer) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	logs := &apitest.LogBuffer{}
	v := apitest.Vars{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_SERVICE_NAME":           "authsvc-test",
		"LOG_LEVEL":                   "info",
	}
	for k, val := range vars {
		v[k] = val
	}
	return apitest.New(t, dialect, v, apitest.LogTo(logs)), rc, logs
}

// flush exports every ended span to the receiver.
func flush(t *testing.T, e *apitest.Env) {
	t.Helper()
	flusher, ok := e.App.Tracing.(interface{ ForceFlush(context.Context) error })
	if !ok {
		t.Fatalf("tracing is off: %T", e.App.Tracing)
	}
	if err := flusher.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// noSecrets fails if a span's name, attribute or status holds one of secrets.
func noSecrets(t *testing.T, spans []*tracepb.Span, secrets map[string]string) {
	t.Helper()
	for _, s := range spans {
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
}

// logLines is every JSON log line whose msg is msg.
func logLines(t *testing.T, logs *apitest.LogBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// A login with a caller's traceparent is a server span of that trace, with
// child spans for its transactions (BEGIN, COMMIT), its database statements
// and the password check; no span holds the password, the tokens or the
// email, and the request's log lines name the trace. On both databases.
func TestLoginIsTraced(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		e, rc, logs := tracedService(t, dialect, nil)
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
		flush(t, e)

		rc.mu.Lock()
		defer rc.mu.Unlock()
		var server *tracepb.Span
		byName := map[string]int{}
		byID := map[string]*tracepb.Span{}
		var statements []*tracepb.Span
		for _, s := range rc.spans {
			if hex.EncodeToString(s.TraceId) != traceID {
				continue
			}
			byName[s.Name]++
			byID[hex.EncodeToString(s.SpanId)] = s
			if s.Name == "POST /v1/auth/login" && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				server = s
			}
			if _, ok := attr(s, "db.query.text"); ok {
				statements = append(statements, s)
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
		if len(statements) == 0 {
			t.Errorf("no database statement spans; spans: %v", byName)
		}
		wantSystem := map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}[dialect]
		for _, s := range statements {
			if sys, _ := attr(s, "db.system.name"); sys != wantSystem {
				t.Errorf("statement %q: db.system.name %q, want %q", s.Name, sys, wantSystem)
			}
		}
		// Every transaction is a span with a BEGIN and a COMMIT under it, and
		// statements made in it are its children.
		if byName["transaction"] == 0 || byName["BEGIN"] != byName["transaction"] || byName["COMMIT"] != byName["transaction"] {
			t.Errorf("transactions %d, BEGIN %d, COMMIT %d; spans: %v", byName["transaction"], byName["BEGIN"], byName["COMMIT"], byName)
		}
		inTx := 0
		for _, s := range rc.spans {
			parent := byID[hex.EncodeToString(s.ParentSpanId)]
			if hex.EncodeToString(s.TraceId) != traceID || parent == nil {
				continue
			}
			if (s.Name == "BEGIN" || s.Name == "COMMIT") && parent.Name != "transaction" {
				t.Errorf("%s's parent is %q, not a transaction", s.Name, parent.Name)
			}
			if _, ok := attr(s, "db.query.text"); ok && parent.Name == "transaction" {
				inTx++
			}
		}
		if inTx == 0 {
			t.Errorf("no statement is a child of a transaction span")
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
		noSecrets(t, rc.spans, map[string]string{
			"password": apitest.StrongPassword, "access token": tk.AccessToken,
			"refresh token": tk.RefreshToken, "email": email, "admin password": apitest.AdminPassword,
			"secret key": apitest.TestSecretKey,
		})

		// The access log line of the login, and every line of that request, names the trace.
		sawAccess := false
		for _, line := range logLines(t, logs, "request") {
			if !strings.Contains(fmt.Sprint(line), "/v1/auth/login") {
				continue
			}
			sawAccess = true
			if line["trace_id"] != traceID {
				t.Errorf("the login's access log line has trace_id %v, want %s: %v", line["trace_id"], traceID, line)
			}
			if id, _ := line["span_id"].(string); id != hex.EncodeToString(server.SpanId) {
				t.Errorf("span_id %v, want the server span's %x", line["span_id"], server.SpanId)
			}
		}
		if !sawAccess {
			t.Fatalf("no access log line for the login:\n%s", logs.String())
		}
	})
}

// A transaction that fails is rolled back under its span: ROLLBACK, no
// COMMIT, and the transaction span's status is an error. Here a signup whose
// username is taken: the insert fails inside the transaction.
func TestRollbackIsTraced(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		e, rc, _ := tracedService(t, dialect, nil)
		e.Signup("taken")
		const traceID = "5bf92f3577b34da6a3ce929d0e0e4737"
		e.Request("POST", "/v1/auth/signup", map[string]any{"email": "other@example.com", "username": "taken", "password": apitest.StrongPassword},
			"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01").ExpectProblem(http.StatusConflict, "username_taken")
		flush(t, e)

		rc.mu.Lock()
		defer rc.mu.Unlock()
		byName := map[string][]*tracepb.Span{}
		for _, s := range rc.spans {
			if _, statement := attr(s, "db.query.text"); hex.EncodeToString(s.TraceId) == traceID && !statement {
				byName[s.Name] = append(byName[s.Name], s) // not "ROLLBACK TO SAVEPOINT …", a statement
			}
		}
		if len(byName["transaction"]) != 1 || len(byName["ROLLBACK"]) != 1 || len(byName["COMMIT"]) != 0 {
			t.Fatalf("transactions %d, ROLLBACK %d, COMMIT %d; want 1, 1, 0", len(byName["transaction"]), len(byName["ROLLBACK"]), len(byName["COMMIT"]))
		}
		tx, rb := byName["transaction"][0], byName["ROLLBACK"][0]
		if !bytes.Equal(rb.ParentSpanId, tx.SpanId) {
			t.Error("ROLLBACK is not a child of the transaction span")
		}
		if tx.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("a rolled-back transaction's status: %v", tx.Status)
		}
	})
}

// A webhook delivery is a webhook.send span of the worker, whose log line of
// a failed attempt names its trace; the span holds neither the endpoint's
// URL (its query may hold a token) nor the secret. On both databases.
func TestWebhookDeliveryIsTraced(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		e, rc, logs := tracedService(t, dialect, apitest.Vars{"WEBHOOK_ALLOW_PRIVATE": "true"})
		failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(failing.Close)
		admin := e.AdminLogin().AccessToken
		url := failing.URL + "/hook?token=receiver-token-5d1e"
		var created struct {
			Webhook struct {
				ID string `json:"id"`
			} `json:"webhook"`
			Secret string `json:"secret"`
		}
		e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": url, "events": []string{"user.created"}}).
			Expect(http.StatusCreated).Decode(&created)
		e.Signup("hooked")
		if _, err := e.App.Webhooks.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		flush(t, e)

		rc.mu.Lock()
		defer rc.mu.Unlock()
		var send *tracepb.Span
		for _, s := range rc.spans {
			if s.Name == "webhook.send" {
				send = s
			}
		}
		if send == nil {
			t.Fatalf("no webhook.send span")
		}
		if id, _ := attr(send, "webhook.id"); id != created.Webhook.ID {
			t.Errorf("webhook.id = %q, want %s", id, created.Webhook.ID)
		}
		if code, _ := attr(send, "http.response.status_code"); !strings.Contains(code, "503") {
			t.Errorf("http.response.status_code = %q", code)
		}
		if send.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("a failed delivery's span status: %v", send.Status)
		}
		recorded := 0 // the attempt's outcome is written inside the span
		for _, s := range rc.spans {
			if bytes.Equal(s.TraceId, send.TraceId) && bytes.Equal(s.ParentSpanId, send.SpanId) {
				recorded++
			}
		}
		if recorded == 0 {
			t.Errorf("no database span under webhook.send")
		}
		noSecrets(t, rc.spans, map[string]string{"secret": created.Secret, "url": url, "url's token": "receiver-token-5d1e"})

		lines := logLines(t, logs, "webhook not delivered; will retry")
		if len(lines) != 1 {
			t.Fatalf("log lines of the failed attempt: %v\n%s", lines, logs.String())
		}
		if lines[0]["trace_id"] != hex.EncodeToString(send.TraceId) || lines[0]["span_id"] != hex.EncodeToString(send.SpanId) {
			t.Errorf("the failed attempt's log line names trace %v span %v, want the webhook.send span %x %x",
				lines[0]["trace_id"], lines[0]["span_id"], send.TraceId, send.SpanId)
		}
	})
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
