package handlers_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

// swaggerDoc is the part of docs/swagger.json these tests read.
type swaggerDoc struct {
	Paths               map[string]map[string]swaggerOperation `json:"paths"`
	Definitions         map[string]json.RawMessage             `json:"definitions"`
	SecurityDefinitions map[string]struct {
		Type string `json:"type"`
		In   string `json:"in"`
		Name string `json:"name"`
	} `json:"securityDefinitions"`
}

type swaggerOperation struct {
	OperationID string   `json:"operationId"`
	Summary     string   `json:"summary"`
	Tags        []string `json:"tags"`
	Security    []map[string][]string
	Responses   map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"responses"`
}

func readSwagger(t *testing.T, data []byte) swaggerDoc {
	t.Helper()
	var doc swaggerDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("swagger document: %v", err)
	}
	return doc
}

const regenerateDocs = "run `go generate ./...` and commit docs/"

// echoPathParam is an Echo path parameter, written {name} in OpenAPI.
var echoPathParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestRoutesMatchSwagger keeps the router and the generated document in step:
// a route without annotations, or an annotation without a route, fails by name.
func TestRoutesMatchSwagger(t *testing.T) {
	e := apitest.New(t, store.SQLite, nil)
	routed := map[string]bool{}
	for _, r := range e.App.Server.Routes() {
		if r.Path == "/apidocs" || strings.HasPrefix(r.Path, "/apidocs/") {
			continue
		}
		// Forward auth answers every method, also below its path (Envoy's
		// prefix); the document's GET /v1/auth/forward stands for them all.
		if strings.HasPrefix(r.Path, "/v1/auth/forward") && (r.Method != http.MethodGet || r.Path != "/v1/auth/forward") {
			continue
		}
		// The token endpoint's other methods only say 405 in its own error form.
		if r.Path == "/v1/oauth/token" && r.Method != http.MethodPost {
			continue
		}
		routed[r.Method+" "+echoPathParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	data, err := os.ReadFile(filepath.Join("..", "docs", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := readSwagger(t, data)
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, r := range swaggerKeys(routed) {
		if !documented[r] {
			t.Errorf("route %s is not in docs/swagger.json: annotate its handler, then %s", r, regenerateDocs)
		}
	}
	for _, r := range swaggerKeys(documented) {
		if !routed[r] {
			t.Errorf("docs/swagger.json documents %s, which the router does not serve (%s)", r, regenerateDocs)
		}
	}
	if len(routed) < 10 {
		t.Fatalf("only %d routes found; is the router built?", len(routed))
	}
}

// opsWithoutFailure lists operations that document no 4xx/5xx answer, and why none exists.
var opsWithoutFailure = map[string]string{
	"healthz":                  "liveness touches nothing and always answers 200",
	"jwks":                     "served from memory, takes no input",
	"openIDConfiguration":      "a constant document, takes no input",
	"oauthAuthorizationServer": "a constant document, takes no input",
	"listProviders":            "the configured providers, from memory; takes no input",
	"getMetrics":               "a failing collector is left out of the scrape, not an error (promhttp.ContinueOnError)",
}

// opsWithOAuthErrors lists operations whose failures are RFC 6749 §5.2
// error objects (OAuthError), not problem JSON, and why.
var opsWithOAuthErrors = map[string]string{
	"issueToken": "the OAuth 2.0 token endpoint: OAuth client libraries read {error, error_description}",
}

// securedOpsWithout401 lists operations with a @Security requirement that never answer 401.
var securedOpsWithout401 = map[string]string{
	"logout": "the contract: always 200, even with no or a dead token",
}

// TestSwaggerOperations checks what every annotation must carry.
func TestSwaggerOperations(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := readSwagger(t, data)
	seen := map[string]string{}
	for _, path := range swaggerKeys(doc.Paths) {
		for _, method := range swaggerKeys(doc.Paths[path]) {
			op, where := doc.Paths[path][method], strings.ToUpper(method)+" "+path
			if op.OperationID == "" {
				t.Errorf("%s has no @ID", where)
				continue
			}
			if other, dup := seen[op.OperationID]; dup {
				t.Errorf("%s and %s share @ID %s", where, other, op.OperationID)
			}
			seen[op.OperationID] = where
			if op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s (%s) lacks @Summary or @Tags", where, op.OperationID)
			}
			failures, has401 := 0, false
			for code, resp := range op.Responses {
				status, err := strconv.Atoi(code)
				if err != nil || status < 400 {
					continue
				}
				failures++
				has401 = has401 || status == http.StatusUnauthorized
				want, wantAnnotation := "#/definitions/Problem", "problem.Error"
				if _, oauth := opsWithOAuthErrors[op.OperationID]; oauth {
					want, wantAnnotation = "#/definitions/OAuthError", "OAuthError"
				}
				if resp.Schema.Ref != want {
					t.Errorf("%s (%s): @Failure %d is %q, want {object} %s", where, op.OperationID, status, resp.Schema.Ref, wantAnnotation)
				}
			}
			if _, exempt := opsWithoutFailure[op.OperationID]; failures == 0 && !exempt {
				t.Errorf("%s (%s) documents no @Failure", where, op.OperationID)
			}
			if _, exempt := securedOpsWithout401[op.OperationID]; len(op.Security) > 0 && !has401 && !exempt {
				t.Errorf("%s (%s) has @Security but documents no 401", where, op.OperationID)
			}
		}
	}
	for id := range opsWithoutFailure {
		if _, ok := seen[id]; !ok {
			t.Errorf("opsWithoutFailure names %s, which is not an swaggerOperation", id)
		}
	}
	for id := range opsWithOAuthErrors {
		if _, ok := seen[id]; !ok {
			t.Errorf("opsWithOAuthErrors names %s, which is not an swaggerOperation", id)
		}
	}
	// Every request and response type is named with `// @name`, not handlers.X.
	for name := range doc.Definitions {
		if strings.Contains(name, ".") {
			t.Errorf("definition %s has no // @name comment", name)
		}
	}
}

