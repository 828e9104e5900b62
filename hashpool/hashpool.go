// Package hashpool bounds how many password hashes run at once and how many
// callers may wait for one. Each argon2id call holds its full memory cost
// (19 MiB by default) until it returns, so the number of hashes in flight, not
// the number of requests, decides the service's memory; and a short queue with
// an immediate "overloaded" answer keeps the wait of admitted callers bounded
// however many logins arrive.
package hashpool

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
)

// ErrOverloaded means the queue is full. Callers answer 503 with Retry-After
// instead of waiting: the work behind them is already more than it can finish
// in a useful time.
var ErrOverloaded = errors.New("hashpool: overloaded")

// Pool runs functions on at most Workers goroutines at once with at most Queue
// callers waiting. The zero value is not usable; call New.
type Pool struct {
	admit   chan struct{} // one token per caller running or waiting
	run     chan struct{} // one token per caller running
	waiting atomic.Int64
	reject  atomic.Uint64
}

// New returns a pool that runs at most workers functions at once and lets at
// most queue more callers wait. workers below 1 is taken as 1, queue below 0 as 0.
func New(workers, queue int) *Pool {
	workers = max(workers, 1)
	queue = max(queue, 0)
	return &Pool{
		admit: make(chan struct{}, workers+queue),
		run:   make(chan struct{}, workers),
	}
}

// hashBudget is the memory hashing may take, leaving room under a 150 MiB
// process for the heap, stacks and runtime (about 20 MiB at rest).
const hashBudget = 128 << 20

// DefaultSize sizes a pool for argon2id calls of hashMemKiB each:
//
//   - workers = GOMAXPROCS, but no more than hashBudget allows. Hashing is
//     CPU-bound, so more workers than cores add memory, not throughput. Each call
//     holds its memory live and leaves as much again as garbage until the next
//     collection, so a worker costs about twice hashMemKiB: at 19 MiB that is
//     3 workers at most. Measured (500 concurrent callers, 19 MiB, t=2):
//     peak RSS 90 MiB with 2 workers, 122 MiB with 3, 141 MiB with 4, 336 MiB with 8.
//   - queue = 4 × workers. An admitted caller waits for at most four hashes of
//     each worker before its own, so its latency is bounded by five hash times
//     (about 100 ms at the default cost) however many logins arrive; the rest
//     are turned away at once. Waiters hold only a goroutine, not hash memory, so
//     the queue costs no RSS; shorter would refuse ordinary bursts (a page of
//     tabs logging in at once), longer would only add latency.
func DefaultSize(hashMemKiB uint32) (workers, queue int) {
	perWorker := 2 * int64(max(hashMemKiB, 1)) << 10
	workers = max(1, min(runtime.GOMAXPROCS(0), int(hashBudget/perWorker)))
	return workers, 4 * workers
}

// Do runs fn on the calling goroutine once a worker slot is free. It returns
// ErrOverloaded at once when the queue is full, and ctx.Err() when ctx ends
// before fn starts; fn itself is never interrupted.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.admit <- struct{}{}:
	default:
		p.reject.Add(1)
		return ErrOverloaded
	}
	defer func() { <-p.admit }()

	p.waiting.Add(1)
	select {
	case p.run <- struct{}{}:
		p.waiting.Add(-1)
	case <-ctx.Done():
		p.waiting.Add(-1)
		return ctx.Err()
	}
	defer func() { <-p.run }()

	// The slot and ctx's end may have been ready together: a caller that has
	// gone away must not spend a worker.
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}

// Depth is the number of callers waiting for a worker now.
func (p *Pool) Depth() int { return int(p.waiting.Load()) }

// Rejected is the number of calls refused with ErrOverloaded since New.
func (p *Pool) Rejected() uint64 { return p.reject.Load() }

// Workers and Queue are the pool's sizes, for logs and dashboards.
func (p *Pool) Workers() int { return cap(p.run) }
func (p *Pool) Queue() int   { return cap(p.admit) - cap(p.run) }
