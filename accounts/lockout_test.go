package accounts

import (
	"testing"
	"time"
)

// The API test covers the first two locks; the doubling and its cap are here.
func TestLockDuration(t *testing.T) {
	for n, want := range map[int]time.Duration{
		1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute, 7: time.Hour, 50: time.Hour,
	} {
		if got := lockDuration(n); got != want {
			t.Errorf("lock %d: %v; want %v", n, got, want)
		}
	}
}
