package hooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authsvc/authsvc/hooks"
)

// Each call is a child span of the request's: its name, the hook's name and
// the answer's status; never the user's details or the secret.
func TestHookSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")

	srv := newServer(t, false, answer(200, "application/json", `{"claims": {"tenant": "t1"}, "allow": true}`))
	h, _ := newHook(t, srv.URL, false, time.Second, nil)
	if _, err := h.Token(ctx, hooks.User{ID: "u1", Email: "a@example.com", Username: "ada"}, claims()); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Signup(ctx, hooks.SignupUser{Email: "a@example.com", Username: "ada"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	parent.End()

	names := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		names[s.Name()] = true
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the request's span", s.Name())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			attrs[string(kv.Key)] = v
			for _, secret := range []string{"a@example.com", "ada", strings.TrimPrefix(secret, "whsec_"), srv.URL} {
				if strings.Contains(v, secret) {
					t.Errorf("%s: attribute %s holds %q", s.Name(), kv.Key, secret)
				}
			}
		}
		if attrs["hook.name"] != "token" || attrs["http.response.status_code"] != "200" {
			t.Errorf("%s attributes: %v", s.Name(), attrs)
		}
	}
	if !names["hook.token"] || !names["hook.signup"] {
		t.Fatalf("spans: %v", names)
	}
}
