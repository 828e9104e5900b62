package hashpool_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/hashpool"
)

// clock is a test clock that moves only when a "hash" advances it, so every
// measured cost is exact and nothing depends on how fast the machine is.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newPool is a pool with a one-second budget whose calls are first estimated
// at cost each.
func newPool(workers int, cost time.Duration) (*hashpool.Pool, *clock) {
	c := &clock{}
	p := hashpool.New(hashpool.Config{
		Workers: workers, Budget: time.Second, Now: c.now,
		Sample: func() { c.advance(cost) },
	})
	return p, c
}

// blocker is a fn that records how many run at once and blocks until released.
type blocker struct {
	running, peak atomic.Int64
	started       chan struct{}
	release       chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (b *blocker) fn() {
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	b.started <- struct{}{}
	<-b.release
	b.running.Add(-1)
}

// callers starts n goroutines that call p.Do with b.fn; each sends its error.
func callers(p *hashpool.Pool, b *blocker, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() { errs <- p.Do(context.Background(), b.fn) }()
	}
	return errs
}

// receive takes n errors from errs. Refused callers answer at once and
// admitted ones block, so a missing answer fails after a generous deadline
// instead of hanging; nothing waits for time to pass when all is well.
func receive(t *testing.T, errs <-chan error, n int) []error {
	t.Helper()
	out := make([]error, 0, n)
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case err := <-errs:
			out = append(out, err)
		case <-deadline:
			t.Fatalf("got %d answers, want %d", len(out), n)
		}
	}
	return out
}

