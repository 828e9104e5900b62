// Package testdb gives tests fresh, migrated databases of every supported dialect:
// a SQLite file in t.TempDir() and a PostgreSQL database created for the test and
// dropped after it. Under CI=true an unreachable PostgreSQL fails the test.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver for the admin connection

	"github.com/authsvc/authsvc/store"
)

// AdminURL is the PostgreSQL server tests create databases on; TEST_POSTGRES_URL overrides it.
func AdminURL() string {
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Dialects lists the dialects every storage test runs on.
var Dialects = []string{store.SQLite, store.Postgres}

// EachDialect runs fn once per dialect in Dialects, as a parallel subtest named
// "db=<dialect>". It is the one loop over the databases: tests that need a
// database per dialect call it (or Each, or apitest.Each), never range over
// Dialects themselves, so every storage test covers both.
//
// The subtests run in parallel with each other, so fn must not use t.Setenv or
// t.Chdir and must not share mutable state between dialects. Where PostgreSQL
// is unreachable its subtest is skipped, or fails under CI=true (see URL).
func EachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run("db="+d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// Each is EachDialect with a fresh, empty database URL of the dialect.
func Each(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Helper()
	EachDialect(t, func(t *testing.T, dialect string) {
		fn(t, URL(t, dialect))
	})
}

// URL returns the URL of a fresh, empty database of the dialect, removed when t ends.
// An unreachable PostgreSQL skips the test, or fails it when CI=true.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "authsvc.db")
	case store.Postgres:
		return postgresURL(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// Open returns a migrated store on a fresh database of the dialect.
func Open(t testing.TB, dialect string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, URL(t, dialect), store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return st
}

func postgresURL(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", AdminURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI but unreachable at %s: %v", AdminURL(), err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set CI=true to make this a failure): %v", AdminURL(), err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "authsvc_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Must fails the test on err: for setup steps in tests.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Clock is a settable clock for tests; Now is safe for concurrent use.
type Clock struct{ ch chan time.Time }

// NewClock starts at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{ch: make(chan time.Time, 1)}
	c.ch <- t.UTC()
	return c
}

func (c *Clock) Now() time.Time { t := <-c.ch; c.ch <- t; return t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { t := <-c.ch; c.ch <- t.Add(d) }

// String makes failures readable.
func (c *Clock) String() string { return fmt.Sprint(c.Now()) }
