package accounts

import (
	"context"
	"strings"

	"github.com/authsvc/authsvc/ratelimit"
)

// Rate-limit scopes: what a counter counts, named in metrics and logs.
const (
	ScopeLoginIdentifier = "login_identifier"
	ScopeLoginIP         = "login_ip"
	ScopeSignupIP        = "signup_ip"
	ScopeMailAddress     = "mail_address"
)

// allow counts one event of key in scope under l: a *ratelimit.RefusedError past it.
func (s *Service) allow(ctx context.Context, scope, key string, l ratelimit.Limit) error {
	return ratelimit.Check(ctx, s.limiter, scope, key, l)
}

// identifierKey normalises a login identifier or address for counting: the
// same account under another case or with spaces is the same key.
func identifierKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
