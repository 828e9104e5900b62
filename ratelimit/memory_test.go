package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authsvc/authsvc/ratelimit"
)

// allow is Allow that fails the test on error.
func allow(t *testing.T, l ratelimit.Limiter, scope, key string, lim ratelimit.Limit) ratelimit.Result {
	t.Helper()
	res, err := l.Allow(context.Background(), scope, key, lim)
	if err != nil {
		t.Fatalf("Allow(%s, %s): %v", scope, key, err)
	}
	return res
}

func TestMemoryAllowsNThenRefusesThenRecovers(t *testing.T) {
	clk := newClock()
	m := ratelimit.NewMemory(0, clk.now)
	lim := ratelimit.Limit{Count: 3, Period: time.Minute}

	for i, wantRemaining := range []int{2, 1, 0} {
		res := allow(t, m, "login", "ann", lim)
		if !res.Allowed || res.Remaining != wantRemaining || res.RetryAfter != 0 {
			t.Fatalf("attempt %d = %+v, want allowed with %d remaining", i+1, res, wantRemaining)
		}
	}
	res := allow(t, m, "login", "ann", lim)
	if res.Allowed || res.RetryAfter != 20*time.Second {
		t.Fatalf("attempt 4 = %+v, want refused, retry after 20s (a minute / 3)", res)
	}

	clk.advance(19 * time.Second)
	if res := allow(t, m, "login", "ann", lim); res.Allowed || res.RetryAfter != time.Second {
		t.Fatalf("19s later = %+v, want refused, retry after 1s", res)
	}
	clk.advance(time.Second)
	if res := allow(t, m, "login", "ann", lim); !res.Allowed {
		t.Fatalf("after RetryAfter = %+v, want allowed", res)
	}
	if res := allow(t, m, "login", "ann", lim); res.Allowed {
		t.Fatalf("right after = %+v, want refused: one event was forgiven, not the window", res)
	}

	clk.advance(time.Minute) // idle for a whole period: the full burst is back
	for i := range 3 {
		if res := allow(t, m, "login", "ann", lim); !res.Allowed {
			t.Fatalf("after a period, attempt %d = %+v, want allowed", i+1, res)
		}
	}
}

func TestMemoryKeysAndScopesAreSeparate(t *testing.T) {
	m := ratelimit.NewMemory(0, newClock().now)
	lim := ratelimit.Limit{Count: 1, Period: time.Hour}
	allow(t, m, "login_user", "ann", lim)
	if !allow(t, m, "login_user", "bob", lim).Allowed {
		t.Error("another key was limited")
	}
	if !allow(t, m, "login_ip", "ann", lim).Allowed {
		t.Error("the same key under another scope was limited")
	}
	if allow(t, m, "login_user", "ann", lim).Allowed {
		t.Error("the first key was not limited")
	}
}

func TestOffAllowsEverything(t *testing.T) {
	m := ratelimit.NewMemory(0, newClock().now)
	for range 100 {
		if res := allow(t, m, "s", "k", ratelimit.Limit{}); !res.Allowed || res.Remaining != -1 {
			t.Fatalf("off limit = %+v, want allowed with Remaining -1", res)
		}
	}
	if m.Len() != 0 {
		t.Errorf("an off limit stored %d keys", m.Len())
	}
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	clk := newClock()
	m := ratelimit.NewMemory(0, clk.now)
	lim := ratelimit.Limit{Count: 5, Period: time.Minute}
	for i := range 50 {
		allow(t, m, "s", fmt.Sprint(i), lim)
	}
	if m.Len() != 50 {
		t.Fatalf("Len = %d, want 50", m.Len())
	}
	clk.advance(2 * time.Minute) // past both the buckets' refill and the sweep interval
	allow(t, m, "s", "new", lim)
	if m.Len() != 1 {
		t.Errorf("Len after the idle keys refilled = %d, want 1", m.Len())
	}
}

func TestMemoryKeepsAtMostMaxKeys(t *testing.T) {
	m := ratelimit.NewMemory(10, newClock().now)
	lim := ratelimit.Limit{Count: 1, Period: time.Hour}
	for i := range 100 {
		allow(t, m, "s", fmt.Sprint(i), lim)
	}
	if m.Len() != 10 {
		t.Errorf("Len = %d, want 10", m.Len())
	}
}

// TestMemoryPeekCountsNothing: Peek and Exhausted answer as Allow and Check
// would, and the count stays where it was.
func TestMemoryPeekCountsNothing(t *testing.T) {
	clk := newClock()
	m := ratelimit.NewMemory(0, clk.now)
	lim := ratelimit.Limit{Count: 2, Period: time.Minute}
	ctx := context.Background()
	for range 5 {
		if res, _ := m.Peek(ctx, "login", "ann", lim); !res.Allowed || res.Remaining != 1 {
			t.Fatalf("Peek on a fresh key = %+v; want allowed with 1 remaining", res)
		}
		if err := ratelimit.Exhausted(ctx, m, "login", "ann", lim); err != nil {
			t.Fatalf("Exhausted on a fresh key = %v", err)
		}
	}
	if m.Len() != 0 {
		t.Fatalf("Peek stored %d keys", m.Len())
	}
	allow(t, m, "login", "ann", lim)
	allow(t, m, "login", "ann", lim)
	if res, _ := m.Peek(ctx, "login", "ann", lim); res.Allowed || res.RetryAfter != 30*time.Second {
		t.Fatalf("Peek past the limit = %+v; want refused, retry after 30s", res)
	}
	var refused *ratelimit.RefusedError
	if err := ratelimit.Exhausted(ctx, m, "login", "ann", lim); !errors.As(err, &refused) || refused.RetryAfter != 30*time.Second {
		t.Fatalf("Exhausted past the limit = %v; want refused for 30s", err)
	}
	clk.advance(30 * time.Second)
	if res := allow(t, m, "login", "ann", lim); !res.Allowed {
		t.Fatalf("after the wait = %+v: the peeks were counted", res)
	}
}
