package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

const (
	// ProbeInterval is how often a Fallback whose primary failed tries it again.
	// The probe is a real request, so there is no separate health check.
	ProbeInterval = 5 * time.Second
	// PrimaryTimeout bounds one call to the primary, so a Redis that stopped
	// answering (rather than refusing) costs one login a quarter second, not
	// the client's read timeout on every login.
	PrimaryTimeout = 250 * time.Millisecond
)

// Fallback asks primary (Redis) and, while it fails, backup (Memory). Limits
// are then per instance: with k instances a client may get k times the limit,
// which beats refusing every login or allowing all of them.
type Fallback struct {
	primary, backup Limiter
	log             *slog.Logger
	now             func() time.Time

	mu      sync.Mutex
	down    bool
	since   time.Time // when primary first failed in this outage
	lastTry time.Time // when primary was last asked during the outage
	lastErr error
	probing bool
}

// NewFallback logs once when it switches to backup and once when it is back on primary.
func NewFallback(primary, backup Limiter, log *slog.Logger, now func() time.Time) *Fallback {
	return &Fallback{primary: primary, backup: backup, log: log, now: now}
}

// Allow fails only when ctx ends while primary is being asked.
func (f *Fallback) Allow(ctx context.Context, scope, key string, l Limit) (Result, error) {
	return f.ask(ctx, l, func(ctx context.Context, lim Limiter) (Result, error) { return lim.Allow(ctx, scope, key, l) })
}

// Peek fails only when ctx ends while primary is being asked.
func (f *Fallback) Peek(ctx context.Context, scope, key string, l Limit) (Result, error) {
	return f.ask(ctx, l, func(ctx context.Context, lim Limiter) (Result, error) { return lim.Peek(ctx, scope, key, l) })
}

// ask puts the question to primary, or to backup while primary fails.
func (f *Fallback) ask(ctx context.Context, l Limit, question func(context.Context, Limiter) (Result, error)) (Result, error) {
	if l.Off() {
		return unlimited, nil
	}
	if !f.tryPrimary() {
		return question(ctx, f.backup)
	}
	pctx, cancel := context.WithTimeout(ctx, PrimaryTimeout)
	res, err := question(pctx, f.primary)
	cancel()
	if err == nil {
		f.recovered()
		return res, nil
	}
	if ctx.Err() != nil {
		f.gaveUp()
		return Result{}, ctx.Err() // the caller left: that says nothing about Redis
	}
	f.failed(err)
	return question(ctx, f.backup)
}

// Healthy reports whether limits are shared through the primary.
func (f *Fallback) Healthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.down
}

// Status is a one-line description for /readyz details.
func (f *Fallback) Status() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down {
		return "ok"
	}
	return fmt.Sprintf("degraded: redis unavailable since %s (%v); limits are per instance",
		f.since.UTC().Format(time.RFC3339), f.lastErr)
}

// tryPrimary says whether this call should ask primary. During an outage one
// caller at a time probes, at most every ProbeInterval; the rest use backup.
func (f *Fallback) tryPrimary() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down {
		return true
	}
	now := f.now()
	if f.probing || now.Sub(f.lastTry) < ProbeInterval {
		return false
	}
	f.probing, f.lastTry = true, now
	return true
}

func (f *Fallback) recovered() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
	if f.down {
		f.down = false
		f.log.Info("rate limits shared through Redis again", "outage", f.now().Sub(f.since).Round(time.Second))
	}
}

func (f *Fallback) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing, f.lastErr = false, err
	f.lastTry = f.now()
	if !f.down {
		f.down, f.since = true, f.lastTry
		f.log.Warn("Redis unavailable: rate limits are per instance, in memory, until it answers",
			"error", err.Error(), "retry_every", ProbeInterval)
	}
}

func (f *Fallback) gaveUp() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
}
