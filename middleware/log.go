package middleware

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// AccessLog writes one structured line per request with its request id. It logs
// the path, never the query string or headers, which may carry secrets.
func AccessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req, res := c.Request(), c.Response()
			// Read before the handler runs: Swagger UI's handler rewrites the
			// path to the file it serves.
			method, path := req.Method, req.URL.Path
			// Count on the writer beneath echo's Response: some handlers (Swagger
			// UI's index page) write to it directly, which res.Size never sees.
			w := &countingWriter{ResponseWriter: res.Writer}
			res.Writer = w
			err := next(c)
			if err != nil {
				c.Error(err) // render now so the status below is the one sent
			}
			res.Writer = w.ResponseWriter
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(req.Context(), level, "request",
				slog.String("method", method),
				slog.String("path", path),
				slog.String("route", c.Path()),
				slog.Int("status", res.Status),
				slog.Int64("bytes", w.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("ip", c.RealIP()),
			)
			return nil
		}
	}
}

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	bytes int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController (echo's Flush and Hijack use it) reach
// the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
