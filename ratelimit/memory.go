package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often idle keys are dropped. A key is idle once its
// bucket is full again, at most one Period after its last event, so memory
// follows recent traffic rather than every key ever seen.
const sweepEvery = time.Minute

// DefaultMaxKeys bounds a Memory limiter's map: about 100 bytes a key plus the
// key itself, so ~15 MiB with e-mail addresses as keys.
const DefaultMaxKeys = 100_000

// Memory limits in this process only. It is safe for concurrent use.
type Memory struct {
	now     func() time.Time
	maxKeys int

	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time of the next event, per key
	nextSweep time.Time
}

// NewMemory returns a limiter that keeps at most maxKeys keys (DefaultMaxKeys
// if maxKeys < 1). Past that an arbitrary key is forgotten, which resets its
// count: under a flood of distinct keys it fails open for some keys rather than
// growing without bound or refusing everyone.
func NewMemory(maxKeys int, now func() time.Time) *Memory {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{now: now, maxKeys: maxKeys, tat: map[string]time.Time{}}
}

// Allow never fails.
func (m *Memory) Allow(_ context.Context, scope, key string, l Limit) (Result, error) {
	return m.take(scope, key, l, true), nil
}

// Peek never fails.
func (m *Memory) Peek(_ context.Context, scope, key string, l Limit) (Result, error) {
	return m.take(scope, key, l, false), nil
}

// take answers for one more event of key, and counts it when count is set.
func (m *Memory) take(scope, key string, l Limit, count bool) Result {
	if l.Off() {
		return unlimited
	}
	now := m.now()
	k := scope + "\x00" + key

	m.mu.Lock()
	defer m.mu.Unlock()
	if !now.Before(m.nextSweep) {
		m.sweep(now)
		m.nextSweep = now.Add(sweepEvery)
	}

	tat, seen := m.tat[k]
	if !seen || tat.Before(now) {
		tat = now
	}
	interval := l.interval()
	next := tat.Add(interval)
	allowAt := next.Add(-interval * time.Duration(l.Count))
	if now.Before(allowAt) {
		return Result{RetryAfter: allowAt.Sub(now)}
	}
	remaining := int(now.Sub(allowAt) / interval)
	if !count {
		return Result{Allowed: true, Remaining: remaining}
	}
	if !seen && len(m.tat) >= m.maxKeys {
		for victim := range m.tat {
			delete(m.tat, victim)
			break
		}
	}
	m.tat[k] = next
	return Result{Allowed: true, Remaining: remaining}
}

// Len is the number of keys held, for tests and gauges.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}

// sweep drops keys whose bucket is full again: forgetting them changes no answer.
func (m *Memory) sweep(now time.Time) {
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
}
