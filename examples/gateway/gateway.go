package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/authsvc/authsvc/verifier"
)

// Identity headers the gateway sets for the upstream. Whatever a client sends
// under these names is dropped first: only the gateway speaks for the user.
const (
	HeaderUserID   = "X-User-Id"
	HeaderRoles    = "X-User-Roles"
	HeaderUsername = "X-User-Name"
)

// New is the gateway: v verifies each request's bearer token (401 problem
// JSON when it does not pass, 503 while the revocation feed is stale), and the
// request goes on to upstream with the user's identity in headers.
func New(v *verifier.Verifier, upstream *url.URL) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.SetXForwarded()
			for _, h := range []string{HeaderUserID, HeaderRoles, HeaderUsername} {
				r.Out.Header.Del(h)
			}
			if c := verifier.ClaimsFrom(r.In.Context()); c != nil {
				r.Out.Header.Set(HeaderUserID, c.Subject)
				r.Out.Header.Set(HeaderRoles, strings.Join(c.Roles, ","))
				r.Out.Header.Set(HeaderUsername, c.Username)
			}
		},
	}
	return v.Middleware(proxy)
}
