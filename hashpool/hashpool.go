// Package hashpool bounds how many password hashes run at once and how much
// hashing may wait. Each argon2id call holds its full memory cost (19 MiB by
// default) until it returns, so the number of hashes in flight, not the number
// of requests, decides the service's memory. The queue is bounded in time: a
// caller is admitted while the hashing queued ahead of it is about Budget of
// work, and refused at once beyond that. A burst of logins is served; a flood
// is shed without holding memory, and without queueing more than Budget.
package hashpool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded means more hashing is queued than the pool's budget. Callers
// answer 503 with Retry-After instead of waiting.
var ErrOverloaded = errors.New("hashpool: overloaded")

// DefaultBudget is how much queued hashing a pool admits by default: a burst
// the cores hash within about a second is served in full (50 logins on 2
// cores are about 0.7 s of hashing), anything beyond is refused at once.
const DefaultBudget = time.Second

// Config sizes a pool.
type Config struct {
	// Workers is how many functions run at once (DefaultWorkers); below 1 is 1.
	Workers int
	// Budget is the queued work admitted, in time: a caller is admitted to
	// wait while waiting × cost / Workers ≤ Budget, itself counted among the
	// waiting. 0 lets no one wait.
	Budget time.Duration
	// Sample is one typical call (a hash). New runs and times it a few times,
	// so that the bound holds from the first caller on, also when a flood
	// meets a fresh start. Nil leaves the queue unbounded until a call has
	// been timed.
	Sample func()
	// Now is the clock that times the calls; time.Now when nil. It must be the
	// real clock in the service (not a test clock that stands still).
	Now func() time.Time
}

// window is how many of the latest call durations the cost is the fastest of.
const window = 16

// samples is how many times New runs Config.Sample. The first hashes of a
// process fault their memory in and take three or four times as long as
// later ones; the fastest of three is a warm hash.
const samples = 3

// Pool runs functions on at most Workers goroutines at once and admits
// waiting callers while the queue holds at most Budget of work at the
// measured cost per call. The zero value is not usable; call New.
type Pool struct {
	workers int
	budget  time.Duration
	now     func() time.Time
	run     chan struct{} // one token per caller running

	mu     sync.Mutex
	in     int                   // callers admitted: running or waiting
	recent [window]time.Duration // the latest call durations, a ring
	next   int                   // where the next duration goes in recent
	cost   time.Duration         // the fastest in recent; 0: none yet

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
		for range samples {
			p.observe(p.timed(c.Sample))
		}
	}
	return p
}

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
// interrupted. It is Enter and Run in one.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	t, err := p.Enter()
	if err != nil {
		return err
	}
	return t.Run(ctx, fn)
}

// Ticket is a caller's place in the queue, taken before the work that leads
// to its call (Enter), so that a caller the pool would refuse learns it
// before doing that work. Run uses it once; Leave gives it up unused.
type Ticket struct {
	p    *Pool
	used bool
}

// Enter takes a place in the queue, or returns ErrOverloaded at once when
// the queue already holds the pool's budget of work. The caller counts as
// queued work from now on, until Run returns or Leave.
func (p *Pool) Enter() (*Ticket, error) {
	if !p.enter() {
		p.reject.Add(1)
		return nil, ErrOverloaded
	}
	return &Ticket{p: p}, nil
}

// Leave gives up a place not used by Run; after Run it does nothing.
func (t *Ticket) Leave() {
	if !t.used {
		t.used = true
		t.p.leave()
	}
}

// Run waits for a worker slot and runs fn on the calling goroutine, then
// gives up the place. It returns ctx.Err() when ctx ends before fn starts;
// fn itself is never interrupted.
func (t *Ticket) Run(ctx context.Context, fn func()) error {
	p := t.p
	defer t.Leave()
	if err := ctx.Err(); err != nil {
		return err
	}
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

// observe records a call's duration; the cost is the fastest of the latest
// window. A hash's time is its work plus its wait for a core, and at the start
// of a burst that wait is most of it: the burst's handlers all decode, look up
// and lock before they hash, and the scheduler shares the cores among them, so
// the first hashes take five to twenty times their work. An average of those
// would refuse the rest of the burst that the cores, once the handlers are
// waiting here, hash in well under the budget. The fastest recent call is the
// work (as the lowest round trip is a path's delay, queueing aside), and it
// still follows a lasting change within window calls: other tenants on the
// cores, slower parameters. A duration of zero (a clock that did not move)
// says nothing and is dropped.
func (p *Pool) observe(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent[p.next] = d
	p.next = (p.next + 1) % window
	p.cost = 0
	for _, r := range p.recent {
		if r > 0 && (p.cost == 0 || r < p.cost) {
			p.cost = r
		}
	}
}

// Depth is the number of callers waiting for a worker now.
func (p *Pool) Depth() int { return int(p.waiting.Load()) }

// Rejected is the number of calls refused with ErrOverloaded since New.
func (p *Pool) Rejected() uint64 { return p.reject.Load() }

// Workers is how many calls run at once.
func (p *Pool) Workers() int { return p.workers }

// Cost is the current estimate of one call's work.
func (p *Pool) Cost() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cost
}

// Queue is how many callers may wait at the current cost; -1 while no call
// has been timed (no Sample) and the queue is unbounded.
func (p *Pool) Queue() int {
	c := p.Cost()
	if c <= 0 {
		return -1
	}
	return int(p.budget * time.Duration(p.workers) / c)
}
