package hashpool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/hashpool"
)

// blocker is a fn that records how many run at once and blocks until released.
type blocker struct {
	running, peak atomic.Int64
	started       chan struct{}
	release       chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 100), release: make(chan struct{})}
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

// waitFor polls cond; the pool has no event to wait on for "a caller is queued".
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrencyNeverExceedsWorkers(t *testing.T) {
	const workers, queue, callers = 3, 20, 20
	p := hashpool.New(workers, queue)
	b := newBlocker()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() { errs <- p.Do(context.Background(), b.fn) })
	}
	for range workers {
		<-b.started
	}
	waitFor(t, "the rest to queue", func() bool { return p.Depth() == callers-workers })
	if got := b.running.Load(); got != workers {
		t.Fatalf("running = %d, want %d", got, workers)
	}
	close(b.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	if got := b.peak.Load(); got != workers {
		t.Errorf("peak concurrency = %d, want %d", got, workers)
	}
	if p.Depth() != 0 || p.Rejected() != 0 {
		t.Errorf("after: depth %d, rejected %d; want 0, 0", p.Depth(), p.Rejected())
	}
}

func TestOverloadIsImmediate(t *testing.T) {
	p := hashpool.New(1, 2)
	b := newBlocker()
	var wg sync.WaitGroup
	for range 3 { // one running, two queued: full
		wg.Go(func() { p.Do(context.Background(), b.fn) })
	}
	<-b.started
	waitFor(t, "the queue to fill", func() bool { return p.Depth() == 2 })

	var ran atomic.Bool
	done := make(chan error)
	go func() { done <- p.Do(context.Background(), func() { ran.Store(true) }) }()
	select {
	case err := <-done:
		if !errors.Is(err, hashpool.ErrOverloaded) {
			t.Fatalf("Do on a full pool = %v, want ErrOverloaded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do on a full pool blocked")
	}
	if ran.Load() {
		t.Error("fn ran although the pool was full")
	}
	if got := p.Rejected(); got != 1 {
		t.Errorf("Rejected = %d, want 1", got)
	}

	close(b.release)
	wg.Wait()
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Errorf("Do after the load passed = %v, want nil", err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	p := hashpool.New(1, 1)
	b := newBlocker()
	go p.Do(context.Background(), b.fn)
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

	// Its queue slot was given back: another caller can wait in it.
	close(b.release)
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Errorf("Do after cancel = %v", err)
	}
	if ran.Load() {
		t.Error("a cancelled caller's fn ran")
	}
}

func TestDoneContextIsNotRun(t *testing.T) {
	p := hashpool.New(1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Do(ctx, func() { t.Error("fn ran") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
	if p.Rejected() != 0 {
		t.Error("a cancelled call counted as rejected")
	}
}

func TestSizes(t *testing.T) {
	p := hashpool.New(0, -1)
	if p.Workers() != 1 || p.Queue() != 0 {
		t.Errorf("New(0, -1): workers %d, queue %d; want 1, 0", p.Workers(), p.Queue())
	}
	w, q := hashpool.DefaultSize(19456)
	if w < 1 || w > 3 || q != 4*w {
		t.Errorf("DefaultSize(19 MiB) = %d, %d; want 1..3 workers and a queue of four times that", w, q)
	}
	if w, _ := hashpool.DefaultSize(1 << 20); w != 1 {
		t.Errorf("DefaultSize(1 GiB) workers = %d, want 1", w)
	}
}
