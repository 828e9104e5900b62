package ratelimit_test

import (
	"testing"
	"time"

	"github.com/authsvc/authsvc/ratelimit"
)

func TestParseLimit(t *testing.T) {
	good := map[string]ratelimit.Limit{
		"10/m":   {Count: 10, Period: time.Minute},
		"5/s":    {Count: 5, Period: time.Second},
		" 100/h": {Count: 100, Period: time.Hour},
		"0":      {},
	}
	for in, want := range good {
		got, err := ratelimit.ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10", "0/m", "-1/m", "10/d", "ten/m", "10/", "/m", "1.5/s"} {
		if got, err := ratelimit.ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %v, want an error", in, got)
		}
	}
}

func TestLimitString(t *testing.T) {
	for _, s := range []string{"10/m", "5/s", "100/h", "0"} {
		l, _ := ratelimit.ParseLimit(s)
		if l.String() != s {
			t.Errorf("ParseLimit(%q).String() = %q", s, l.String())
		}
	}
	if !(ratelimit.Limit{}).Off() || !(ratelimit.Limit{Count: 3}).Off() || (ratelimit.Limit{Count: 1, Period: time.Second}).Off() {
		t.Error("Off: only a zero count or period is off")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	cases := map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 20 * time.Second: 20}
	for d, want := range cases {
		if got := (ratelimit.Result{RetryAfter: d}).RetryAfterSeconds(); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
