// Package openapitest checks real HTTP exchanges against the OpenAPI 3
// document the service serves (docs/openapi.json): an http.RoundTripper that
// validates each request and its response with kin-openapi's openapi3filter,
// fails the test on any difference, and counts the operations it saw, so a
// test can prove it exercised every one of them.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/authsvc/authsvc/docs"
)

// Checker validates exchanges against the document. It is safe for
// concurrent use.
type Checker struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	next   http.RoundTripper

	mu   sync.Mutex
	seen map[string]map[int]bool // operationId → statuses answered
}

// New loads and validates the embedded document (the one served at
// /apidocs/openapi.json). Exchanges go on through http.DefaultTransport.
func New(t testing.TB) *Checker {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(docs.OpenAPI3()))
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("docs/openapi.json is not valid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	// The revocation feed is application/jwt, a compact JWS: text, for which
	// kin-openapi has no decoder of its own. Registering one is idempotent.
	openapi3filter.RegisterBodyDecoder("application/jwt", openapi3filter.PlainBodyDecoder)
	return &Checker{t: t, doc: doc, router: router, next: http.DefaultTransport, seen: map[string]map[int]bool{}}
}

// Client is an HTTP client through the checker that does not follow
// redirects: a 302 is an answer the document describes.
func (c *Checker) Client() *http.Client {
	return &http.Client{Transport: c, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type uncheckedKey struct{}

// Unchecked marks a request that breaks the document on purpose (no token,
// a malformed body, a missing field) to see the error the service answers:
// the request is not validated, its response still is.
func Unchecked(ctx context.Context) context.Context {
	return context.WithValue(ctx, uncheckedKey{}, true)
}

// RoundTrip sends req and validates both sides against the document.
func (c *Checker) RoundTrip(req *http.Request) (*http.Response, error) {
	where := req.Method + " " + req.URL.Path
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s: no operation of the document: %v", where, err)
		return c.next.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: credentialsSent,
			// A status the document does not list is a lie by omission.
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if req.Context().Value(uncheckedKey{}) == nil {
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			c.t.Errorf("%s (%s): the request does not match the document: %v", where, route.Operation.OperationID, err)
		}
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options,
	})
	if err != nil {
		c.t.Errorf("%s (%s): the %d answer does not match the document: %v\nContent-Type: %s\n%.600s",
			where, route.Operation.OperationID, resp.StatusCode, err, resp.Header.Get("Content-Type"), body)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := route.Operation.OperationID
	if c.seen[id] == nil {
		c.seen[id] = map[int]bool{}
	}
	c.seen[id][resp.StatusCode] = true
	return resp, nil
}

// credentialsSent is openapi3filter's check of a security requirement: the
// request carries credentials of the scheme's kind. Whether they are good is
// the service's to say, and the response's validation checks what it said.
func credentialsSent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, auth := in.SecurityScheme, in.RequestValidationInput.Request.Header.Get("Authorization")
	if s.Type == "http" && strings.HasPrefix(strings.ToLower(auth), strings.ToLower(s.Scheme)+" ") {
		return nil
	}
	return in.NewError(errors.New("no " + s.Scheme + " credentials in Authorization"))
}

// Operation is one operation of the document.
type Operation struct {
	ID, Method, Path string
	Body             bool // it takes a request body
}

// Operations lists the document's operations, by path and method.
func (c *Checker) Operations() []Operation {
	var ops []Operation
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, Operation{op.OperationID, method, path, op.RequestBody != nil})
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) })
	return ops
}

func (o Operation) String() string { return fmt.Sprintf("%s %s (%s)", o.Method, o.Path, o.ID) }

// Unexercised lists the document's operations no exchange has reached, but
// for the exempt ones (operationId → why); it fails the test for an
// exemption of an operation that was reached, or that the document lacks.
func (c *Checker) Unexercised(exempt map[string]string) []Operation {
	c.t.Helper()
	ops := c.Operations()
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []Operation
	known := map[string]bool{}
	for _, op := range ops {
		known[op.ID] = true
		_, reached := c.seen[op.ID]
		switch _, ok := exempt[op.ID]; {
		case ok && reached:
			c.t.Errorf("%s is exempt from coverage, but was exercised: drop the exemption", op.ID)
		case !ok && !reached:
			missing = append(missing, op)
		}
	}
	for id := range exempt {
		if !known[id] {
			c.t.Errorf("exemption %s: the document has no such operation", id)
		}
	}
	return missing
}

// Seen returns, per operationId, the statuses answered (sorted).
func (c *Checker) Seen() map[string][]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]int{}
	for id, statuses := range c.seen {
		for s := range statuses {
			out[id] = append(out[id], s)
		}
		slices.Sort(out[id])
	}
	return out
}
