package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/logging"
)

func TestRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelInfo, "json").With("component", "test")
	log.InfoContext(logging.WithRequestID(context.Background(), "req-42"), "inside a request")
	log.Info("outside a request")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.Bytes())
	}
	var in, out map[string]any
	json.Unmarshal(lines[0], &in)
	json.Unmarshal(lines[1], &out)
	if in["request_id"] != "req-42" || in["component"] != "test" {
		t.Fatalf("inside a request: %v", in)
	}
	if _, ok := out["request_id"]; ok {
		t.Fatalf("outside a request: %v", out)
	}
}

func TestTraceIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelInfo, "json")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	log.InfoContext(ctx, "traced")
	var line map[string]any
	json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line)
	if line["trace_id"] != tid.String() || line["span_id"] != sid.String() {
		t.Fatalf("traced line: %v", line)
	}
}