// swagIDLine matches a handler's swag @ID line.
var swagIDLine = regexp.MustCompile(`(?m)^\s*@ID\s+(\S+)`)

// TestOperationIDsNameTheirHandlers: @ID is the maker func's name, so an
// swaggerOperation in the document leads straight to its code.
func TestOperationIDsNameTheirHandlers(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Doc == nil {
				continue
			}
			for _, m := range swagIDLine.FindAllStringSubmatch(fn.Doc.Text(), -1) {
				found++
				if m[1] != fn.Name.Name {
					t.Errorf("%s: func %s is annotated @ID %s", fset.Position(fn.Pos()), fn.Name.Name, m[1])
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no @ID annotations found in handlers/")
	}
}

func TestAPIDocsServed(t *testing.T) {
	e := apitest.New(t, store.SQLite, nil)
	r := e.Request("GET", "/apidocs/index.html", nil).Expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.Body), "swagger-ui") {
		t.Fatalf("Swagger UI: Content-Type %q, body %.200s", ct, r.Body)
	}
	e.Request("GET", "/apidocs", nil).Expect(http.StatusMovedPermanently)

	r = e.Request("GET", "/apidocs/doc.json", nil).Expect(http.StatusOK)
	served := readSwagger(t, r.Body)
	bearerDef, ok := served.SecurityDefinitions["BearerAuth"]
	if !ok || bearerDef.Type != "apiKey" || bearerDef.In != "header" || bearerDef.Name != "Authorization" {
		t.Fatalf("BearerAuth security definition = %+v (present %v)", bearerDef, ok)
	}
	// The served document is the generated one.
	data, err := os.ReadFile(filepath.Join("..", "docs", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := swaggerKeys(served.Paths), swaggerKeys(readSwagger(t, data).Paths); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("/apidocs/doc.json paths %v differ from docs/swagger.json %v (%s)", got, want, regenerateDocs)
	}
}

func swaggerKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
