package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	echoSwagger "github.com/swaggo/echo-swagger"

	"github.com/authsvc/authsvc/docs"
)

// openAPIDocument serves the OpenAPI 3 document (docs/openapi.json, made by
// go generate from the same annotations as the 2.0 one). It is served as
// generated: unlike the 2.0 document it needs no change at run time (its
// server URL is relative).
func openAPIDocument(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, []byte(docs.OpenAPI3()))
}

// swaggerUIDocuments makes Swagger UI (/apidocs/index.html) read the OpenAPI 3
// document; the Swagger 2.0 one stays in its "Select a definition" list.
// (echoSwagger.URL would add a third entry after doc.json and doc.yaml, and
// the page opens the first.)
func swaggerUIDocuments(c *echoSwagger.Config) {
	c.URLs = []string{"openapi.json", "doc.json"}
}
