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

// TestOpenAPIDocumentLints: the OpenAPI document the service serves at
// /apidocs/doc.json passes Redocly's recommended rules, with no exemptions
// (public operations say so with `security: []`), and Spectral's oas ruleset,
// with no error. The linters come from clients/openapi/package-lock.json
// (npm ci --prefix clients/openapi); without them the test is skipped, except in CI.
func TestOpenAPIDocumentLints(t *testing.T) {
	if why := lintersMissing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	e := apitest.New(t, "sqlite", nil)
	srv := httptest.NewServer(e.App.Server)
	defer srv.Close()
	doc := e.Request("GET", "/apidocs/doc.json", nil).Expect(200).Body
	path := filepath.Join(t.TempDir(), "doc.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, lint := range [][]string{
		{"redocly", "lint", path, "--config", "redocly.yaml"},
		{"spectral", "lint", path, "--ruleset", ".spectral.yaml", "--fail-severity", "error"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join("node_modules", ".bin", lint[0]), lint[1:]...)
		cmd.Dir = "openapi"
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s found errors in the served document: %v\n%s", lint[0], err, out)
		}
	}
}
