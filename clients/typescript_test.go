package clients

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestTypeScriptClient generates TypeScript types from the served OpenAPI 3
// document with openapi-typescript, type-checks clients/ts/walkthrough.ts
// (the README's walk-through) against them with tsc, then runs it with node
// against a live service. A deliberately wrong use of the types must fail
// tsc, so the types are real ones, not any. The tools come from
// clients/ts/package-lock.json (npm ci --prefix clients/ts); without them the
// test is skipped, except in CI.
func TestTypeScriptClient(t *testing.T) {
	needTools(t, typescriptMissing())
	e := apitest.New(t, "sqlite", nil)
	srv := httptest.NewServer(e.App.Server)
	defer srv.Close()
	tmp := t.TempDir()
	doc := filepath.Join(tmp, "openapi.json")
	if err := os.WriteFile(doc, e.Request("GET", "/apidocs/openapi.json", nil).Expect(200).Body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := npmTool("ts", "openapi-typescript", doc, "-o", filepath.Join("generated", "api.d.ts")); err != nil {
		t.Fatalf("openapi-typescript: %v\n%s", err, out)
	}
	if out, err := npmTool("ts", "tsc", "-p", "."); err != nil {
		t.Fatalf("walkthrough.ts does not type-check against the generated types: %v\n%s", err, out)
	}

	wrong := filepath.Join("ts", "generated", "wrong.ts")
	defer os.Remove(wrong)
	err := os.WriteFile(wrong, []byte(`import type { paths } from "./api";
declare const me: paths["/v1/me"]["get"]["responses"][200]["content"]["application/json"];
export const n: number | undefined = me.user?.username;
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := npmTool("ts", "tsc", "--noEmit", "--strict", filepath.Join("generated", "wrong.ts")); err == nil || !bytes.Contains(out, []byte("TS2322")) {
		t.Fatalf("tsc accepted a string as a number from the generated types (%v):\n%s", err, out)
	}

	if out, err := npmTool("ts", "tsc", "-p", ".", "--noEmit", "false", "--outDir", tmp); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(tmp, "walkthrough.js"), srv.URL).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("walk-through ok")) {
		t.Fatalf("walkthrough.js against the live service: %v\n%s", err, out)
	}
}
