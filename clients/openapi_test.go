package clients

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestOpenAPIDocumentLints: both documents the service serves, Swagger 2.0
// at /apidocs/doc.json and OpenAPI 3 at /apidocs/openapi.json, pass Redocly's
// recommended rules, with no exemptions (public operations say so with
// `security: []`), and Spectral's oas ruleset, with no error. The linters
// come from clients/openapi/package-lock.json (npm ci --prefix
// clients/openapi); without them the test is skipped, except in CI.
func TestOpenAPIDocumentLints(t *testing.T) {
	needTools(t, lintersMissing())
	e := apitest.New(t, "sqlite", nil)
	srv := httptest.NewServer(e.App.Server)
	defer srv.Close()
	for _, served := range []string{"doc.json", "openapi.json"} {
		doc := e.Request("GET", "/apidocs/"+served, nil).Expect(200).Body
		path := filepath.Join(t.TempDir(), served)
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, lint := range [][]string{
			{"redocly", "lint", path, "--config", "redocly.yaml"},
			{"spectral", "lint", path, "--ruleset", ".spectral.yaml", "--fail-severity", "error"},
		} {
			if out, err := npmTool("openapi", lint[0], lint[1:]...); err != nil {
				t.Errorf("%s found errors in /apidocs/%s: %v\n%s", lint[0], served, err, out)
			}
		}
	}
}

// npmTool runs a tool installed in dir/node_modules/.bin, from dir, and
// returns its combined output.
func npmTool(dir, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("node_modules", ".bin", tool), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	return cmd.CombinedOutput()
}
