package main

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/crypto/argon2"
)

// The two ceilings are measured in the same run as the scenarios, on the same
// machine and in the same state, so that the ratios mean something on any
// machine: what HTTP on loopback allows at all (a bare Echo handler, loaded
// exactly like the service), and what password hashing allows at all (raw
// argon2id on every core).

// bareEchoBody is about what a small API answer weighs.
type bareEchoBody struct {
	Valid bool   `json:"valid"`
	ID    string `json:"id"`
	Name  string `json:"username"`
}

// serveBareEcho is what the child process started with -bare-echo runs: Echo
// with one handler, no middleware. It serves until killed.
func serveBareEcho(addr string) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	body := bareEchoBody{Valid: true, ID: "01a209a1-7e86-7281-8bdd-d7a9864f3b29", Name: "ada"}
	e.GET("/", func(c echo.Context) error { return c.JSON(http.StatusOK, body) })
	return e.Start(addr)
}

// startBareEcho starts this program again as the bare Echo server: a
// separate process, like the service. It idles between its loads.
func startBareEcho(ctx context.Context, dir string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, "bare-echo", dir, addr, "/", nil, self, "-bare-echo", addr)
}

// loadBareEcho loads the bare Echo server exactly as the scenarios load the service.
func loadBareEcho(ctx context.Context, p *process, conns int, d time.Duration) loadResult {
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: p.base + "/"})
	return attack(ctx, "bare Echo", tr, conns, d, http.StatusOK)
}

// ceilingRuns are the ceilings' measurements. Each ceiling is measured twice,
// right before and right after the scenarios compared with it, so that a
// shared machine whose speed drifts moves both sides alike; ratios use the mean.
type ceilingRuns struct {
	echo   []loadResult
	argon2 []hashRun
}

type hashRun struct {
	hashes int
	rate   float64
}

func (c ceilingRuns) rates() map[string]float64 {
	out := map[string]float64{}
	for _, r := range c.echo {
		out[ceilEcho] += r.rate / float64(len(c.echo))
	}
	for _, r := range c.argon2 {
		out[ceilArgon2] += r.rate / float64(len(c.argon2))
	}
	return out
}

// argon2Params are the service's hashing cost, read from its configuration.
type argon2Params struct {
	memoryKiB   uint32
	iterations  uint32
	parallelism uint8
}

// argon2Ceiling runs argon2id with the service's parameters on GOMAXPROCS
// goroutines for d.
func argon2Ceiling(ctx context.Context, p argon2Params, d time.Duration) hashRun {
	workers := runtime.GOMAXPROCS(0)
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	pw, salt := []byte("Quartz-lantern-benchmark"), []byte("0123456789abcdef")
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				argon2.IDKey(pw, salt, p.iterations, p.memoryKiB, p.parallelism, 32)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return hashRun{hashes: int(done.Load()), rate: float64(done.Load()) / time.Since(start).Seconds()}
}
