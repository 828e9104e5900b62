package main

import (
	"context"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadResult is what one load run measured.
type loadResult struct {
	conns    int
	requests int           // answers and transport errors
	served   int           // answers with an expected status
	rate     float64       // served per second
	p50, p99 time.Duration // over every request
	statuses map[int]int   // by status; 0 counts requests that got no answer
	// missingRetryAfter counts 429 and 503 answers without a Retry-After header.
	missingRetryAfter int
	elapsed           time.Duration
	ranOut            bool // the targeter had no more targets before the time was up
}

// errors is every request that was not served: other statuses, no answer.
func (r loadResult) errors() int { return r.requests - r.served }

// attack loads one target set closed-loop: conns workers, each on its own
// keep-alive connection, each sending its next request as soon as its last
// answer is in, for d (or until tr runs out). An answer counts as served when
// its status is one of ok.
func attack(ctx context.Context, name string, tr vegeta.Targeter, conns int, d time.Duration, ok ...int) loadResult {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)),
		vegeta.Connections(conns), vegeta.MaxConnections(conns),
		vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(0), // read and drop: the scenarios look only at statuses
	)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopped:
		}
	}()

	res := loadResult{conns: conns, statuses: map[int]int{}}
	var m vegeta.Metrics
	var first, last time.Time
	// A zero ConstantPacer is an unbounded rate: with Workers = MaxWorkers
	// that is exactly conns requests in flight at all times.
	for r := range atk.Attack(tr, vegeta.ConstantPacer{}, d, name) {
		if r.Error == vegeta.ErrNoTargets.Error() {
			res.ranOut = true
			continue
		}
		m.Add(r)
		res.requests++
		res.statuses[int(r.Code)]++
		if slices.Contains(ok, int(r.Code)) {
			res.served++
		}
		if (r.Code == 429 || r.Code == 503) && r.Headers.Get("Retry-After") == "" {
			res.missingRetryAfter++
		}
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.End().After(last) {
			last = r.End()
		}
	}
	m.Close()
	res.p50, res.p99 = m.Latencies.P50, m.Latencies.P99
	res.elapsed = last.Sub(first)
	if res.elapsed > 0 {
		res.rate = float64(res.served) / res.elapsed.Seconds()
	}
	return res
}
