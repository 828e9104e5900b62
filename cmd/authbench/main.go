// Command authbench measures authsvc under HTTP load and compares it with two
// ceilings measured in the same run: a bare Echo handler loaded the same way,
// and raw argon2id on every core. It builds the service, starts it on a fresh
// database (PostgreSQL by default), seeds users, runs each scenario for a fixed
// time with vegeta on loopback, and prints one table (and JSON with -json).
//
//	go run ./cmd/authbench            # the full run, about 4 minutes
//	go run ./cmd/authbench -short     # a few seconds per scenario, for CI
//	go run ./cmd/authbench -import 100000   # only the import, into SQLite and PostgreSQL
//
// Unmet targets are reported, not failed: the exit status is 1 only when the
// benchmark itself could not run, or a scenario got no answer it expected.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"syscall"
	"time"

	"github.com/authsvc/authsvc/config"
)

type options struct {
	short         bool
	db            string // "postgres" or "sqlite"
	pgURL         string
	redisURL      string
	users         int
	tokenUsers    int
	scaleUsers    int
	refreshTokens int
	duration      time.Duration
	conns         int
	hashConns     int
	burst         int
	flood         int
	jsonPath      string
	only          *regexp.Regexp
}

func main() {
	var o options
	var scale bool
	var only string
	flag.BoolVar(&o.short, "short", false, "a few seconds per scenario and fewer users (what CI runs)")
	flag.StringVar(&o.db, "db", "postgres", "database for the service: postgres or sqlite")
	flag.StringVar(&o.pgURL, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server; the run creates its own database there and drops it")
	flag.StringVar(&o.redisURL, "redis", "", "REDIS_URL for the service (default: none, limits in memory)")
	flag.IntVar(&o.users, "users", 0, "users to sign up through the API (default 2000, 64 with -short)")
	flag.IntVar(&o.tokenUsers, "token-users", 0, "users that log in and whose access tokens the read scenarios reuse (default 256, 16 with -short)")
	flag.BoolVar(&scale, "scale", false, "first COPY 1,000,000 users into PostgreSQL (see -scale-users)")
	flag.IntVar(&o.scaleUsers, "scale-users", 1_000_000, "users that -scale copies")
	flag.IntVar(&o.refreshTokens, "refresh-tokens", 0, "sessions started for the refresh scenario, each token presented once (default 8 % of the bare Echo rate per second of load)")
	flag.DurationVar(&o.duration, "d", 0, "load time per scenario (default 10s, 1.5s with -short)")
	flag.IntVar(&o.conns, "conns", 64, "connections for every scenario but login, signup and the flood")
	flag.IntVar(&o.hashConns, "hash-conns", 3*runtime.GOMAXPROCS(0), "connections for login and signup (keep within the service's hashing queue)")
	flag.IntVar(&o.burst, "burst", 50, "requests sent at once in each burst")
	flag.IntVar(&o.flood, "flood", 500, "concurrent logins in the flood")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&only, "run", "", "only the scenarios whose name matches this regexp (the ceilings always run)")
	importUsers := flag.Int("import", 0, "only time `authsvc users import` of this many users into SQLite and PostgreSQL, against each database's floor")
	bareEcho := flag.String("bare-echo", "", "internal: serve the bare Echo ceiling on this address and nothing else")
	flag.Parse()

	log.SetFlags(log.Ltime)
	log.SetPrefix("authbench: ")
	if *bareEcho != "" {
		log.Fatal(serveBareEcho(*bareEcho))
	}
	if !scale {
		o.scaleUsers = 0
	}
	if *importUsers > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		rs, err := runImportBench(ctx, o, *importUsers)
		printImport(os.Stdout, rs)
		if err != nil {
			log.Printf("%v", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.only, err = regexp.Compile(only); err != nil {
		log.Fatalf("-run: %v", err)
	}
	o.setDefaults()
	if o.scaleUsers > 0 && o.db != "postgres" {
		log.Fatal("-scale needs PostgreSQL")
	}
	if o.db != "postgres" && o.db != "sqlite" {
		log.Fatal("-db must be postgres or sqlite")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		rep.Machine.Load1End = loadAverage()
		rep.print(os.Stdout)
		if o.jsonPath != "" {
			if werr := rep.writeJSON(o.jsonPath); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

func (o *options) setDefaults() {
	pick := func(v *int, full, short int) {
		if *v == 0 {
			*v = map[bool]int{false: full, true: short}[o.short]
		}
	}
	pick(&o.users, 2000, 64)
	pick(&o.tokenUsers, 256, 16)
	if o.duration == 0 {
		o.duration = map[bool]time.Duration{false: 10 * time.Second, true: 1500 * time.Millisecond}[o.short]
	}
}

func logf(format string, args ...any) { log.Printf(format, args...) }

// run does the whole benchmark. The report holds whatever was measured, also
// when an error stopped the run part way.
func run(ctx context.Context, o options) (*report, error) {
	tmp, bin, err := workspace(ctx, "authbench-")
	defer os.RemoveAll(tmp)
	if err != nil {
		return nil, err
	}
	db, err := newDatabase(ctx, o, tmp)
	if err != nil {
		return nil, err
	}
	defer db.drop()
	rep := newReport(o, db)

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	creds := newCredentials()
	env := serviceEnv(o, db, addr, creds)
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("the service's configuration: %w", err)
	}

	hashing := argon2Params{cfg.PasswordHashMemoryKiB, cfg.PasswordHashIterations, cfg.PasswordHashParallelism}
	bare, err := startBareEcho(ctx, tmp)
	if err != nil {
		return rep, fmt.Errorf("bare Echo: %w", err)
	}
	defer bare.stop()
	var ceil ceilingRuns
	measureEcho := func() {
		logf("ceiling: bare Echo, %d connections, %s", o.conns, o.duration)
		ceil.echo = append(ceil.echo, loadBareEcho(ctx, bare, o.conns, o.duration))
	}
	measureArgon2 := func() {
		logf("ceiling: argon2id m=%d KiB t=%d p=%d on %d cores, %s", hashing.memoryKiB, hashing.iterations, hashing.parallelism, runtime.GOMAXPROCS(0), o.duration)
		ceil.argon2 = append(ceil.argon2, argon2Ceiling(ctx, hashing, o.duration))
	}

	measureEcho() // before the service even runs
	if o.refreshTokens == 0 {
		// Twice what the refresh target (4 % of bare Echo) needs; a faster
		// service runs out early, and its rate is then over the time it ran.
		o.refreshTokens = int(o.duration.Seconds() * max(100, 0.08*ceil.echo[0].rate))
	}
	logf("starting the service on %s (%s)", addr, db.version)
	svc, err := startProcess(ctx, "authsvc", tmp, addr, "/readyz", env, bin, "serve")
	if err != nil {
		return rep, err
	}
	defer svc.stop()
	fx, err := seed(ctx, o, newAPI(svc.base), cfg, db, creds)
	if err != nil {
		return rep, fmt.Errorf("%w\n%s", err, svc.logTail(20))
	}

	// Each ceiling brackets the scenarios compared with it.
	var runs []scenarioRun
	all := scenarios(o, svc.base, fx, creds)
	runs = append(runs, runScenarios(ctx, o, all, ceilEcho)...)
	measureEcho()
	measureArgon2()
	runs = append(runs, runScenarios(ctx, o, all, ceilArgon2)...)
	measureArgon2()
	svc.stop()
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	rep.Rows = append(rep.Rows, ceilingRows(ceil)...)
	var broken []string
	for _, r := range runs {
		rep.Rows = append(rep.Rows, scenarioRow(r.scenario, r.result, ceil.rates()))
		if r.result.served == 0 {
			broken = append(broken, r.scenario.name)
		}
	}

	hookRows, hookBroken, err := runTokenHookLogin(ctx, o, tmp, addr, bin, env, fx, creds, ceil.rates())
	if err != nil {
		return rep, fmt.Errorf("token hook: %w", err)
	}
	rep.Rows = insertAfter(rep.Rows, "POST /v1/auth/login", hookRows...)
	broken = append(broken, hookBroken...)

	webhookRows, webhookBroken, err := runWebhookLogin(ctx, o, tmp, addr, bin, env, fx, creds, ceil.rates())
	if err != nil {
		return rep, fmt.Errorf("webhook: %w", err)
	}
	rep.Rows = insertAfter(rep.Rows, "POST /v1/auth/login", webhookRows...)
	broken = append(broken, webhookBroken...)

	burstRows, burstBroken, err := runBursts(ctx, o, tmp, addr, bin, env, fx, creds)
	if err != nil {
		return rep, fmt.Errorf("bursts: %w", err)
	}
	rep.Rows = append(rep.Rows, burstRows...)
	broken = append(broken, burstBroken...)

	if o.only.MatchString("login flood") {
		// A fresh process, so that its peak RSS is the flood's.
		logf("login flood: %d clients, default rate limits, %s", o.flood, o.duration)
		flood, err := startProcess(ctx, "authsvc-flood", tmp, addr, "/readyz", floodEnv(env), bin, "serve")
		if err != nil {
			return rep, err
		}
		defer flood.stop()
		allowed := []int{200, 401, 429, 503}
		res := attack(ctx, "login flood", floodTargeter(flood.base, fx.users, creds.userPassword), o.flood, o.duration, allowed...)
		rss, err := flood.peakRSS()
		if err != nil {
			return rep, fmt.Errorf("peak RSS: %w", err)
		}
		rep.Rows = append(rep.Rows, floodRow(res, rss, allowed))
		flood.stop()
	}
	if len(broken) > 0 {
		return rep, fmt.Errorf("no expected answer at all from: %v; the service's log ends:\n%s", broken, svc.logTail(20))
	}
	return rep, nil
}

type scenarioRun struct {
	scenario scenario
	result   loadResult
}

// runScenarios loads, one after the other, the scenarios compared with the
// ceiling that -run selects.
func runScenarios(ctx context.Context, o options, all []scenario, ceiling string) []scenarioRun {
	var out []scenarioRun
	for _, sc := range all {
		if sc.ceiling != ceiling || !o.only.MatchString(sc.name) || ctx.Err() != nil {
			continue
		}
		logf("%s, %d connections, %s", sc.name, sc.conns, o.duration)
		out = append(out, scenarioRun{sc, attack(ctx, sc.name, sc.targeter, sc.conns, o.duration, sc.ok...)})
	}
	return out
}
