// Package browsertest starts headless Chromium for tests that drive the
// service's pages with chromedp. Debian's chromium is needed (.ci/run installs
// it); elsewhere a test is skipped when it is absent, and fails under CI=true.
package browsertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// missing is why a browser test skips.
const missing = "chromium is not installed (apt-get install chromium); set CI=true to make this a failure"

// Main runs the tests of a package whose tests all drive Chromium (pkg names
// it, e.g. "clients/swaggerui"). Without Chromium, and unless CI=true, it runs
// none and says so on stderr: go test then reports the package as
// "ok … [no tests to run]", not a plain "ok" over skipped tests (a t.Skip
// message shows only with -v).
func Main(m *testing.M, pkg string) {
	flag.Parse()
	if _, err := exec.LookPath("chromium"); err != nil && os.Getenv("CI") != "true" {
		fmt.Fprintf(os.Stderr, "SKIPPED: %s needs chromium (apt-get install chromium); its tests did not run\n", pkg)
		_ = flag.Set("test.run", "^$")
	}
	os.Exit(m.Run())
}

// Options says what New keeps of the page when the test fails.
type Options struct {
	// Screenshot is the file name, in the test's artifact directory, of the
	// full-page screenshot taken on failure, e.g. "passkeys.png"; "page.png"
	// if empty.
	Screenshot string
	// Shows, if set, is a JavaScript expression evaluating to a string that
	// says what the page shows; on failure it is logged with the page's URL.
	Shows string
}

// New starts headless Chromium for the test and returns a tab's context. The
// browser stops when the test ends. On failure, a full-page screenshot of the
// tab is saved in the test's artifact directory (kept with go test -artifacts)
// and its path logged, with what opts.Shows says the page shows.
func New(t *testing.T, opts Options) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's chromium)")
		}
		t.Skip(missing)
	}
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1024),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	// Start the browser now. No deadline on this first call: it would stop the
	// browser (the allocator bounds the start itself).
	if err := chromedp.Do(tab); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		defer cancelAlloc()
		defer cancelTab()
		if t.Failed() {
			keep(t, tab, opts)
		}
	})
	return tab
}

// keep logs what the page shows and saves its screenshot.
func keep(t *testing.T, tab context.Context, opts Options) {
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	if opts.Shows != "" {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](opts.Shows))
		t.Logf("the page at %s shows\n%s", url, shown)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	name := opts.Screenshot
	if name == "" {
		name = "page.png"
	}
	file := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	t.Logf("screenshot of %s: %s (go test -artifacts keeps it)", url, file)
}
