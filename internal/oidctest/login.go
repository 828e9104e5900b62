package oidctest

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/net/html"
)

// The login UI. zitadel's op leaves login to the application: /authorize
// redirects to the client's LoginURL with the auth request ID, and once the
// user is authenticated the UI redirects to op.AuthCallbackURL, which answers
// the relying party with code and state.
var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<form method="POST" action="` + loginPath + `">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<button type="submit">Sign in</button>
</form>
</body></html>`))

func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	render := func(id, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginPage.Execute(w, struct{ ID, Error string }{id, msg})
	}
	switch r.Method {
	case http.MethodGet:
		render(r.URL.Query().Get("authRequestID"), "")
	case http.MethodPost:
		id := r.PostFormValue("id")
		if err := p.store.checkLogin(id, r.PostFormValue("username"), r.PostFormValue("password")); err != nil {
			render(id, err.Error())
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// SignIn plays the user's browser: it GETs authorizeURL (which may be the
// relying party's own login route that redirects to the provider), follows
// redirects to the login form, fills in username and password, submits it and
// follows redirects again. It returns, without fetching it, the first redirect
// target off the provider's host once the provider has been reached: the
// relying party's callback with code and state (or error). It fails the test
// if the login is refused or a page other than the form shows up. client's
// Jar, Transport and Timeout are used (nil: a plain client).
func (p *Provider) SignIn(t testing.TB, client *http.Client, authorizeURL, username, password string) *url.URL {
	t.Helper()
	b := newBrowser(t, client, p.Issuer)
	page := b.get(authorizeURL)
	if page.callback != nil {
		return page.callback // e.g. an error redirect before any login
	}
	form := findForm(t, page)
	form.vals.Set("username", username)
	form.vals.Set("password", password)
	page = b.post(form.action, form.vals)
	if page.callback == nil {
		t.Fatalf("oidctest: signing in as %q failed, the login form came back: %s", username, textOf(page.body, "error"))
	}
	return page.callback
}

// browser follows redirects by hand so that it can stop before leaving the
// provider for good.
type browser struct {
	t       testing.TB
	c       http.Client
	host    string
	reached bool // has a request gone to the provider yet?
}

type page struct {
	url      *url.URL
	body     []byte
	callback *url.URL // set instead of url/body when the walk left the provider
}

func newBrowser(t testing.TB, c *http.Client, base string) *browser {
	b := &browser{t: t}
	if c != nil {
		b.c = *c
	}
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	b.host = u.Host
	return b
}

func (b *browser) get(rawURL string) page {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.walk(req)
}

func (b *browser) post(u *url.URL, form url.Values) page {
	req, err := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.walk(req)
}

func (b *browser) walk(req *http.Request) page {
	b.t.Helper()
	for range 20 {
		if req.URL.Host == b.host {
			b.reached = true
		}
		resp, err := b.c.Do(req)
		if err != nil {
			b.t.Fatalf("oidctest: %s %s: %v", req.Method, req.URL, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.t.Fatalf("oidctest: %s %s: %v", req.Method, req.URL, err)
		}
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			next, err := req.URL.Parse(loc)
			if err != nil {
				b.t.Fatalf("oidctest: %s %s: bad Location %q", req.Method, req.URL, loc)
			}
			if b.reached && next.Host != b.host {
				return page{callback: next}
			}
			if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
				b.t.Fatal(err)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || req.URL.Host != b.host {
			b.t.Fatalf("oidctest: %s %s: want the provider's login page, got %s: %.500s", req.Method, req.URL, resp.Status, body)
		}
		return page{url: req.URL, body: body}
	}
	b.t.Fatalf("oidctest: too many redirects from %s", req.URL)
	return page{}
}

type form struct {
	action *url.URL
	vals   url.Values
}

// findForm parses the page's first <form> with its inputs' names and values,
// as a browser would submit it (hidden fields included).
func findForm(t testing.TB, p page) form {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(p.body))
	if err != nil {
		t.Fatalf("oidctest: login page: %v", err)
	}
	var f *form
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch {
		case n.Data == "form" && f == nil:
			action, err := p.url.Parse(attr(n, "action"))
			if err != nil {
				t.Fatalf("oidctest: login form action: %v", err)
			}
			f = &form{action: action, vals: url.Values{}}
		case n.Data == "input" && f != nil && attr(n, "name") != "":
			f.vals.Set(attr(n, "name"), attr(n, "value"))
		}
	}
	if f == nil {
		t.Fatalf("oidctest: no form on the login page %s: %.500s", p.url, p.body)
	}
	return *f
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// textOf returns the text of the first element of the given class.
func textOf(body []byte, class string) string {
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attr(n, "class") == class && n.FirstChild != nil {
			return n.FirstChild.Data
		}
	}
	return ""
}
