// Package hashpool bounds how many password hashes run at once and how much
// hashing may wait. Each argon2id call holds its full memory cost (19 MiB by
// default) until it returns, so the number of hashes in flight, not the number
// of requests, decides the service's memory. The queue is bounded in time: a
// caller is admitted while the work queued ahead of it would take about
// Budget to finish, and refused at once beyond that. A burst of logins is
// served with a wait of at most about Budget; a flood is shed without holding
// anyone longer.
package hashpool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded means more hashing is queued than finishes within the pool's
// budget. Callers answer 503 with Retry-After instead of waiting.
var ErrOverloaded = errors.New("hashpool: overloaded")

// DefaultBudget is how much queued hashing a pool admits by default: about a
// second, a little more so that a burst of 50 logins on 2 cores fits. In the
// service a hash takes about 45 ms when two run at once (the collector under
// the soft memory limit, page faults), so 50 are 1.1 s of work; 1.5 s leaves
// room for a slower moment, and no admitted caller waits much longer.
const DefaultBudget = 1500 * time.Millisecond

// Config sizes a pool.
type Config struct {
	// Workers is how many functions run at once (DefaultWorkers); below 1 is 1.
	Workers int
	// Budget is the queued work admitted, in time: a caller is admitted to
	// wait while waiting × cost / Workers ≤ Budget, itself counted among the
	// waiting. 0 lets no one wait.
	Budget time.Duration
	// Sample is one typical call (a hash). New runs it a few times and takes
	// the fastest as the cost until calls have been measured, so the bound
	// holds from the first caller on, also when a flood meets a fresh start.
	// Nil leaves the queue unbounded until the first call has been timed.
	Sample func()
	// Now is the clock that times the calls; time.Now when nil. It must be the
	// real clock in the service (not a test clock that stands still).
	Now func() time.Time
}

// Pool runs functions on at most Workers goroutines at once and admits
// waiting callers while the queue holds at most Budget of work at the
// measured cost per call. The zero value is not usable; call New.
type Pool struct {
	workers int
	budget  time.Duration
	now     func() time.Time
	run     chan struct{} // one token per caller running

	mu   sync.Mutex
	in   int           // callers admitted: running or waiting
	cost time.Duration // the moving average of a call's duration

	waiting atomic.Int64
	reject  atomic.Uint64
}

// New returns a pool sized by c.
func New(c Config) *Pool {
	p := &Pool{
		workers: max(c.Workers, 1),
		budget:  max(c.Budget, 0),
		now:     c.Now,
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.run = make(chan struct{}, p.workers)
	if c.Sample != nil {
		// The first hashes of a process fault their memory in and take three
		// or four times as long as later ones: the fastest of a few is a
		// warm call's cost.
		p.cost = p.timed(c.Sample)
		for range samples - 1 {
			p.cost = min(p.cost, p.timed(c.Sample))
		}
	}
	return p
}

// samples is how many times New runs Config.Sample.
const samples = 3

// hashBudget is the memory hashing may take, leaving room under a 150 MiB
// process for the heap, stacks and runtime (about 20 MiB at rest).
const hashBudget = 128 << 20

// DefaultWorkers is how many argon2id calls of hashMemKiB each may run at
// once: GOMAXPROCS, but no more than hashBudget allows. Hashing is CPU-bound,
// so more workers than cores add memory, not throughput. Each call holds its
// memory live and leaves as much again as garbage until the next collection,
// so a worker costs about twice hashMemKiB: at 19 MiB that is 3 workers at
// most. Measured (500 concurrent callers, 19 MiB, t=2): peak RSS 90 MiB with 2
// workers, 122 MiB with 3, 141 MiB with 4, 336 MiB with 8. Waiting callers
// hold only a goroutine, not hash memory, so the queue's length costs no RSS.
func DefaultWorkers(hashMemKiB uint32) int {
	perWorker := 2 * int64(max(hashMemKiB, 1)) << 10
	return max(1, min(runtime.GOMAXPROCS(0), int(hashBudget/perWorker)))
}

// Do runs fn on the calling goroutine once a worker slot is free. It returns
// ErrOverloaded at once when the queue already holds the pool's budget of
// work, and ctx.Err() when ctx ends before fn starts; fn itself is never
// interrupted.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !p.enter() {
		p.reject.Add(1)
		return ErrOverloaded
	}
	defer p.leave()

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
	p.observe(p.timed(fn))
	return nil
}

// enter admits a caller if the callers that would then wait (itself
// included) are at most Budget of work for the workers at the current cost.
func (p *Pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	queued := p.in + 1 - p.workers
	if queued > 0 && time.Duration(queued)*p.cost > p.budget*time.Duration(p.workers) {
		return false
	}
	p.in++
	return true
}

func (p *Pool) leave() {
	p.mu.Lock()
	p.in--
	p.mu.Unlock()
}

func (p *Pool) timed(fn func()) time.Duration {
	start := p.now()
	fn()
	return p.now().Sub(start)
}

// observe folds a call's duration into the cost, an exponentially weighted
// moving average over about the last eight calls (the first call is taken as
// it is when there was no Sample). Measured, not calibrated once: a hash takes
// longer under load than on an idle machine (the collector, page faults, other
// processes on shared cores), and the bound must follow what the queue really
// drains at; eight calls follow a change within a fraction of the budget,
// while one odd call moves the bound by only an eighth.
func (p *Pool) observe(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cost == 0 {
		p.cost = d
		return
	}
	p.cost += (d - p.cost) / 8
}

// Depth is the number of callers waiting for a worker now.
func (p *Pool) Depth() int { return int(p.waiting.Load()) }

// Rejected is the number of calls refused with ErrOverloaded since New.
func (p *Pool) Rejected() uint64 { return p.reject.Load() }

// Workers is how many calls run at once.
func (p *Pool) Workers() int { return p.workers }

// Cost is the current estimate of one call's duration.
func (p *Pool) Cost() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cost
}

// Queue is how many callers may wait at the current cost; -1 while the cost
// is zero (no Sample, no call timed yet) and the queue is unbounded.
func (p *Pool) Queue() int {
	c := p.Cost()
	if c <= 0 {
		return -1
	}
	return int(p.budget * time.Duration(p.workers) / c)
}
