package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Provider types: any OpenID Connect provider (discovery), or GitHub (OAuth 2.0 and its user API).
const (
	ProviderOIDC   = "oidc"
	ProviderGitHub = "github"
)

// Provider is one external identity provider users may sign in with.
type Provider struct {
	Name         string // lowercase slug: the path segment and audit value
	Type         string // ProviderOIDC or ProviderGitHub
	Issuer       string // OIDC: where discovery starts
	ClientID     string
	ClientSecret string // OIDC public clients (PKCE alone) have none
	Scopes       []string
	// Audiences are further client ids accepted in ID tokens posted by native
	// apps (their iOS and Android client ids).
	Audiences []string
	// GitHub endpoints (github.com's by default; GitHub Enterprise elsewhere).
	AuthURL, TokenURL, APIURL string
	LinkByEmail               bool // a first sign-in joins the account with the same verified address
	Signup                    bool // a first sign-in with no matching account creates one
}

// providerName is a provider's slug: it names a path segment and, upper-cased
// with "-" as "_", its variables.
var providerName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// providers reads AUTH_PROVIDERS and each provider's PROVIDER_<NAME>_* variables.
func (r *reader) providers() []Provider {
	var out []Provider
	for _, name := range r.list("AUTH_PROVIDERS") {
		if !providerName.MatchString(name) || len(name) > 32 {
			r.fail("AUTH_PROVIDERS", "%q is not a provider name (up to 32 lowercase letters and digits, words joined by single hyphens, starting with a letter)", name)
			return nil
		}
		if slices.ContainsFunc(out, func(p Provider) bool { return p.Name == name }) {
			r.fail("AUTH_PROVIDERS", "%q is listed twice", name)
			return nil
		}
		out = append(out, r.provider(name))
	}
	return out
}

func (r *reader) provider(name string) Provider {
	v := func(suffix string) string {
		return "PROVIDER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + suffix
	}
	p := Provider{
		Name:         name,
		Type:         r.oneOf(v("TYPE"), ProviderOIDC, ProviderOIDC, ProviderGitHub),
		ClientID:     r.str(v("CLIENT_ID"), ""),
		ClientSecret: r.str(v("CLIENT_SECRET"), ""),
		Audiences:    r.list(v("AUDIENCES")),
		LinkByEmail:  r.boolean(v("LINK_BY_EMAIL"), false),
		Signup:       r.boolean(v("SIGNUP"), true),
	}
	if p.ClientID == "" {
		r.fail(v("CLIENT_ID"), "required for provider %q", name)
	}
	defaultScopes := "openid email profile"
	switch p.Type {
	case ProviderOIDC:
		// As given: go-oidc compares it with the discovered issuer exactly,
		// and some issuers end in "/" (Auth0's).
		p.Issuer = r.str(v("ISSUER"), "")
		if p.Issuer == "" {
			r.fail(v("ISSUER"), "required for an oidc provider")
		}
		r.absoluteURL(v("ISSUER"), p.Issuer)
	case ProviderGitHub:
		defaultScopes = "read:user user:email"
		p.AuthURL = r.str(v("AUTH_URL"), "https://github.com/login/oauth/authorize")
		p.TokenURL = r.str(v("TOKEN_URL"), "https://github.com/login/oauth/access_token")
		p.APIURL = strings.TrimRight(r.str(v("API_URL"), "https://api.github.com"), "/")
		r.absoluteURL(v("AUTH_URL"), p.AuthURL)
		r.absoluteURL(v("TOKEN_URL"), p.TokenURL)
		r.absoluteURL(v("API_URL"), p.APIURL)
		if p.ClientSecret == "" {
			r.fail(v("CLIENT_SECRET"), "required for a github provider")
		}
	}
	p.Scopes = strings.Fields(r.str(v("SCOPES"), defaultScopes))
	return p
}

// redirectURLs reads REDIRECT_URLS: exact URLs, a web app's (http or https
// with a host) or a native app's (a private-use scheme such as
// com.example.app:/oauth or myapp://callback), never a fragment or a scheme browsers run or read
// locally.
func (r *reader) redirectURLs() []string {
	list := r.list("REDIRECT_URLS")
	for _, s := range list {
		u, err := url.Parse(s)
		web := err == nil && (u.Scheme == "http" || u.Scheme == "https")
		if err != nil || u.Scheme == "" || strings.Contains(s, "#") || u.Opaque != "" ||
			web && u.Host == "" || !web && u.Host == "" && !strings.HasPrefix(u.Path, "/") ||
			slices.Contains([]string{"javascript", "data", "file", "vbscript", "blob", "about"}, u.Scheme) {
			r.fail("REDIRECT_URLS", "%q is not an https URL or an app's private-use scheme URL (com.example.app:/path), without a fragment", s)
			return nil
		}
	}
	return list
}

// absoluteURL fails name unless s is an absolute http(s) URL. The value is
// not repeated: it may carry credentials.
func (r *reader) absoluteURL(name, s string) {
	if err := checkURL(s); err != nil {
		r.fail(name, "%v", err)
	}
}
