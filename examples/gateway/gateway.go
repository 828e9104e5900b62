package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/authsvc/authsvc/verifier"
)

// Identity headers the gateway sets for the upstream. Whatever a client sends
// under these names, in any spelling, is dropped first: only the gateway
// speaks for the user.
const (
	HeaderUserID   = "X-User-Id"
	HeaderRoles    = "X-User-Roles"
	HeaderUsername = "X-User-Name"
)

var identityHeaders = []string{HeaderUserID, HeaderRoles, HeaderUsername}

// headerKey is a header name as CGI and WSGI servers read it: both
// X_User_Roles and X-User-Roles reach the application as HTTP_X_USER_ROLES,
// while Go's header map holds them as two different names.
func headerKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// dropIdentityHeaders removes every header an upstream could take for one of
// the identity headers.
func dropIdentityHeaders(h http.Header) {
	for name := range h {
		if slices.ContainsFunc(identityHeaders, func(id string) bool { return headerKey(id) == headerKey(name) }) {
			delete(h, name)
		}
	}
}

// New is the gateway: v verifies each request's bearer token (401 problem
// JSON when it does not pass, 503 while the revocation feed is stale), and the
// request goes on to upstream with the user's identity in headers.
func New(v *verifier.Verifier, upstream *url.URL) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.SetXForwarded()
			dropIdentityHeaders(r.Out.Header)
			if c := verifier.ClaimsFrom(r.In.Context()); c != nil {
				r.Out.Header.Set(HeaderUserID, c.Subject)
				r.Out.Header.Set(HeaderRoles, strings.Join(c.Roles, ","))
				r.Out.Header.Set(HeaderUsername, c.Username)
			}
		},
	}
	return v.Middleware(proxy)
}
