// Package tracing sends OpenTelemetry traces over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set,
// and is a no-op otherwise. Nothing here is global: Setup returns the
// TracerProvider for the server's middleware and the background workers, and
// the spans of work done for a request (database statements, password
// hashing, hooks) are started from the request's span with Start, so they
// need no provider of their own.
//
// What goes into a span is only what is safe to keep in a tracing backend:
// route templates, ids, status codes and statement text without its bound
// values; never a header, a query string, an address, a token or a password.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope is the instrumentation scope of authsvc's spans.
const Scope = "github.com/authsvc/authsvc"

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME says otherwise.
const DefaultServiceName = "authsvc"

// Enabled reports whether the environment asks for traces: an OTLP endpoint
// is set, and OTEL_SDK_DISABLED is not "true".
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	return endpointURL(getenv) != ""
}

// endpointURL is where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is,
// or OTEL_EXPORTER_OTLP_ENDPOINT with the signal's path /v1/traces appended
// (as the OTLP exporter specification has it).
func endpointURL(getenv func(string) string) string {
	if u := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); u != "" {
		return u
	}
	if u := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); u != "" {
		return strings.TrimRight(u, "/") + "/v1/traces"
	}
	return ""
}

// Setup builds the tracer provider the environment asks for. Without an OTLP
// endpoint it is a no-op provider (spans cost nothing) and shutdown does
// nothing. With one, spans are batched and exported over OTLP/HTTP
// (protobuf) to that endpoint; the exporter reads the other standard
// variables itself (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION,
// _CERTIFICATE…), and the SDK OTEL_TRACES_SAMPLER and OTEL_BSP_*. The resource
// is service.name (OTEL_SERVICE_NAME, default "authsvc"), service.version and
// OTEL_RESOURCE_ATTRIBUTES. shutdown flushes what is buffered: call it on exit.
func Setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !Enabled(getenv) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	endpoint := endpointURL(getenv)
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := newResource(ctx, getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	if log != nil {
		log.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", redactURL(endpoint),
			"service_name", serviceName(getenv))
	}
	return sdk, sdk.Shutdown, nil
}

// newResource is the process's resource: OTEL_RESOURCE_ATTRIBUTES, then
// service.name and service.version over it.
func newResource(ctx context.Context, getenv func(string) string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", serviceName(getenv))}
	if v := version(); v != "" {
		attrs = append(attrs, attribute.String("service.version", v))
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if errors.Is(err, resource.ErrPartialResource) {
		err = nil // a malformed OTEL_RESOURCE_ATTRIBUTES entry: the rest still applies
	}
	return res, err
}

func serviceName(getenv func(string) string) string {
	if n := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); n != "" {
		return n
	}
	return DefaultServiceName
}

// version is the module version the binary was built from, when known.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}

// redactURL drops the user info and query of u for the log.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	return u
}

// Propagator reads and writes W3C trace context (traceparent, tracestate)
// and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Start starts a child span of the span in ctx, from that span's provider: a
// request traced by the server's middleware gets the child, and work done
// outside any traced request costs nothing (the no-op span's provider is a
// no-op). Pass only safe attributes.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithAttributes(attrs...))
}

// StartWith starts a span from tp (nil: no-op), as a child of the span in ctx
// if any, for work that begins outside a request: the background workers.
func StartWith(ctx context.Context, tp trace.TracerProvider, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tp == nil {
		tp = trace.SpanFromContext(ctx).TracerProvider()
	}
	return tp.Tracer(Scope).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}
