// Package cli is authsvc's command line: serve (the default), migrate, admin,
// users, keys, backup, restore and version. Run takes its environment as
// arguments so tests run the real program in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/app"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/logging"
	"github.com/authsvc/authsvc/store"
)

// version is set at build time: -ldflags "-X github.com/authsvc/authsvc/cli.version=v1.2.3".
var version = "dev"

// Env is what the program gets from its process.
type Env struct {
	Getenv config.Getenv
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Listen opens the HTTP listener; nil means net.Listen("tcp", HTTP_ADDR).
	Listen func(addr string) (net.Listener, error)
	// DotEnv is the .env file to read; "" means ".env" in the working directory.
	DotEnv string
}

const usage = `authsvc: JWT authentication and user management.

Usage:
  authsvc [serve]                          run the HTTP service (the default)
  authsvc migrate up|down|status           apply, roll back one, or list migrations
  authsvc admin create --email E --username U
                                           create an admin; password from stdin or ADMIN_PASSWORD
  authsvc users list [--q TEXT] [--limit N] [--status S] [--role R]
                                           list users
  authsvc users set-role --user ID|EMAIL|USERNAME --role NAME [--remove]
                                           grant or remove a role (revokes the user's sessions)
  authsvc users set-password --user ID|EMAIL|USERNAME
                                           set a new password from stdin (revokes the user's sessions)
  authsvc users import FILE|-              import users with their password hashes (JSON Lines)
  authsvc users export                     write every user as JSON Lines (hashes included)
  authsvc keys rotate|list                 rotate the signing key, or list keys
  authsvc backup [-force] PATH             write a consistent copy of the SQLite database (service may run)
  authsvc restore PATH                     replace the SQLite database with a backup (service stopped)
  authsvc healthcheck                      exit 0 when the local service answers /healthz
  authsvc version                          print the version

Configuration comes from the environment and an optional .env file; see README.md.
Each command takes --help.
`

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

// Run executes the command in args and returns the process exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = func() time.Time { return time.Now().UTC() }
	}
	err := run(ctx, args, env)
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(env.Stderr, err)
		return 2
	}
	var exit *exitError
	if errors.As(err, &exit) {
		fmt.Fprintln(env.Stderr, "authsvc:", exit.msg)
		return exit.code
	}
	fmt.Fprintln(env.Stderr, "authsvc:", err)
	return 1
}

func run(ctx context.Context, args []string, env Env) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, env)
	case "migrate":
		return migrate(ctx, args, env)
	case "admin":
		return admin(ctx, args, env)
	case "users":
		return users(ctx, args, env)
	case "keys":
		return keysCmd(ctx, args, env)
	case "healthcheck":
		return healthcheck(ctx, args, env)
	case "backup":
		return backup(ctx, args, env)
	case "restore":
		return restore(ctx, args, env)
	case "version", "--version":
		fmt.Fprintln(env.Stdout, "authsvc", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q\n\n%s", errUsage, cmd, usage)
}

// flags builds a command's flag set. Parse errors are reported once, by Run;
// --help prints the usage to stdout.
func flags(name, synopsis string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(env.Stdout)
		fmt.Fprintf(env.Stdout, "Usage: authsvc %s\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v (see authsvc %s --help)", errUsage, err, fs.Name())
	}
	return nil
}

// loadConfig reads the environment and .env, and builds the logger of the
// commands other than serve: they print their results on stdout, and log only
// warnings and errors, whatever LOG_LEVEL (the service's setting) says.
func loadConfig(env Env) (config.Config, *slog.Logger, error) {
	path := env.DotEnv
	if path == "" {
		path = ".env"
	}
	getenv, err := config.WithDotEnv(env.Getenv, path)
	if err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, logging.New(env.Stderr, max(cfg.LogLevel, slog.LevelWarn), cfg.LogFormat), nil
}

