package problem

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// ContentType is RFC 9457's media type.
const ContentType = "application/problem+json"

// Handler is Echo's HTTPErrorHandler: the one place errors become responses,
// through toProblem, which knows the domain's errors (From when it does not).
// Server faults are logged with the request id; their causes never reach the client.
func Handler(log *slog.Logger, toProblem func(error) *Error) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		req := c.Request()
		if p.Status >= 500 {
			log.ErrorContext(req.Context(), "request failed",
				"method", req.Method, "path", req.URL.Path,
				"status", p.Status, "code", p.Code, "error", errText(p.Err))
		}
		out := *p
		out.Instance = req.URL.Path
		if out.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(out.RetryAfter))
		}
		if req.Method == http.MethodHead {
			c.NoContent(out.Status)
			return
		}
		body, _ := json.Marshal(out)
		c.Blob(out.Status, ContentType, body)
	}
}

// From turns any error into a problem: *Error as is, Echo's HTTPError by status,
// anything else an internal error.
func From(err error) *Error {
	if p, ok := As(err); ok {
		return p
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail := http.StatusText(he.Code)
		if msg, ok := he.Message.(string); ok && he.Code < 500 {
			detail = msg
		}
		p := New(he.Code, codeFor(he.Code), detail)
		p.Err = he.Internal
		return p
	}
	return Internal(err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
