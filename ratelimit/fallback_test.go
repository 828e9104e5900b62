package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/ratelimit"
)

// logBuffer collects log lines; the limiters log from callers' goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func TestFallbackSurvivesRedisRestart(t *testing.T) {
	addr := redistest.FreeAddr(t)
	stop := redistest.Start(t, addr)
	// No retries: a dead server should be noticed at once, not after backoff.
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	clk := newClock()
	log, logs := newLog()
	primary := ratelimit.NewRedis(rdb, "authsvc:", testKey(t, 1))
	f := ratelimit.NewFallback(primary, ratelimit.NewMemory(0, clk.now), log, clk.now)
	lim := ratelimit.Limit{Count: 2, Period: time.Hour}
	inRedis := func() bool { return rdb.Exists(context.Background(), primary.Key("login", "ann")).Val() == 1 }

	if res := allow(t, f, "login", "ann", lim); !res.Allowed || res.Remaining != 1 {
		t.Fatalf("first attempt = %+v, want allowed with 1 remaining", res)
	}
	if !inRedis() || !f.Healthy() || f.Status() != "ok" {
		t.Fatalf("with Redis up: in Redis %v, healthy %v, status %q", inRedis(), f.Healthy(), f.Status())
	}

	stop()
	// Memory starts its own count: two allowed, then refused.
	for i := range 2 {
		if res := allow(t, f, "login", "ann", lim); !res.Allowed {
			t.Fatalf("Redis down, attempt %d = %+v, want allowed from memory", i+1, res)
		}
	}
	if res := allow(t, f, "login", "ann", lim); res.Allowed || res.RetryAfter <= 0 {
		t.Fatalf("Redis down, third attempt = %+v, want refused by memory", res)
	}
	if f.Healthy() || !strings.HasPrefix(f.Status(), "degraded: redis unavailable since ") {
		t.Fatalf("with Redis down: healthy %v, status %q", f.Healthy(), f.Status())
	}
	if n := logs.count("level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1", n)
	}

	redistest.Start(t, addr) // empty: it keeps nothing on disk
	clk.advance(ratelimit.ProbeInterval - time.Second)
	allow(t, f, "login", "bob", lim)
	if f.Healthy() || inRedis() {
		t.Fatal("asked Redis again before the probe interval")
	}
	clk.advance(time.Second)
	if res := allow(t, f, "login", "ann", lim); !res.Allowed || res.Remaining != 1 {
		t.Fatalf("after the probe interval = %+v, want allowed by the new Redis with 1 remaining", res)
	}
	if !f.Healthy() || !inRedis() {
		t.Fatalf("after Redis came back: healthy %v, in Redis %v", f.Healthy(), inRedis())
	}
	if logs.count("level=WARN") != 1 || logs.count("shared through Redis again") != 1 {
		t.Errorf("logs:\n%s", logs.buf.String())
	}
}

// flaky is a primary whose answer the test sets, counting the calls.
type flaky struct {
	mu    sync.Mutex
	err   error
	calls int
	block chan struct{} // when set, Allow waits on it or ctx
}

func (p *flaky) Allow(ctx context.Context, _, _ string, _ ratelimit.Limit) (ratelimit.Result, error) {
	p.mu.Lock()
	p.calls++
	err, block := p.err, p.block
	p.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ratelimit.Result{}, ctx.Err()
		}
	}
	if err != nil {
		return ratelimit.Result{}, err
	}
	return ratelimit.Result{Allowed: true, Remaining: 99}, nil
}

func (p *flaky) Peek(ctx context.Context, scope, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	return p.Allow(ctx, scope, key, l)
}

func (p *flaky) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }
func (p *flaky) n() int        { p.mu.Lock(); defer p.mu.Unlock(); return p.calls }

func TestFallbackProbesAtMostEveryInterval(t *testing.T) {
	clk := newClock()
	log, _ := newLog()
	p := &flaky{}
	f := ratelimit.NewFallback(p, ratelimit.NewMemory(0, clk.now), log, clk.now)
	lim := ratelimit.Limit{Count: 1000, Period: time.Second}

	p.set(errors.New("connection refused"))
	allow(t, f, "s", "k", lim)
	for range 50 {
		clk.advance(ratelimit.ProbeInterval / 10)
		allow(t, f, "s", "k", lim)
	}
	// One failing call, then one probe per interval over 5 intervals.
	if got := p.n(); got != 6 {
		t.Errorf("primary asked %d times, want 6", got)
	}
	p.set(nil)
	clk.advance(ratelimit.ProbeInterval)
	if res := allow(t, f, "s", "k", lim); res.Remaining != 99 || !f.Healthy() {
		t.Errorf("after recovery: %+v, healthy %v; want the primary's answer", res, f.Healthy())
	}
}

func TestFallbackCallerCancelIsNotAnOutage(t *testing.T) {
	clk := newClock()
	log, _ := newLog()
	p := &flaky{block: make(chan struct{})}
	f := ratelimit.NewFallback(p, ratelimit.NewMemory(0, clk.now), log, clk.now)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Allow(ctx, "s", "k", ratelimit.Limit{Count: 1, Period: time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Allow with a cancelled ctx = %v, want context.Canceled", err)
	}
	if !f.Healthy() {
		t.Error("a caller's cancel marked the primary unhealthy")
	}
}

func TestFallbackTimesOutAHangingPrimary(t *testing.T) {
	clk := newClock()
	log, _ := newLog()
	p := &flaky{block: make(chan struct{})} // never answers
	f := ratelimit.NewFallback(p, ratelimit.NewMemory(0, clk.now), log, clk.now)
	res, err := f.Allow(context.Background(), "s", "k", ratelimit.Limit{Count: 1, Period: time.Second})
	if err != nil || !res.Allowed || f.Healthy() {
		t.Errorf("hanging primary: %+v, %v, healthy %v; want memory's answer and unhealthy", res, err, f.Healthy())
	}
	if !strings.Contains(f.Status(), "deadline exceeded") {
		t.Errorf("status %q does not name the timeout", f.Status())
	}
}

// TestFallbackPeeksWhereItCounts: Peek asks the primary, and the backup while
// the primary fails.
func TestFallbackPeeksWhereItCounts(t *testing.T) {
	clk := newClock()
	log, _ := newLog()
	p := &flaky{}
	backup := ratelimit.NewMemory(0, clk.now)
	f := ratelimit.NewFallback(p, backup, log, clk.now)
	lim := ratelimit.Limit{Count: 1, Period: time.Hour}
	ctx := context.Background()
	if res, err := f.Peek(ctx, "s", "k", lim); err != nil || res.Remaining != 99 || p.n() != 1 {
		t.Fatalf("Peek = %+v, %v after %d calls; want the primary's answer", res, err, p.n())
	}
	p.set(errors.New("connection refused"))
	allow(t, backup, "s", "k", lim) // the backup's count is used up
	if res, err := f.Peek(ctx, "s", "k", lim); err != nil || res.Allowed {
		t.Fatalf("Peek with the primary down = %+v, %v; want the backup's refusal", res, err)
	}
}
