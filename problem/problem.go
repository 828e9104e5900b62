// Package problem is authsvc's one error model: every error a client sees is an
// *Error rendered as RFC 9457 problem JSON with a stable machine-readable code.
package problem

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a client-facing failure. Err is the internal cause: logged, never sent.
type Error struct {
	Type     string       `json:"type" example:"about:blank"`
	Title    string       `json:"title" example:"Bad Request"`
	Status   int          `json:"status" example:"400"`
	Detail   string       `json:"detail,omitempty" example:"The request body is invalid."`
	Instance string       `json:"instance,omitempty" example:"/v1/auth/signup"`
	Code     string       `json:"code" example:"validation_failed"`
	Errors   []FieldError `json:"errors,omitempty"`
	// RetryAfter, in seconds, becomes a Retry-After header on 429 and 503.
	RetryAfter int   `json:"-"`
	Err        error `json:"-"`
} // @name Problem

// FieldError names one invalid field by its JSON name.
type FieldError struct {
	Field   string `json:"field" example:"email"`
	Message string `json:"message" example:"must be a valid email address"`
} // @name FieldError

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %s: %v", e.Code, e.Status, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// With returns a copy carrying an internal cause.
func (e *Error) With(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// New builds an error; Title follows the status.
func New(status int, code, detail string) *Error {
	return &Error{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

func BadRequest(code, detail string) *Error   { return New(http.StatusBadRequest, code, detail) }
func Unauthorized(code, detail string) *Error { return New(http.StatusUnauthorized, code, detail) }
func Forbidden(code, detail string) *Error    { return New(http.StatusForbidden, code, detail) }
func NotFound(code, detail string) *Error     { return New(http.StatusNotFound, code, detail) }
func Conflict(code, detail string) *Error     { return New(http.StatusConflict, code, detail) }

// Invalid is a validation failure listing the fields at fault.
func Invalid(fields ...FieldError) *Error {
	e := BadRequest("validation_failed", "The request has invalid fields.")
	e.Errors = fields
	return e
}

// Internal hides the cause from the client; the handler logs it.
func Internal(err error) *Error {
	return New(http.StatusInternalServerError, "internal", "An internal error occurred.").With(err)
}

// Unavailable is a dependency outage (database down): 503, try again shortly.
func Unavailable(err error) *Error {
	e := New(http.StatusServiceUnavailable, "unavailable", "A dependency is unavailable; try again shortly.").With(err)
	e.RetryAfter = 5
	return e
}

// Common errors, shared so their codes and wording stay consistent.
var (
	ErrMissingToken = Unauthorized("missing_token", "An Authorization: Bearer token is required.")
	ErrInvalidToken = Unauthorized("invalid_token", "The access token is invalid.")
	ErrExpiredToken = Unauthorized("token_expired", "The access token has expired.")
	ErrRevoked      = Unauthorized("session_revoked", "The session has ended; log in again.")
	ErrForbidden    = Forbidden("forbidden", "You are not allowed to do this.")
	// ErrSessionRequired: a personal access token or a service token asked for
	// what only a user's own session may do.
	ErrSessionRequired = Forbidden("session_required",
		"This needs a user's signed-in session: personal access tokens and service tokens cannot do it.")
	ErrUserNotFound = NotFound("user_not_found", "No such user.")
)

// As extracts an *Error from err's chain.
func As(err error) (*Error, bool) {
	var p *Error
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}

// codeFor gives Echo's own errors (404, 405, 413, 415 …) a stable code.
func codeFor(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}
