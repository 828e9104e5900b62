package poller_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/authsvc/authsvc/poller"
)

// TestRun: a look at once, another on each wake-up, again at once after a
// full batch, clean-up on the first look only (CleanupEvery is long), and
// the loop ends with its context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	looks, cleanups := make(chan int, 16), 0
	found := []int{2, 0, 0} // the first look finds a full batch (2): the second follows at once
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		poller.Run(ctx, wake, poller.Loop{
			Name: "test outbox", Interval: time.Hour, CleanupEvery: time.Hour, BatchSize: 2,
			Now: func() time.Time { return time.Unix(0, 0) }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Once: func(context.Context) (int, error) {
				n++
				looks <- n
				if n <= len(found) {
					return found[n-1], nil
				}
				return 0, nil
			},
			Cleanup: func(context.Context) (int64, error) { cleanups++; return 0, nil },
		})
	}()
	expect := func(want int) {
		t.Helper()
		select {
		case got := <-looks:
			if got != want {
				t.Fatalf("look %d; want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no look %d", want)
		}
	}
	expect(1) // at once
	expect(2) // the full batch
	select {
	case n := <-looks:
		t.Fatalf("look %d without a wake-up, an hour before the next poll", n)
	case <-time.After(50 * time.Millisecond):
	}
	wake <- struct{}{}
	expect(3)
	cancel()
	<-done
	if cleanups != 1 {
		t.Errorf("%d clean-ups; want 1 (the clock stands still, CleanupEvery is an hour)", cleanups)
	}
}
