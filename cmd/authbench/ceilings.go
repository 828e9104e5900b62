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

// bareEchoCeiling starts this program again as the bare Echo server (a
// separate process, like the service) and loads it as the scenarios load the
// service, with conns connections.
func bareEchoCeiling(ctx context.Context, dir string, conns int, d time.Duration) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return loadResult{}, err
	}
	p, err := startProcess(ctx, "bare-echo", dir, addr, "/", nil, self, "-bare-echo", addr)
	if err != nil {
		return loadResult{}, err
	}
	defer p.stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: p.base + "/"})
	return attack(ctx, "bare Echo", tr, conns, d, http.StatusOK), nil
}

// argon2Params are the service's hashing cost, read from its configuration.
type argon2Params struct {
	memoryKiB   uint32
	iterations  uint32
	parallelism uint8
}

// argon2Ceiling runs argon2id with the service's parameters on GOMAXPROCS
// goroutines for d and returns the number of hashes and hashes per second.
func argon2Ceiling(ctx context.Context, p argon2Params, d time.Duration) (int, float64) {
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
	return int(done.Load()), float64(done.Load()) / time.Since(start).Seconds()
}
