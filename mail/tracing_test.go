package mail_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/mail"
)

// A delivery is a "mail.send" span with the mail's id, and its database
// statements are its children; nothing of the mail's address or content.
func TestWorkerSpans(t *testing.T) {
	ctx := context.Background()
	srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "smtp-Pa55word"})
	st := openStore(t, testdb.URL(t, "sqlite"))
	clock := testdb.NewClock(t0)
	w := mail.NewWorker(st, newSender(t, srv), testKey(t, 1), clock.Now, newTestLog(t, testToken, "smtp-Pa55word"))
	rec := tracetest.NewSpanRecorder()
	w.Tracing = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	m := testReset()
	id := enqueue(t, st, m, clock.Now())
	if sent, err := w.RunOnce(ctx); sent != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", sent, err)
	}
	var send sdktrace.ReadOnlySpan
	children := 0
	for _, s := range rec.Ended() {
		if s.Name() == "mail.send" {
			send = s
		}
	}
	if send == nil {
		t.Fatalf("no mail.send span among %d", len(rec.Ended()))
	}
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == send.SpanContext().SpanID() {
			children++
		}
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			for _, secret := range []string{m.To, testToken, "smtp-Pa55word"} {
				if strings.Contains(v, secret) {
					t.Errorf("%s: attribute %s holds %q", s.Name(), kv.Key, secret)
				}
			}
		}
	}
	attrs := map[string]string{}
	for _, kv := range send.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["mail.id"] != id.String() || attrs["mail.sent"] != "true" {
		t.Errorf("mail.send attributes: %v", attrs)
	}
	if children == 0 {
		t.Errorf("no database statement under mail.send")
	}
}
