package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// burst is n requests sent at once, each exactly once, on n connections: a
// morning login spike, not a flood. Every one must be served; a 503 means the
// hashing queue refused work it could have finished within its budget.
type burst struct {
	name    string
	ok      int // the status that counts as served
	targets []vegeta.Target
}

// bursts are what the service must answer in full: n users logging in at
// once, one user logging in from n tabs or devices at once, and n signups.
func bursts(base string, n int, users []account, pw string) []burst {
	distinct := make([]vegeta.Target, min(n, len(users)))
	for i := range distinct {
		distinct[i] = loginTarget(base, users[i].Username, pw)
	}
	same := make([]vegeta.Target, n)
	for i := range same {
		same[i] = loginTarget(base, users[0].Username, pw)
	}
	signups := make([]vegeta.Target, n)
	for i := range signups {
		signups[i] = signupTarget(base, fmt.Sprintf("burst%07d", i), pw)
	}
	return []burst{
		{name: fmt.Sprintf("burst: %d logins, %d users", len(distinct), len(distinct)), ok: http.StatusOK, targets: distinct},
		{name: fmt.Sprintf("burst: %d logins, one user", n), ok: http.StatusOK, targets: same},
		{name: fmt.Sprintf("burst: %d signups", n), ok: http.StatusCreated, targets: signups},
	}
}

// once hands out each target once, then has no more.
func once(ts []vegeta.Target) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		i := int(next.Add(1)) - 1
		if i >= len(ts) {
			return vegeta.ErrNoTargets
		}
		*t = ts[i]
		return nil
	}
}

// burstEnv is env with the rate limits on, as in production, but high enough
// that no burst here meets them: a 429 would hide whether hashing kept up.
func burstEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	out["LOGIN_RATE_LIMIT"] = "1000/m"
	out["SIGNUP_RATE_LIMIT"] = "1000/m"
	return out
}

// runBursts starts a fresh service (the hashing pool knows only the one hash
// it timed at start) and sends the bursts that -run selects, one after the
// other, each once its predecessor is fully answered.
func runBursts(ctx context.Context, o options, dir, addr, bin string, env map[string]string, fx *fixture, c credentials) ([]row, []string, error) {
	var selected []burst
	for _, b := range bursts("http://"+addr, o.burst, fx.users, c.userPassword) {
		if o.only.MatchString(b.name) {
			selected = append(selected, b)
		}
	}
	if len(selected) == 0 {
		return nil, nil, nil
	}
	p, err := startProcess(ctx, "authsvc-burst", dir, addr, "/readyz", burstEnv(env), bin, "serve")
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()
	var rows []row
	var broken []string
	for _, b := range selected {
		if ctx.Err() != nil {
			break
		}
		logf("%s, all at once", b.name)
		// The time limit only guards against a hung service: the burst ends
		// when every request is answered.
		r := attack(ctx, b.name, once(b.targets), len(b.targets), time.Minute, b.ok)
		rows = append(rows, burstRow(b.name, r, len(b.targets)))
		if r.served == 0 {
			broken = append(broken, b.name)
			logf("%s: no request served; the service's log ends:\n%s", b.name, p.logTail(20))
		}
	}
	return rows, broken, nil
}
