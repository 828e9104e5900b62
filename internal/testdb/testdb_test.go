package testdb_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/testdb"
)

// TestEachDialectWithoutPostgres runs itself in a child process against a
// PostgreSQL that cannot be reached: locally the PostgreSQL subtest is skipped
// and SQLite still runs; under CI=true the PostgreSQL subtest fails.
func TestEachDialectWithoutPostgres(t *testing.T) {
	if os.Getenv("TESTDB_CHILD") == "1" {
		testdb.EachDialect(t, func(t *testing.T, dialect string) {
			t.Log("opened", testdb.Open(t, dialect).Dialect())
		})
		return
	}
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEachDialectWithoutPostgres$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "TESTDB_CHILD=1", "CI="+ci,
				"TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
			out, err := cmd.CombinedOutput()
			has := func(s string) bool { return strings.Contains(string(out), s) }
			if !has("--- PASS: TestEachDialectWithoutPostgres/db=sqlite") {
				t.Errorf("SQLite did not run and pass:\n%s", out)
			}
			if ci == "true" {
				if err == nil || !has("--- FAIL: TestEachDialectWithoutPostgres/db=postgres") || !has("PostgreSQL is required under CI") {
					t.Errorf("under CI=true an unreachable PostgreSQL must fail the test (err %v):\n%s", err, out)
				}
				return
			}
			if err != nil || !has("--- SKIP: TestEachDialectWithoutPostgres/db=postgres") {
				t.Errorf("locally an unreachable PostgreSQL must skip (err %v):\n%s", err, out)
			}
		})
	}
}
