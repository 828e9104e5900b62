package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authsvc/authsvc/ratelimit"
)

// Rate-limit scopes: what a counter counts, named in metrics and logs.
const (
	ScopeLoginIdentifier = "login_identifier"
	ScopeLoginIP         = "login_ip"
	ScopeSignupIP        = "signup_ip"
	ScopeMailAddress     = "mail_address"
)

// RateLimitedError: too many attempts in a scope; try again after RetryAfter.
type RateLimitedError struct {
	Scope      string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("accounts: rate limited (%s), retry after %v", e.Scope, e.RetryAfter)
}

// allow counts one event of key in scope under l, and refuses it past the limit.
// A limiter that cannot answer (only when ctx ends) lets the event through:
// the limits slow guessing down, the password check is what keeps accounts safe.
func (s *Service) allow(ctx context.Context, scope, key string, l ratelimit.Limit) error {
	if s.Limiter == nil || l.Off() {
		return nil
	}
	r, err := s.Limiter.Allow(ctx, scope, key, l)
	if err != nil {
		s.Log.WarnContext(ctx, "rate limiter did not answer", "scope", scope, "error", err)
		return nil
	}
	if !r.Allowed {
		return &RateLimitedError{Scope: scope, RetryAfter: time.Duration(r.RetryAfterSeconds()) * time.Second}
	}
	return nil
}

// identifierKey normalises a login identifier or address for counting: the
// same account under another case or with spaces is the same key.
func identifierKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
