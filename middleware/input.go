package middleware

import (
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/problem"
)

var errMalformedURL = problem.BadRequest("malformed_request", "The path or query holds a NUL byte or invalid UTF-8.")

// RejectMalformedURL refuses paths and query strings that decode to NUL bytes
// or invalid UTF-8: no identifier of ours holds them, and PostgreSQL would
// reject them as query parameters with an error that is not the client's to see.
func RejectMalformedURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if !clean(u.Path) {
			return errMalformedURL
		}
		for k, vs := range u.Query() {
			if !clean(k) {
				return errMalformedURL
			}
			for _, v := range vs {
				if !clean(v) {
					return errMalformedURL
				}
			}
		}
		return next(c)
	}
}

func clean(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
