// Package bintest builds the authsvc binary for tests that run it as a real
// process: once per test binary, into a temporary directory that Main removes
// when the tests are done.
package bintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Version is the version stamped into the binary, as the Dockerfile stamps
// the release's: `authsvc version` prints "authsvc " + Version.
const Version = "v0.0.0-test"

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Main runs the tests and removes the directory Build built into. A test
// package that calls Build has TestMain call it.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// Build builds authsvc (the module's main package) once per test binary,
// static and with Version stamped in, and returns the binary's path. A failed
// build fails every test that asks for it.
func Build(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "authsvc-bin-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "authsvc")
		cmd := exec.Command("go", "build", "-o", build.bin,
			"-ldflags", "-X github.com/authsvc/authsvc/cli.version="+Version,
			"github.com/authsvc/authsvc")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}
