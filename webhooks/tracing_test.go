package webhooks_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authsvc/authsvc/webhooks"
)

// An attempt is a "webhook.send" span with the delivery's id and the
// answer's status; never the URL (its query holds a token) or the secret.
func TestDeliverySpan(t *testing.T) {
	e := newEnv(t, "sqlite")
	rec := tracetest.NewSpanRecorder()
	e.worker.Tracing = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	plain := webhooks.NewSecret()
	r := newReceiver(t, plain)
	hook := addWebhook(t, e.st, e.key, r.srv.URL+"/hook?token=abc-query-token", "user.created", plain)
	e.enqueue(t, "user.created")
	if n := e.runOnce(t); n != 1 {
		t.Fatalf("tried %d", n)
	}
	dl := e.only(t, hook)
	var send sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "webhook.send" {
			send = s
		}
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			for _, secret := range []string{"abc-query-token", r.srv.URL, plain} {
				if strings.Contains(v, secret) {
					t.Errorf("%s: attribute %s holds %q", s.Name(), kv.Key, secret)
				}
			}
		}
	}
	if send == nil {
		t.Fatalf("no webhook.send span among %d", len(rec.Ended()))
	}
	attrs := map[string]string{}
	for _, kv := range send.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["webhook.delivery_id"] != dl.ID.String() || attrs["http.response.status_code"] != "200" ||
		attrs["webhook.event"] != "user.created" {
		t.Errorf("webhook.send attributes: %v", attrs)
	}
}