func count(errs []error, target error) int {
	n := 0
	for _, err := range errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

// waitFor yields until cond holds; the pool has no event for "a caller is
// queued". It polls without sleeping, and fails only after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// 50 callers at 20 ms per hash on 2 workers are 0.5 s of work: all wait their
// turn, none is refused.
func TestBurstIsAdmitted(t *testing.T) {
	const workers, burst = 2, 50
	p, _ := newPool(workers, 20*time.Millisecond)
	b := newBlocker()
	errs := callers(p, b, burst)
	waitFor(t, "the burst to queue", func() bool { return p.Depth() == burst-workers || p.Rejected() > 0 })
	if got := p.Rejected(); got != 0 {
		t.Fatalf("Rejected = %d of a burst of %d (%s of work), want 0", got, burst, burst*20*time.Millisecond/workers)
	}
	close(b.release)
	if got := receive(t, errs, burst); count(got, nil) != burst {
		t.Errorf("%d of %d calls succeeded", count(got, nil), burst)
	}
}

// 500 callers at 20 ms on 2 workers are 5 s of work: the pool admits what
// finishes within its budget (2 running, 100 waiting = 1 s) and refuses the
// rest at once.
func TestFloodIsShed(t *testing.T) {
	const workers, flood = 2, 500
	const admitted = workers + 100 // 1 s × 2 workers / 20 ms waiting
	p, _ := newPool(workers, 20*time.Millisecond)
	if got := p.Queue(); got != 100 {
		t.Fatalf("Queue = %d, want 100", got)
	}
	b := newBlocker()
	errs := callers(p, b, flood)
	// Admitted callers block until released: the first answers are the refusals.
	if got := receive(t, errs, flood-admitted); count(got, hashpool.ErrOverloaded) != flood-admitted {
		t.Fatalf("the first %d answers hold %d ErrOverloaded, want all", len(got), count(got, hashpool.ErrOverloaded))
	}
	waitFor(t, "the admitted to queue", func() bool { return p.Depth() == admitted-workers || p.Rejected() > flood-admitted })
	close(b.release)
	if got := receive(t, errs, admitted); count(got, nil) != admitted {
		t.Errorf("%d of the %d admitted calls succeeded", count(got, nil), admitted)
	}
	if got := p.Rejected(); got != flood-admitted {
		t.Errorf("Rejected = %d, want %d", got, flood-admitted)
	}
	if got := b.peak.Load(); got != workers {
		t.Errorf("peak concurrency = %d, want %d", got, workers)
	}
}

// The bound is the measured cost's: when hashes take twice as long for good,
// half as many callers may wait, and when they speed up, more may at once.
func TestBoundFollowsMeasuredCost(t *testing.T) {
	const workers = 2
	p, clk := newPool(workers, 20*time.Millisecond)
	if got := p.Queue(); got != 100 {
		t.Fatalf("Queue at 20 ms = %d, want 100", got)
	}
	slow := func() { clk.advance(40 * time.Millisecond) }
	for range 15 {
		if err := p.Do(context.Background(), slow); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Cost(); got != 20*time.Millisecond {
		t.Fatalf("Cost after 15 calls of 40 ms = %v, want still 20ms (a 20 ms call is among the latest 16)", got)
	}
	if err := p.Do(context.Background(), slow); err != nil {
		t.Fatal(err)
	}
	if got := p.Cost(); got != 40*time.Millisecond {
		t.Fatalf("Cost after 16 calls of 40 ms = %v, want 40ms", got)
	}
	if got := p.Queue(); got != 50 {
		t.Fatalf("Queue at 40 ms = %d, want 50", got)
	}

	b := newBlocker()
	const n, admitted = 100, workers + 50
	errs := callers(p, b, n)
	if got := receive(t, errs, n-admitted); count(got, hashpool.ErrOverloaded) != n-admitted {
		t.Fatalf("at 40 ms: the first %d answers hold %d ErrOverloaded, want all", len(got), count(got, hashpool.ErrOverloaded))
	}
	waitFor(t, "the admitted to queue", func() bool { return p.Depth() == admitted-workers || p.Rejected() > n-admitted })
	close(b.release)
	if got := receive(t, errs, admitted); count(got, nil) != admitted {
		t.Errorf("at 40 ms: %d of the %d admitted calls succeeded", count(got, nil), admitted)
	}
	if got := p.Cost(); got != 40*time.Millisecond {
		t.Errorf("Cost after calls that took no time on the clock = %v, want 40ms (they say nothing)", got)
	}

	if err := p.Do(context.Background(), func() { clk.advance(10 * time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	if got := p.Queue(); got != 200 {
		t.Errorf("Queue after a 10 ms call = %d, want 200", got)
	}
}

// At a burst's start the handlers share the cores with the first hashes,
// which take many times their work: that must not refuse the rest of the burst.
func TestSlowStartOfABurstKeepsTheBound(t *testing.T) {
	p, clk := newPool(2, 20*time.Millisecond)
	for _, d := range []time.Duration{400, 250, 600, 300, 150} {
		if err := p.Do(context.Background(), func() { clk.advance(d * time.Millisecond) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Queue(); got != 100 {
		t.Errorf("Queue after five slow hashes = %d, want 100 (the work is still 20 ms)", got)
	}
}

func TestConcurrencyNeverExceedsWorkers(t *testing.T) {
	const workers, callersN = 3, 20
	p, _ := newPool(workers, 10*time.Millisecond)
	b := newBlocker()
	errs := callers(p, b, callersN)
	for range workers {
		<-b.started
	}
	waitFor(t, "the rest to queue", func() bool { return p.Depth() == callersN-workers })
	if got := b.running.Load(); got != workers {
		t.Fatalf("running = %d, want %d", got, workers)
	}
	close(b.release)
	if got := receive(t, errs, callersN); count(got, nil) != callersN {
		t.Errorf("%d of %d calls succeeded", count(got, nil), callersN)
	}
	if got := b.peak.Load(); got != workers {
		t.Errorf("peak concurrency = %d, want %d", got, workers)
	}
	if p.Depth() != 0 || p.Rejected() != 0 {
		t.Errorf("after: depth %d, rejected %d; want 0, 0", p.Depth(), p.Rejected())
	}
}

func TestOverloadIsImmediate(t *testing.T) {
	c := &clock{}
	// 1 worker, 20 ms a call, 40 ms of budget: one runs, two wait.
	p := hashpool.New(hashpool.Config{
		Workers: 1, Budget: 40 * time.Millisecond, Now: c.now,
		Sample: func() { c.advance(20 * time.Millisecond) },
	})
	b := newBlocker()
	errs := callers(p, b, 4)
	got := receive(t, errs, 1)
	if !errors.Is(got[0], hashpool.ErrOverloaded) {
		t.Fatalf("first answer = %v, want ErrOverloaded", got[0])
	}
	<-b.started
	waitFor(t, "two to queue", func() bool { return p.Depth() == 2 })
	if n := b.running.Load(); n != 1 {
		t.Errorf("running = %d, want 1", n)
	}
	if r := p.Rejected(); r != 1 {
		t.Errorf("Rejected = %d, want 1", r)
	}

	close(b.release)
	if got := receive(t, errs, 3); count(got, nil) != 3 {
		t.Errorf("admitted calls: %v", got)
	}
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Errorf("Do after the load passed = %v, want nil", err)
	}
}

func TestNoBudgetNoWaiting(t *testing.T) {
	c := &clock{}
	p := hashpool.New(hashpool.Config{Workers: 1, Now: c.now, Sample: func() { c.advance(time.Millisecond) }})
	b := newBlocker()
	errs := callers(p, b, 2)
	if got := receive(t, errs, 1); !errors.Is(got[0], hashpool.ErrOverloaded) {
		t.Fatalf("second caller with no budget: %v, want ErrOverloaded", got[0])
	}
	close(b.release)
	if got := receive(t, errs, 1); got[0] != nil {
		t.Errorf("first caller: %v", got[0])
	}
}

func TestCancelWhileQueued(t *testing.T) {
	p, _ := newPool(1, 20*time.Millisecond)
	b := newBlocker()
	first := callers(p, b, 1)
	<-b.started

	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	done := make(chan error)
	go func() { done <- p.Do(ctx, func() { ran.Store(true) }) }()
	waitFor(t, "the caller to queue", func() bool { return p.Depth() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a cancelled ctx = %v, want context.Canceled", err)
	}
	if p.Depth() != 0 {
		t.Errorf("Depth after cancel = %d, want 0", p.Depth())
	}

	close(b.release)
	if err := receive(t, first, 1)[0]; err != nil {
		t.Errorf("first caller: %v", err)
	}
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Errorf("Do after cancel = %v", err)
	}
	if ran.Load() {
		t.Error("a cancelled caller's fn ran")
	}
}

func TestDoneContextIsNotRun(t *testing.T) {
	p, _ := newPool(1, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Do(ctx, func() { t.Error("fn ran") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
	if p.Rejected() != 0 {
		t.Error("a cancelled call counted as rejected")
	}
}

// The first hashes of a process are slow (their memory is faulted in): the
// starting cost is the fastest sample, not the first.
func TestSampleTakesTheFastest(t *testing.T) {
	c := &clock{}
	costs := []time.Duration{80 * time.Millisecond, 70 * time.Millisecond, 20 * time.Millisecond}
	calls := 0
	p := hashpool.New(hashpool.Config{
		Workers: 2, Budget: time.Second, Now: c.now,
		Sample: func() { c.advance(costs[min(calls, len(costs)-1)]); calls++ },
	})
	if got := p.Cost(); got != 20*time.Millisecond {
		t.Errorf("Cost after samples of %v = %v, want 20ms", costs, got)
	}
	if got := p.Queue(); got != 100 {
		t.Errorf("Queue = %d, want 100", got)
	}
}

func TestSizes(t *testing.T) {
	c := &clock{}
	p := hashpool.New(hashpool.Config{Workers: 0, Budget: time.Second, Now: c.now})
	if p.Workers() != 1 {
		t.Errorf("Workers 0 gave %d workers, want 1", p.Workers())
	}
	if p.Queue() != -1 {
		t.Errorf("Queue with no Sample and no call = %d, want -1 (unbounded)", p.Queue())
	}
	if err := p.Do(context.Background(), func() { c.advance(100 * time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	// With no Sample, the first timed call is the cost.
	if got, want := p.Cost(), 100*time.Millisecond; got != want {
		t.Errorf("Cost after one 100 ms call = %v, want %v", got, want)
	}
	if w := hashpool.DefaultWorkers(19456); w < 1 || w > 3 {
		t.Errorf("DefaultWorkers(19 MiB) = %d, want 1..3", w)
	}
	if w := hashpool.DefaultWorkers(1 << 20); w != 1 {
		t.Errorf("DefaultWorkers(1 GiB) = %d, want 1", w)
	}
}

// A ticket holds its place in the queue from Enter until Run returns or
// Leave: the work a caller does before its call (a database lookup) counts
// as queued, and a place given up frees it once, however often Leave is called.
func TestTicketHoldsItsPlace(t *testing.T) {
	p, _ := newPool(1, 500*time.Millisecond) // one running and two waiting at 0.5 s each fill the 1 s budget
	var held []*hashpool.Ticket
	for range 3 {
		tk, err := p.Enter()
		must(t, err)
		held = append(held, tk)
	}
	if _, err := p.Enter(); !errors.Is(err, hashpool.ErrOverloaded) {
		t.Fatalf("a fourth place: %v; want ErrOverloaded while three are held", err)
	}
	held[0].Leave()
	held[0].Leave() // once only: the place is not freed twice
	again, err := p.Enter()
	must(t, err)
	if _, err := p.Enter(); !errors.Is(err, hashpool.ErrOverloaded) {
		t.Fatalf("after one Leave called twice: %v; want ErrOverloaded (one place freed, not two)", err)
	}
	must(t, held[1].Run(context.Background(), func() {}))
	held[1].Leave() // after Run: nothing more to give up
	last, err := p.Enter()
	must(t, err)
	if _, err := p.Enter(); !errors.Is(err, hashpool.ErrOverloaded) {
		t.Fatalf("after Run and Leave: %v; want ErrOverloaded (Run freed its place once)", err)
	}
	for _, tk := range []*hashpool.Ticket{held[2], again, last} {
		tk.Leave()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
