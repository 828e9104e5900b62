package tracing

import (
	"strconv"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Middleware starts a server span for each request, a child of the caller's
// when the request has a W3C traceparent header, and puts it in the
// request's context for the handlers and the log lines of the request. Use
// it after routing (echo's Use) so that the span is named by the route
// template ("POST /v1/auth/login"), never by the path itself (paths may hold
// ids and tokens). Its attributes are the method, the route template, the
// scheme and the status: no header, cookie, query string or client address.
// A nil tp traces nothing.
func Middleware(tp trace.TracerProvider) echo.MiddlewareFunc {
	if _, off := tp.(noop.TracerProvider); off || tp == nil {
		// Tracing off: not even a caller's traceparent is read.
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	tracer := tp.Tracer(Scope)
	prop := Propagator()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx := prop.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			route := c.Path()
			name := req.Method
			attrs := []attribute.KeyValue{attribute.String("http.request.method", req.Method)}
			if route != "" {
				name += " " + route
				attrs = append(attrs, attribute.String("http.route", route))
			}
			scheme := "http"
			if req.TLS != nil {
				scheme = "https"
			}
			attrs = append(attrs, attribute.String("url.scheme", scheme))
			ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))

			err := next(c)
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				// Not rendered yet (the access log renders errors itself,
				// when it runs inside this middleware): the status it will get.
				status = statusOf(err)
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, strconv.Itoa(status))
			}
			return err
		}
	}
}

// statusOf is the status echo gives an error it renders.
func statusOf(err error) int {
	if he, ok := err.(*echo.HTTPError); ok {
		return he.Code
	}
	if s, ok := err.(interface{ StatusCode() int }); ok {
		return s.StatusCode()
	}
	return 500
}
