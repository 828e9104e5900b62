package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// Login variants: the plain login scenario again, on a fresh service process
// on the same database whose environment adds a feature (a hook, a webhook),
// so that their row beside the plain one is what the feature costs.

// startCounting serves respond on loopback and counts the requests. It
// verifies no signature: the service's cost is what is measured.
func startCounting(respond func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		respond(w)
	}))
	return srv, &n
}

// startVariant starts authsvc serve as name with env plus extra.
func startVariant(ctx context.Context, name, dir, addr, bin string, env, extra map[string]string) (*process, error) {
	all := map[string]string{}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = v
	}
	return startProcess(ctx, name, dir, addr, "/readyz", all, bin, "serve")
}

// loadLogin runs the login load of the plain scenario against p, as name.
func loadLogin(ctx context.Context, o options, p *process, name string, fx *fixture, c credentials, ceilings map[string]float64) (row, loadResult, []string) {
	sc := scenario{name: name, conns: o.hashConns, ceiling: ceilArgon2, ok: []int{200}, target: target{minRatio: 0.90},
		targeter: login(p.base, fx.users, c.userPassword)}
	logf("%s, %d connections, %s", sc.name, sc.conns, o.duration)
	res := attack(ctx, sc.name, sc.targeter, sc.conns, o.duration, sc.ok...)
	var broken []string
	if res.served == 0 {
		broken = append(broken, sc.name)
		logf("%s: no request served; the service's log ends:\n%s", sc.name, p.logTail(20))
	}
	return scenarioRow(sc, res, ceilings), res, broken
}
