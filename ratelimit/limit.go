// Package ratelimit counts events per key against limits written "N per
// second, minute or hour", in memory or shared through Redis, with a wrapper
// that keeps answering from memory while Redis is away.
//
// All implementations use the same algorithm (GCRA, as go-redis/redis_rate
// does): a limit of N per Period allows a burst of N, then one more every
// Period/N. So N attempts are allowed at once, the next one after Period/N, and
// the full N again after an idle Period; any window of length Period admits
// fewer than 2N.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limit is Count events per Period, written "10/m", "100/h", "5/s".
// The zero Limit (written "0") is off: everything is allowed.
type Limit struct {
	Count  int
	Period time.Duration
}

// Off reports whether the limit allows everything.
func (l Limit) Off() bool { return l.Count <= 0 || l.Period <= 0 }

func (l Limit) String() string {
	if l.Off() {
		return "0"
	}
	switch l.Period {
	case time.Second:
		return fmt.Sprintf("%d/s", l.Count)
	case time.Minute:
		return fmt.Sprintf("%d/m", l.Count)
	case time.Hour:
		return fmt.Sprintf("%d/h", l.Count)
	}
	return fmt.Sprintf("%d/%s", l.Count, l.Period)
}

// interval is the time one event takes to be forgiven.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Count) }

var errSyntax = errors.New("must be N/s, N/m or N/h with N ≥ 1, or 0 for no limit")

// ParseLimit reads "N/s", "N/m", "N/h" (N ≥ 1) or "0" (off). Spaces around it are ignored.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return Limit{}, nil
	}
	count, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	periods := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}
	p, known := periods[unit]
	if !ok || err != nil || n < 1 || !known {
		return Limit{}, fmt.Errorf("%q %w", s, errSyntax)
	}
	return Limit{Count: n, Period: p}, nil
}

// Result is the answer for one event.
type Result struct {
	Allowed bool
	// RetryAfter is how long until the next event would be allowed; 0 when allowed.
	RetryAfter time.Duration
	// Remaining is how many more events would be allowed right now; -1 when the limit is off.
	Remaining int
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1, for
// a Retry-After header (a client told 0 would retry at once).
func (r Result) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(r.RetryAfter.Seconds())))
}

// Limiter decides whether one more event for key is allowed under l. scope
// names what is limited ("login_ip", "login_user"): the same key under two
// scopes is counted twice. Errors mean the store could not be asked.
type Limiter interface {
	Allow(ctx context.Context, scope, key string, l Limit) (Result, error)
	// Peek answers as Allow would, without counting the event.
	Peek(ctx context.Context, scope, key string, l Limit) (Result, error)
}

// unlimited is the answer when a limit is off.
var unlimited = Result{Allowed: true, Remaining: -1}

// RefusedError is an event refused by a limit: try again after RetryAfter.
type RefusedError struct {
	Scope      string
	RetryAfter time.Duration // whole seconds, at least one
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("ratelimit: %s refused, retry after %v", e.Scope, e.RetryAfter)
}

// Check counts one event of key in scope under l and returns a *RefusedError
// past the limit. A nil limiter or an off limit allows everything. A limiter
// that cannot answer (only when ctx ends) lets the event through: limits slow
// abuse down, they are not what keeps accounts safe.
func Check(ctx context.Context, lim Limiter, scope, key string, l Limit) error {
	if lim == nil || l.Off() {
		return nil
	}
	r, err := lim.Allow(ctx, scope, key, l)
	return refusal(scope, r, err)
}

// Exhausted is Check without counting an event: for a refusal that must come
// before the work whose failures are counted (checking a secret), so that a
// client past its limit gets nothing checked.
func Exhausted(ctx context.Context, lim Limiter, scope, key string, l Limit) error {
	if lim == nil || l.Off() {
		return nil
	}
	r, err := lim.Peek(ctx, scope, key, l)
	return refusal(scope, r, err)
}

func refusal(scope string, r Result, err error) error {
	if err != nil || r.Allowed {
		return nil
	}
	return &RefusedError{Scope: scope, RetryAfter: time.Duration(r.RetryAfterSeconds()) * time.Second}
}
