package mail

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	w := NewWorker(nil, nil, nil, time.Now, nil)
	for attempts, base := range map[int]time.Duration{
		1:   5 * time.Second,
		2:   10 * time.Second,
		5:   80 * time.Second,
		9:   1280 * time.Second,
		10:  30 * time.Minute, // 2560s, capped
		500: 30 * time.Minute, // no overflow
	} {
		for range 50 {
			d := w.backoff(attempts)
			if d > base || d < base*4/5 || d%time.Millisecond != 0 {
				t.Fatalf("backoff(%d) = %v; want whole milliseconds in [%v, %v]", attempts, d, base*4/5, base)
			}
		}
	}
}