// openStore loads the configuration and opens the migrated database, holding
// its lock (holdStore).
func openStore(ctx context.Context, env Env) (config.Config, *slog.Logger, *heldStore, error) {
	cfg, log, err := loadConfig(env)
	if err != nil {
		return cfg, nil, nil, err
	}
	st, err := holdStore(cfg.DatabaseURL, func() (*store.Store, error) { return app.OpenStore(ctx, cfg) })
	return cfg, log, st, err
}

// heldStore is a store a command opened with the lock of its SQLite database
// held shared (lockDatabase): restore refuses to replace the database under
// it, and it refuses to open one that a restore is replacing. Close lets go
// of both.
type heldStore struct {
	*store.Store
	release func()
}

func (h *heldStore) Close() error {
	err := h.Store.Close()
	h.release()
	return err
}

// holdStore takes the database's lock (SQLite only) and then opens it.
func holdStore(databaseURL string, open func() (*store.Store, error)) (*heldStore, error) {
	release := func() {}
	if path := store.SQLitePath(databaseURL); path != "" {
		var err error
		if release, err = lockDatabase(path, false); err != nil {
			return nil, err
		}
	}
	st, err := open()
	if err != nil {
		release()
		return nil, err
	}
	return &heldStore{Store: st, release: release}, nil
}

// openAccounts opens the database and the account service the commands that
// change accounts go through, as the API does.
func openAccounts(ctx context.Context, env Env) (config.Config, *accounts.Service, *heldStore, error) {
	cfg, log, st, err := openStore(ctx, env)
	if err != nil {
		return cfg, nil, nil, err
	}
	accts, err := func() (*accounts.Service, error) {
		if err := st.EnsureBuiltinRoles(ctx, env.Now()); err != nil {
			return nil, err
		}
		key, err := app.SecretKey(cfg)
		if err != nil {
			return nil, err
		}
		pw, err := app.NewPasswords(cfg)
		if err != nil {
			return nil, err
		}
		// No mail to wake, no rate limits and no cache at the console.
		return app.NewAccounts(cfg, st.Store, key, pw, env.Now, accounts.WithLogger(log))
	}()
	if err != nil {
		st.Close()
		return cfg, nil, nil, err
	}
	return cfg, accts, st, nil
}

func serve(ctx context.Context, args []string, env Env) error {
	fs := flags("serve", "serve", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := logging.New(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	// Listen before anything is created: a busy or bad HTTP_ADDR must stop the
	// start before the bootstrap admin's one-time password is logged and lost.
	listen := env.Listen
	if listen == nil {
		listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w (nothing was created; free the address or set HTTP_ADDR to another)", err)
	}
	defer ln.Close() // Serve closes it too; this is for the failures before
	// The lock is held for the service's life: restore refuses while it is.
	st, err := holdStore(cfg.DatabaseURL, func() (*store.Store, error) { return app.OpenStore(ctx, cfg) })
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := app.New(ctx, cfg, log, st.Store, env.Now)
	if err != nil {
		return err
	}
	if err := a.Bootstrap(ctx); err != nil {
		return err
	}
	log.Info("authsvc starting", "version", version, "database", st.Dialect(), "public_url", cfg.PublicURL)
	return a.Serve(ctx, ln)
}

func migrate(ctx context.Context, args []string, env Env) error {
	fs := flags("migrate", "migrate up|down|status", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: authsvc migrate up|down|status", errUsage)
	}
	cfg, _, err := loadConfig(env)
	if err != nil {
		return err
	}
	st, err := holdStore(cfg.DatabaseURL, func() (*store.Store, error) { return store.Open(ctx, cfg.DatabaseURL, store.Options{}) })
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "up":
		return m.Up(ctx)
	case "down":
		return m.Down(ctx)
	case "status":
		list, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range list {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Fprintf(env.Stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
		return nil
	}
	return fmt.Errorf("%w: authsvc migrate up|down|status", errUsage)
}
