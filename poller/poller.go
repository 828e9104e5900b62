// Package poller runs the loop of an outbox's worker (mail, webhooks): look
// for due work at once, whenever woken, and an interval after each look;
// again at once after a full batch; clean up now and then.
package poller

import (
	"context"
	"log/slog"
	"time"
)

// Loop is what Run needs of a worker.
type Loop struct {
	Name         string        // names the outbox in the log ("mail outbox")
	Interval     time.Duration // between looks while nothing is waiting
	CleanupEvery time.Duration
	BatchSize    int // a look that found a full batch looks again at once
	Now          func() time.Time
	Log          *slog.Logger
	// Once does one look and says how much it found; Cleanup drops finished work.
	Once    func(context.Context) (int, error)
	Cleanup func(context.Context) (int64, error)
}

// Run loops until ctx is done; a receive from wake makes it look at once.
func Run(ctx context.Context, wake <-chan struct{}, l Loop) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var nextCleanup time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
		if now := l.Now(); !now.Before(nextCleanup) {
			nextCleanup = now.Add(l.CleanupEvery)
			if _, err := l.Cleanup(ctx); err != nil && ctx.Err() == nil {
				l.Log.Error(l.Name+" clean-up", "error", err)
			}
		}
		n, err := l.Once(ctx)
		if err != nil && ctx.Err() == nil {
			l.Log.Error(l.Name, "error", err)
		}
		next := l.Interval
		if err == nil && n >= l.BatchSize {
			next = 0 // a full batch: more may be waiting
		}
		timer.Reset(next)
	}
}
