// Command openapi3gen writes the OpenAPI 3 document (docs/openapi.json) from
// the Swagger 2.0 one that swag generates (docs/swagger.json): main.go runs it
// through go generate, right after swag. The conversion is kin-openapi's
// openapi2conv; this program then corrects what Swagger 2.0 could not say, and
// fails unless kin-openapi's validator accepts the result. The output is
// indented JSON with sorted keys, so the same input always gives the same
// bytes (CI checks that docs/ is what go generate makes).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/authsvc/authsvc/problem"
)

func main() {
	in := flag.String("in", "docs/swagger.json", "the Swagger 2.0 document swag wrote")
	out := flag.String("out", "docs/openapi.json", "where to write the OpenAPI 3 document")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi3gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(data, &doc2); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return err
	}
	fix(doc3)
	body, err := json.MarshalIndent(doc3, "", "    ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	// Validate what is written, read back as any consumer reads it.
	loader := openapi3.NewLoader()
	check, err := loader.LoadFromData(body)
	if err != nil {
		return err
	}
	if err := check.Validate(context.Background()); err != nil {
		return fmt.Errorf("the converted document is not valid OpenAPI 3: %w", err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, body) {
		return nil // unchanged: leave the file (and its mtime) alone
	}
	return os.WriteFile(out, body, 0o644)
}

// problemSchema is the Problem definition's reference after conversion.
const problemSchema = "#/components/schemas/Problem"

// fix corrects what the conversion cannot know from a Swagger 2.0 document.
func fix(doc *openapi3.T) {
	// Relative: clients use the host they loaded the document from, as
	// Swagger 2.0's absent host meant.
	doc.Servers = openapi3.Servers{{URL: "/", Description: "the service that serves this document"}}

	// Swagger 2.0 has no bearer scheme, so the 2.0 document describes the
	// access token as an API key holding "Bearer <token>". OpenAPI 3 says what
	// it is, and Swagger UI's Authorize then takes the bare token.
	if ref := doc.Components.SecuritySchemes["BearerAuth"]; ref != nil {
		ref.Value = &openapi3.SecurityScheme{
			Type: "http", Scheme: "bearer",
			Description: `An access token (access_token from login, refresh or the second login step, or a service client's from POST /v1/oauth/token), or a personal access token (authsvc_pat_…), sent as "Authorization: Bearer <token>".`,
		}
	}
	if ref := doc.Components.SecuritySchemes["IntrospectionClient"]; ref != nil && ref.Value.Description == "" {
		ref.Value.Description = "A gateway's client id and secret (INTROSPECTION_CLIENTS) with HTTP Basic."
	}
	if ref := doc.Components.SecuritySchemes["ClientSecretBasic"]; ref != nil && ref.Value.Description == "" {
		ref.Value.Description = "A service client's id and secret (POST /v1/clients) with HTTP Basic, each form-encoded first (RFC 6749 §2.3.1)."
	}
	// The token endpoint also takes the client's credentials in the form
	// (client_secret_post): HTTP Basic, or no header at all.
	if item := doc.Paths.Find("/v1/oauth/token"); item != nil && item.Post != nil && item.Post.Security != nil {
		*item.Post.Security = append(*item.Post.Security, openapi3.SecurityRequirement{})
	}

	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil {
				// The conversion's note of the 2.0 body parameter's name: noise.
				delete(op.RequestBody.Value.Extensions, "x-originalParamName")
			}
			for code, resp := range op.Responses.Map() {
				fixResponse(resp.Value)
				// A redirect always names where to (swag cannot mark a header required).
				if loc := resp.Value.Headers["Location"]; loc != nil && strings.HasPrefix(code, "3") {
					loc.Value.Required = true
				}
			}
		}
	}
}

// fixResponse gives an error response the media type the service really
// sends. In Swagger 2.0 an operation's "produces" covers all its responses,
// so the conversion gives each one, with the same schema, every media type
// of the success; but errors are RFC 9457 problem JSON (the Problem schema)
// whatever the success is. (A response without a schema has no body, and the
// conversion gives it no content, as it should.)
func fixResponse(resp *openapi3.Response) {
	for _, mt := range resp.Content {
		if mt.Schema != nil && mt.Schema.Ref == problemSchema {
			resp.Content = openapi3.NewContentWithSchemaRef(mt.Schema, []string{problem.ContentType})
			return
		}
	}
}
