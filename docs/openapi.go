package docs

import _ "embed" // for go:embed

// The OpenAPI 3 document, converted from swag's Swagger 2.0 output by
// internal/openapi3gen (go generate). Kept as a string, so no caller can
// change what the service serves.
//
//go:embed openapi.json
var openAPI3 string

// OpenAPI3 returns the OpenAPI 3 document (JSON) served at /apidocs/openapi.json.
func OpenAPI3() string { return openAPI3 }
