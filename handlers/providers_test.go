package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/githubtest"
	"github.com/authsvc/authsvc/internal/oidctest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
)

func TestProviderSignUpAndSignInWithOIDC(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(oidctest.User{Username: "ada", Password: "op-pass", Email: "Ada@Example.com", EmailVerified: true,
		GivenName: "Ada", FamilyName: "Lovelace"})
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		e.Request(http.MethodGet, "/v1/auth/providers", nil).Expect(http.StatusOK)
		verifier, challenge := fedtest.PKCE()
		q := fed.SignInOIDC(t, e, "ada", "op-pass", challenge)
		if q.Get("code") == "" {
			t.Fatalf("no code for the app: %v", q)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			User        struct {
				ID, Email, Username string
				FirstName           string   `json:"first_name"`
				EmailVerified       bool     `json:"email_verified"`
				Identities          []string `json:"identities"`
				HasPassword         bool     `json:"has_password"`
			} `json:"user"`
		}
		fedtest.Exchange(e, q.Get("code"), verifier).Expect(http.StatusOK).Decode(&tok)
		u := tok.User
		if u.Email != "Ada@example.com" || u.Username != "ada" || u.FirstName != "Ada" || !u.EmailVerified || u.HasPassword || !slices.Equal(u.Identities, []string{"corp"}) {
			t.Fatalf("new account %+v", u)
		}
		var me struct {
			AMR []string `json:"amr"`
			IDP string   `json:"idp"`
		}
		e.As(tok.AccessToken, http.MethodGet, "/v1/me", nil).Expect(http.StatusOK).Decode(&me)
		if !slices.Equal(me.AMR, []string{"fed"}) || me.IDP != "corp" {
			t.Fatalf("me: %+v", me)
		}
		// The code works once.
		fedtest.Exchange(e, q.Get("code"), verifier).ExpectProblem(http.StatusBadRequest, "invalid_grant")
		// A second sign-in is the same account.
		verifier, challenge = fedtest.PKCE()
		q = fed.SignInOIDC(t, e, "ada", "op-pass", challenge)
		var again struct {
			User struct{ ID string } `json:"user"`
		}
		fedtest.Exchange(e, q.Get("code"), verifier).Expect(http.StatusOK).Decode(&again)
		if again.User.ID != u.ID {
			t.Fatalf("second sign-in is account %s, want %s", again.User.ID, u.ID)
		}
	})
}

func TestProviderSignUpWithGitHub(t *testing.T) {
	fed := fedtest.Start(t)
	fed.GitHub.SetUser(githubtest.User{ID: 583231, Login: "The Octocat", Name: "Mona Lisa Octocat",
		Emails: []githubtest.Email{{Email: "old@example.com", Verified: true}, {Email: "mona@example.com", Primary: true, Verified: true}}})
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		verifier, challenge := fedtest.PKCE()
		q := fed.SignInGitHub(t, e, challenge)
		var tok struct {
			User struct {
				Email, Username string
				FirstName       string   `json:"first_name"`
				LastName        string   `json:"last_name"`
				Identities      []string `json:"identities"`
			} `json:"user"`
		}
		fedtest.Exchange(e, q.Get("code"), verifier).Expect(http.StatusOK).Decode(&tok)
		u := tok.User
		if u.Email != "mona@example.com" || u.Username != "the-octocat" || u.FirstName != "Mona" || u.LastName != "Lisa Octocat" ||
			!slices.Equal(u.Identities, []string{"github"}) {
			t.Fatalf("new account %+v", u)
		}
	})
}

// fedTokens is the answer of an exchange or an ID-token sign-in.
type fedTokens struct {
	AccessToken string `json:"access_token"`
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	User        struct {
		ID          string   `json:"id"`
		Email       string   `json:"email"`
		Username    string   `json:"username"`
		Status      string   `json:"status"`
		Identities  []string `json:"identities"`
		HasPassword bool     `json:"has_password"`
	} `json:"user"`
}

// adaAtCorp is the provider account most tests sign in with.
var adaAtCorp = oidctest.User{Username: "ada", Password: "op-pass", Subject: "corp-ada", Email: "ada@example.com",
	EmailVerified: true, GivenName: "Ada", FamilyName: "Lovelace"}

// eachFed runs fn on every database, each with providers of its own (their
// faults are set per test) where ada has an account at corp.
func eachFed(t *testing.T, extra apitest.Vars, fn func(t *testing.T, e *apitest.Env, fed *fedtest.Providers)) {
	t.Helper()
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		fed := fedtest.Start(t)
		fed.OP.AddUser(adaAtCorp)
		fn(t, apitest.New(t, dialect, fed.Vars(extra)), fed)
	})
}

// signInCorp runs a whole sign-in at corp as u and returns the exchange's answer.
func signInCorp(t *testing.T, e *apitest.Env, fed *fedtest.Providers, u oidctest.User) *apitest.Response {
	t.Helper()
	verifier, challenge := fedtest.PKCE()
	q := fed.SignInOIDC(t, e, u.Username, u.Password, challenge)
	if q.Get("code") == "" {
		t.Fatalf("the callback sent no code: %v", q)
	}
	return fedtest.Exchange(e, q.Get("code"), verifier)
}

// callbackError runs a sign-in at corp as u up to the callback and returns its ?error=.
func callbackError(t *testing.T, e *apitest.Env, fed *fedtest.Providers, u oidctest.User) string {
	t.Helper()
	_, challenge := fedtest.PKCE()
	q := fed.SignInOIDC(t, e, u.Username, u.Password, challenge)
	if q.Get("code") != "" {
		t.Fatalf("the callback gave a code; want an error: %v", q)
	}
	return q.Get("error")
}

func TestProviderAuthorize(t *testing.T) {
	fed := fedtest.Start(t)
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		_, challenge := fedtest.PKCE()
		to, err := url.Parse(fedtest.ToProvider(t, e, "corp", challenge))
		testdb.Must(t, err)
		q := to.Query()
		if !strings.HasPrefix(to.String(), fed.OP.Issuer) || q.Get("state") == "" || q.Get("nonce") == "" ||
			q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("code_challenge") == challenge ||
			q.Get("redirect_uri") != fedtest.PublicURL+"/v1/auth/providers/corp/callback" || q.Get("client_id") != fedtest.ClientID {
			t.Fatalf("authorize sent the browser to %s", to)
		}
		// GitHub: the same, without a nonce.
		gh, err := url.Parse(fedtest.ToProvider(t, e, "github", challenge))
		testdb.Must(t, err)
		if !strings.HasPrefix(gh.String(), fed.GitHub.AuthURL) || gh.Query().Get("state") == "" || gh.Query().Get("code_challenge") == "" {
			t.Fatalf("github authorize: %s", gh)
		}
		var list struct {
			Providers []map[string]string `json:"providers"`
		}
		e.Request(http.MethodGet, "/v1/auth/providers", nil).Expect(http.StatusOK).Decode(&list)
		if fmt.Sprint(list.Providers) != "[map[name:corp type:oidc] map[name:github type:github]]" {
			t.Fatalf("providers %v", list.Providers)
		}

		bad := func(path string) *apitest.Response { return e.Request(http.MethodGet, path, nil) }
		bad("/v1/auth/providers/nope/authorize?redirect_uri=x").ExpectProblem(http.StatusNotFound, "unknown_provider")
		bad(strings.Replace(fedtest.AuthorizePath("corp", challenge), url.QueryEscape(fedtest.AppRedirect), url.QueryEscape("https://evil.example/cb"), 1)).
			ExpectProblem(http.StatusBadRequest, "invalid_redirect_uri")
		bad(strings.Replace(fedtest.AuthorizePath("corp", challenge), url.QueryEscape(fedtest.AppRedirect), url.QueryEscape(fedtest.AppRedirect+"/more"), 1)).
			ExpectProblem(http.StatusBadRequest, "invalid_redirect_uri")
		bad(fedtest.AuthorizePath("corp", "too-short")).ExpectProblem(http.StatusBadRequest, "validation_failed")
		bad(strings.Replace(fedtest.AuthorizePath("corp", challenge), "S256", "plain", 1)).ExpectProblem(http.StatusBadRequest, "validation_failed")
		bad("/v1/auth/providers/corp/authorize").ExpectProblem(http.StatusBadRequest, "validation_failed")
	})
}

// A provider that cannot be reached does not stop the service: its endpoints
// answer 503, and its discovery is tried again on a later use.
func TestProviderUnreachableAtStart(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		fed := fedtest.Start(t)
		fed.OP.AddUser(adaAtCorp)
		fed.OP.SetDown(true)
		e := apitest.New(t, dialect, fed.Vars(nil))
		_, challenge := fedtest.PKCE()
		e.Request(http.MethodGet, fedtest.AuthorizePath("corp", challenge), nil).ExpectProblem(http.StatusServiceUnavailable, "provider_unavailable")
		e.Request(http.MethodPost, "/v1/auth/providers/corp/id-token", map[string]string{"id_token": "x.y.z"}).
			ExpectProblem(http.StatusServiceUnavailable, "provider_unavailable")
		// GitHub needs no discovery: unaffected; and the service is up.
		fedtest.ToProvider(t, e, "github", challenge)
		e.Request(http.MethodGet, "/readyz", nil).Expect(http.StatusOK)

		fed.OP.SetDown(false)
		e.Request(http.MethodGet, fedtest.AuthorizePath("corp", challenge), nil).ExpectProblem(http.StatusServiceUnavailable, "provider_unavailable")
		e.Clock.Advance(2 * time.Second) // past the wait between tries
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK)
	})
}

func TestProviderCallbackFailures(t *testing.T) {
	eachFed(t, apitest.Vars{"PROVIDER_TIMEOUT": "1s"}, func(t *testing.T, e *apitest.Env, fed *fedtest.Providers) {
		browser := fedtest.Browser(t)
		reachCallback := func() *url.URL {
			_, challenge := fedtest.PKCE()
			return fed.OP.SignIn(t, browser, fedtest.ToProvider(t, e, "corp", challenge), adaAtCorp.Username, adaAtCorp.Password)
		}
		get := func(u *url.URL) *apitest.Response { return e.Request(http.MethodGet, u.RequestURI(), nil) }

		// A state works once.
		cb := reachCallback()
		if fedtest.Callback(t, e, cb).Get("code") == "" {
			t.Fatal("no code")
		}
		get(cb).ExpectProblem(http.StatusBadRequest, "invalid_state")
		// Unknown, missing, another provider's, expired.
		e.Request(http.MethodGet, "/v1/auth/providers/corp/callback?code=x&state=nope", nil).ExpectProblem(http.StatusBadRequest, "invalid_state")
		e.Request(http.MethodGet, "/v1/auth/providers/corp/callback?code=x", nil).ExpectProblem(http.StatusBadRequest, "invalid_state")
		cb = reachCallback()
		other := *cb
		other.Path = strings.Replace(other.Path, "/corp/", "/github/", 1)
		get(&other).ExpectProblem(http.StatusBadRequest, "invalid_state")
		cb = reachCallback()
		e.Clock.Advance(11 * time.Minute)
		get(cb).ExpectProblem(http.StatusBadRequest, "invalid_state")

		// The provider's own error, and its garbage, slowness or absence, reach the app as ?error=.
		cb = reachCallback()
		q := cb.Query()
		q.Del("code")
		q.Set("error", "access_denied")
		cb.RawQuery = q.Encode()
		if got := fedtest.Callback(t, e, cb); got.Get("error") != "access_denied" || got.Get("error_description") == "" {
			t.Fatalf("access_denied: %v", got)
		}
		for name, fault := range map[string]func(bool){
			"garbage": fed.OP.SetGarbage, "down": fed.OP.SetDown,
			"slow": func(on bool) {
				if on {
					fed.OP.SetSlow(3 * time.Second)
				} else {
					fed.OP.SetSlow(0)
				}
			},
		} {
			cb := reachCallback()
			fault(true)
			got := fedtest.Callback(t, e, cb)
			fault(false)
			if got.Get("error") != "provider_error" || got.Get("code") != "" {
				t.Fatalf("%s provider: %v", name, got)
			}
		}
		// A code the provider never issued.
		cb = reachCallback()
		q = cb.Query()
		q.Set("code", "forged")
		cb.RawQuery = q.Encode()
		if got := fedtest.Callback(t, e, cb); got.Get("error") != "provider_error" {
			t.Fatalf("forged code: %v", got)
		}
	})
}

func TestProviderExchangeFailures(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		code := func() (string, string) {
			verifier, challenge := fedtest.PKCE()
			return fed.SignInOIDC(t, e, adaAtCorp.Username, adaAtCorp.Password, challenge).Get("code"), verifier
		}
		c, verifier := code()
		other, _ := fedtest.PKCE()
		fedtest.Exchange(e, c, other).ExpectProblem(http.StatusBadRequest, "invalid_grant")
		fedtest.Exchange(e, c, verifier).ExpectProblem(http.StatusBadRequest, "invalid_grant") // spent by the wrong try
		c, verifier = code()
		e.Clock.Advance(6 * time.Minute)
		fedtest.Exchange(e, c, verifier).ExpectProblem(http.StatusBadRequest, "invalid_grant")
		fedtest.Exchange(e, "unknown", verifier).ExpectProblem(http.StatusBadRequest, "invalid_grant")
		e.Request(http.MethodPost, "/v1/auth/providers/exchange", map[string]string{"code": "x"}).ExpectProblem(http.StatusBadRequest, "validation_failed")
		e.Request(http.MethodPost, "/v1/auth/providers/exchange", map[string]string{"code": "x", "code_verifier": "y", "state": "z"}).
			ExpectProblem(http.StatusBadRequest, "validation_failed")
		// Nothing usable is stored: the code, the state and the verifier only as MACs.
		for _, table := range []string{"provider_flows", "provider_codes"} {
			checkNoPlainToken(t, dumpTable(t, e, table), c)
			checkNoPlainToken(t, dumpTable(t, e, table), verifier)
		}
	})
}

// idTokenClaims are a valid ID token's claims for a native app of corp.
func idTokenClaims(e *apitest.Env, fed *fedtest.Providers, extra map[string]any) map[string]any {
	now := e.Clock.Now()
	c := map[string]any{
		"iss": fed.OP.Issuer, "aud": fedtest.NativeID, "sub": "corp-grace", "email": "grace@example.com", "email_verified": true,
		"given_name": "Grace", "family_name": "Hopper", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func postIDToken(e *apitest.Env, provider, tok, nonce string) *apitest.Response {
	body := map[string]string{"id_token": tok}
	if nonce != "" {
		body["nonce"] = nonce
	}
	return e.Request(http.MethodPost, "/v1/auth/providers/"+provider+"/id-token", body)
}

func TestProviderIDTokenSignIn(t *testing.T) {
	fed := fedtest.Start(t)
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		var tk fedTokens
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, nil)), "").Expect(http.StatusOK).Decode(&tk)
		if tk.User.Email != "grace@example.com" || tk.User.Username != "grace" || !slices.Equal(claimAMR(t, tk.AccessToken), []string{"fed"}) {
			t.Fatalf("native sign-in: %+v", tk.User)
		}
		if claimsOf(t, tk.AccessToken)["idp"] != "corp" {
			t.Fatalf("access token without idp: %v", claimsOf(t, tk.AccessToken))
		}
		// The web client id is an audience too; the nonce, or its SHA-256.
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"aud": fedtest.ClientID})), "").Expect(http.StatusOK)
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"nonce": "n-123"})), "n-123").Expect(http.StatusOK)
		sum := sha256.Sum256([]byte("raw-nonce"))
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"nonce": hex.EncodeToString(sum[:])})), "raw-nonce").Expect(http.StatusOK)

		refused := map[string]string{
			"wrong audience":  fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"aud": "someone-else"})),
			"wrong issuer":    fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"iss": "https://evil.example"})),
			"expired":         fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"exp": e.Clock.Now().Add(-time.Minute).Unix()})),
			"not yet valid":   fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"nbf": e.Clock.Now().Add(time.Hour).Unix()})),
			"foreign key":     oidctest.ForeignIDToken(t, idTokenClaims(e, fed, nil)),
			"nonce not given": fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"nonce": "n-123"})),
			"no subject":      fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"sub": nil})),
			"garbage":         "not-a-jwt",
		}
		for name, tok := range refused {
			t.Run(name, func(t *testing.T) {
				postIDToken(e.WithT(t), "corp", tok, "").ExpectProblem(http.StatusUnauthorized, "invalid_id_token")
			})
		}
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"nonce": "n-123"})), "other").
			ExpectProblem(http.StatusUnauthorized, "invalid_id_token")
		postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, nil)), "expected-one").
			ExpectProblem(http.StatusUnauthorized, "invalid_id_token")
		postIDToken(e, "github", "x.y.z", "").ExpectProblem(http.StatusBadRequest, "id_tokens_unsupported")
		postIDToken(e, "nope", "x.y.z", "").ExpectProblem(http.StatusNotFound, "unknown_provider")
		e.Request(http.MethodPost, "/v1/auth/providers/corp/id-token", map[string]string{}).ExpectProblem(http.StatusBadRequest, "validation_failed")
	})
}

func TestProviderAccountResolution(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	unverified := oidctest.User{Username: "una", Password: "op-pass", Email: "una@example.com", GivenName: "Una"}
	fed.OP.AddUser(unverified)
	t.Run("same address, no link by email: a conflict, nothing changes", func(t *testing.T) {
		apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
			ada := e.Signup("ada")
			admin := e.AdminLogin()
			e.As(admin.AccessToken, http.MethodPatch, "/v1/users/"+idOf(ada), map[string]any{"email_verified": true}).Expect(http.StatusOK)
			if got := callbackError(t, e, fed, adaAtCorp); got != "identity_conflict" {
				t.Fatalf("error %q, want identity_conflict", got)
			}
			if n := countRows(t, e, "SELECT count(*) FROM identities"); n != 0 {
				t.Fatalf("%d identities after a conflict", n)
			}
			postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"email": "ada@example.com"})), "").
				ExpectProblem(http.StatusConflict, "identity_conflict")
		})
	})
	t.Run("link by email when both sides say verified", func(t *testing.T) {
		apitest.Each(t, fed.Vars(apitest.Vars{"PROVIDER_CORP_LINK_BY_EMAIL": "true"}), func(t *testing.T, e *apitest.Env) {
			ada := e.Signup("ada")
			una := e.Signup("una")
			// ada's account is not verified yet: no link.
			if got := callbackError(t, e, fed, adaAtCorp); got != "identity_conflict" {
				t.Fatalf("unverified account: error %q, want identity_conflict", got)
			}
			admin := e.AdminLogin()
			for _, u := range []map[string]any{ada, una} {
				e.As(admin.AccessToken, http.MethodPatch, "/v1/users/"+idOf(u), map[string]any{"email_verified": true}).Expect(http.StatusOK)
			}
			var tk fedTokens
			signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK).Decode(&tk)
			if tk.User.ID != idOf(ada) || !slices.Equal(tk.User.Identities, []string{"corp"}) || !tk.User.HasPassword {
				t.Fatalf("linked by email: %+v, want ada's account %s", tk.User, idOf(ada))
			}
			if n := auditCount(e, admin.AccessToken, idOf(ada), "identity_linked"); n != 1 {
				t.Fatalf("%d identity_linked events", n)
			}
			// The provider does not vouch for una's address: no link.
			if got := callbackError(t, e, fed, unverified); got != "identity_conflict" {
				t.Fatalf("unverified at the provider: error %q", got)
			}
		})
	})
	t.Run("signup off", func(t *testing.T) {
		apitest.Each(t, fed.Vars(apitest.Vars{"PROVIDER_CORP_SIGNUP": "false"}), func(t *testing.T, e *apitest.Env) {
			if got := callbackError(t, e, fed, adaAtCorp); got != "signup_disabled" {
				t.Fatalf("error %q, want signup_disabled", got)
			}
			postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, nil)), "").ExpectProblem(http.StatusForbidden, "signup_disabled")
		})
	})
	t.Run("approval, and a disabled account", func(t *testing.T) {
		apitest.Each(t, fed.Vars(apitest.Vars{"SIGNUP_REQUIRES_APPROVAL": "true"}), func(t *testing.T, e *apitest.Env) {
			if got := callbackError(t, e, fed, adaAtCorp); got != "account_pending" {
				t.Fatalf("error %q, want account_pending", got)
			}
			admin := e.AdminLogin()
			var list struct {
				Users []map[string]any `json:"users"`
			}
			e.As(admin.AccessToken, http.MethodGet, "/v1/users?q=ada", nil).Expect(http.StatusOK).Decode(&list)
			if len(list.Users) != 1 || list.Users[0]["status"] != "pending" {
				t.Fatalf("the new account: %v", list.Users)
			}
			id := idOf(list.Users[0])
			e.As(admin.AccessToken, http.MethodPatch, "/v1/users/"+id, map[string]any{"status": "active"}).Expect(http.StatusOK)
			signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK)
			e.As(admin.AccessToken, http.MethodPatch, "/v1/users/"+id, map[string]any{"status": "disabled"}).Expect(http.StatusOK)
			if got := callbackError(t, e, fed, adaAtCorp); got != "account_disabled" {
				t.Fatalf("error %q, want account_disabled", got)
			}
			postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"sub": adaAtCorp.Subject})), "").
				ExpectProblem(http.StatusForbidden, "account_disabled")
		})
	})
	t.Run("no email, and a taken username", func(t *testing.T) {
		apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
			postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"email": nil})), "").
				ExpectProblem(http.StatusBadRequest, "email_required")
			e.Signup("grace") // grace@example.com
			var tk fedTokens
			postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, map[string]any{"email": "g.hopper@example.com", "preferred_username": "Grace"})), "").
				Expect(http.StatusOK).Decode(&tk)
			if tk.User.Username != "grace-2" {
				t.Fatalf("username %q, want grace-2", tk.User.Username)
			}
		})
	})
}

func TestProviderGitHubWithoutEmail(t *testing.T) {
	fed := fedtest.Start(t)
	fed.GitHub.SetUser(githubtest.User{ID: 7, Login: "ghost"})
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		_, challenge := fedtest.PKCE()
		if got := fed.SignInGitHub(t, e, challenge); got.Get("error") != "email_required" {
			t.Fatalf("callback %v, want error=email_required", got)
		}
	})
}

func TestProviderSignInStillNeedsTOTP(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(apitest.Vars{"PROVIDER_CORP_LINK_BY_EMAIL": "true"}), func(t *testing.T, e *apitest.Env) {
		tk, secret, _ := mfaUser(e, "ada")
		e.As(e.AdminLogin().AccessToken, http.MethodPatch, "/v1/users/"+idOf(tk.User), map[string]any{"email_verified": true}).Expect(http.StatusOK)
		var step fedTokens
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK).Decode(&step)
		if !step.MFARequired || step.MFAToken == "" || step.AccessToken != "" {
			t.Fatalf("a provider's sign-in of a user with TOTP on: %+v, want mfa_required", step)
		}
		var done apitest.Tokens
		secondStep(e, step.MFAToken, map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).Expect(http.StatusOK).Decode(&done)
		if got := claimAMR(t, done.AccessToken); !slices.Equal(got, []string{"fed", "otp", "mfa"}) {
			t.Fatalf("amr %v, want [fed otp mfa]", got)
		}
		var me struct {
			IDP string `json:"idp"`
		}
		e.As(done.AccessToken, http.MethodGet, "/v1/me", nil).Expect(http.StatusOK).Decode(&me)
		var intro struct {
			IDP string   `json:"idp"`
			AMR []string `json:"amr"`
		}
		introspectJSON(e, done.AccessToken).Expect(http.StatusOK).Decode(&intro)
		if me.IDP != "corp" || intro.IDP != "corp" || !slices.Equal(intro.AMR, []string{"fed", "otp", "mfa"}) {
			t.Fatalf("idp on /v1/me %q, introspection %+v", me.IDP, intro)
		}
		// A password login still says pwd, and no idp.
		if claimsOf(t, tk.AccessToken)["idp"] != nil {
			t.Fatalf("a password session's token carries idp: %v", claimsOf(t, tk.AccessToken))
		}
		events := auditEvents(t, e, e.AdminLogin().AccessToken, "?type=login_succeeded&user_id="+idOf(tk.User))
		methods := map[string]bool{}
		for _, ev := range events {
			methods[fmt.Sprint(ev["details"].(map[string]any)["method"])] = true
		}
		if !methods["provider:corp"] || !methods["password"] {
			t.Fatalf("login_succeeded methods %v, want provider:corp and password", methods)
		}
	})
}

// linkCorp links ada's identity at corp to the account signed in with tok,
// and returns the callback's query.
func linkCorp(t *testing.T, e *apitest.Env, fed *fedtest.Providers, tok, password string) url.Values {
	t.Helper()
	_, challenge := fedtest.PKCE()
	var start struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	e.As(tok, http.MethodPost, "/v1/me/identities/corp/link", map[string]any{
		"redirect_uri": fedtest.AppRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "password": password,
	}).Expect(http.StatusOK).Decode(&start)
	return fedtest.Callback(t, e, fed.OP.SignIn(t, fedtest.Browser(t), start.AuthorizeURL, adaAtCorp.Username, adaAtCorp.Password))
}

type identitiesJSON struct {
	Identities []struct {
		ID, Provider, Subject, Email string
	} `json:"identities"`
}

func TestProviderLinkAndUnlink(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(nil), func(t *testing.T, e *apitest.Env) {
		mine := e.SignupLogin("mine")
		_, challenge := fedtest.PKCE()
		body := map[string]any{"redirect_uri": fedtest.AppRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "password": "wrong"}
		e.As(mine.AccessToken, http.MethodPost, "/v1/me/identities/corp/link", body).ExpectProblem(http.StatusUnauthorized, "invalid_credentials")
		body["password"] = apitest.StrongPassword
		body["redirect_uri"] = "https://evil.example/cb"
		e.As(mine.AccessToken, http.MethodPost, "/v1/me/identities/corp/link", body).ExpectProblem(http.StatusBadRequest, "invalid_redirect_uri")
		e.As(mine.AccessToken, http.MethodPost, "/v1/me/identities/nope/link", body).ExpectProblem(http.StatusNotFound, "unknown_provider")
		e.Request(http.MethodPost, "/v1/me/identities/corp/link", body).Expect(http.StatusUnauthorized)

		if q := linkCorp(t, e, fed, mine.AccessToken, apitest.StrongPassword); q.Get("linked") != "corp" || q.Get("code") != "" {
			t.Fatalf("link callback %v, want linked=corp", q)
		}
		var ids identitiesJSON
		e.As(mine.AccessToken, http.MethodGet, "/v1/me/identities", nil).Expect(http.StatusOK).Decode(&ids)
		if len(ids.Identities) != 1 || ids.Identities[0].Provider != "corp" || ids.Identities[0].Subject != adaAtCorp.Subject ||
			ids.Identities[0].Email != adaAtCorp.Email {
			t.Fatalf("identities %+v", ids)
		}
		// The identity now signs in to this account; linking again is no change.
		var viaCorp fedTokens
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK).Decode(&viaCorp)
		if viaCorp.User.ID != idOf(mine.User) {
			t.Fatalf("signed in to %s, want %s", viaCorp.User.ID, idOf(mine.User))
		}
		if q := linkCorp(t, e, fed, mine.AccessToken, apitest.StrongPassword); q.Get("linked") != "corp" {
			t.Fatalf("linking again: %v", q)
		}
		// Another account cannot take it.
		other := e.SignupLogin("other")
		if q := linkCorp(t, e, fed, other.AccessToken, apitest.StrongPassword); q.Get("error") != "identity_taken" {
			t.Fatalf("another account's link: %v, want error=identity_taken", q)
		}
		e.As(other.AccessToken, http.MethodDelete, "/v1/me/identities/"+ids.Identities[0].ID, nil).ExpectProblem(http.StatusNotFound, "identity_not_found")
		e.As(other.AccessToken, http.MethodDelete, "/v1/me/identities/not-a-uuid", nil).ExpectProblem(http.StatusNotFound, "identity_not_found")

		// Unlinking ends the sessions the identity opened, not the others.
		e.As(mine.AccessToken, http.MethodDelete, "/v1/me/identities/"+ids.Identities[0].ID, nil).Expect(http.StatusNoContent)
		e.As(viaCorp.AccessToken, http.MethodGet, "/v1/me", nil).ExpectProblem(http.StatusUnauthorized, "session_revoked")
		e.As(mine.AccessToken, http.MethodGet, "/v1/me", nil).Expect(http.StatusOK)
		admin := e.AdminLogin().AccessToken
		for _, typ := range []string{"identity_linked", "identity_unlinked"} {
			if n := auditCount(e, admin, idOf(mine.User), typ); n != 1 {
				t.Fatalf("%d %s events", n, typ)
			}
		}
		// Unlinked, it no longer signs in to this account (ada's address makes one of its own).
		var after fedTokens
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK).Decode(&after)
		if after.User.ID == idOf(mine.User) {
			t.Fatal("an unlinked identity still signs in to its old account")
		}
	})
}

// An account a provider made has no password: its identity is its only way
// in until it gets a password or a passkey, and a password login finds nothing.
func TestProviderAccountWithoutPassword(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(apitest.Vars{"LOCKOUT_THRESHOLD": "2"}), func(t *testing.T, e *apitest.Env) {
		var tk fedTokens
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK).Decode(&tk)
		e.Request(http.MethodPost, "/v1/auth/login", map[string]any{"login": "ada", "password": ""}).ExpectProblem(http.StatusBadRequest, "validation_failed")
		e.Request(http.MethodPost, "/v1/auth/login", map[string]any{"login": "ada", "password": "anything-at-all"}).
			ExpectProblem(http.StatusUnauthorized, "invalid_credentials")
		var ids identitiesJSON
		e.As(tk.AccessToken, http.MethodGet, "/v1/me/identities", nil).Expect(http.StatusOK).Decode(&ids)
		e.As(tk.AccessToken, http.MethodDelete, "/v1/me/identities/"+ids.Identities[0].ID, nil).ExpectProblem(http.StatusConflict, "last_login_method")
		// Re-authentication needs a password it does not have; trying counts nothing.
		for range 3 {
			e.As(tk.AccessToken, http.MethodDelete, "/v1/me", map[string]any{"password": "anything-at-all"}).
				ExpectProblem(http.StatusForbidden, "password_not_set")
		}
		e.As(tk.AccessToken, http.MethodPost, "/v1/me/mfa/totp", map[string]any{"password": "anything-at-all"}).
			ExpectProblem(http.StatusForbidden, "password_not_set")
		// An administrator gives it a password: now it may unlink.
		e.As(e.AdminLogin().AccessToken, http.MethodPatch, "/v1/users/"+tk.User.ID, map[string]any{"password": apitest.StrongPassword}).Expect(http.StatusOK)
		pw := e.Login("ada", apitest.StrongPassword) // not locked by the tries above
		if pw.User["has_password"] != true {
			t.Fatalf("has_password %v after the password was set", pw.User["has_password"])
		}
		e.As(pw.AccessToken, http.MethodDelete, "/v1/me/identities/"+ids.Identities[0].ID, nil).Expect(http.StatusNoContent)
	})
}

// Lockout applies to a provider's sign-in as to a password's.
func TestProviderSignInLockedAccount(t *testing.T) {
	fed := fedtest.Start(t)
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(apitest.Vars{"LOCKOUT_THRESHOLD": "3", "PROVIDER_CORP_LINK_BY_EMAIL": "true"}), func(t *testing.T, e *apitest.Env) {
		ada := e.Signup("ada")
		e.As(e.AdminLogin().AccessToken, http.MethodPatch, "/v1/users/"+idOf(ada), map[string]any{"email_verified": true}).Expect(http.StatusOK)
		signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK)
		for range 3 {
			e.Request(http.MethodPost, "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-password"}).Expect(http.StatusUnauthorized)
		}
		signInCorp(t, e, fed, adaAtCorp).ExpectProblem(http.StatusTooManyRequests, "too_many_attempts")
	})
}

// The account safety rules hold for identities: an unproved mailbox links
// none, a link and an unlink are told to the address, and a reset that
// proves the mailbox removes the identities linked before it.
func TestProviderIdentitiesFollowTheSafetyRules(t *testing.T) {
	fed := fedtest.Start(t)
	unproved := oidctest.User{Username: "una", Password: "op-pass", Email: "una@example.com", GivenName: "Una"}
	fed.OP.AddUser(unproved)
	fed.OP.AddUser(adaAtCorp)
	eachDBMail(t, fed.Vars(apitest.Vars{"EMAIL_VERIFICATION": "optional"}), func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		admin := e.AdminLogin().AccessToken
		tk := e.SignupLogin("mine")
		_, challenge := fedtest.PKCE()
		e.As(tk.AccessToken, http.MethodPost, "/v1/me/identities/corp/link", map[string]any{
			"redirect_uri": fedtest.AppRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "password": apitest.StrongPassword,
		}).ExpectProblem(http.StatusForbidden, "email_unverified")

		e.As(admin, http.MethodPatch, "/v1/users/"+idOf(tk.User), map[string]any{"email_verified": true}).Expect(http.StatusOK)
		flushMail(e)
		if q := linkCorp(t, e, fed, tk.AccessToken, apitest.StrongPassword); q.Get("linked") != "corp" {
			t.Fatalf("link: %v", q)
		}
		var ids identitiesJSON
		e.As(tk.AccessToken, http.MethodGet, "/v1/me/identities", nil).Expect(http.StatusOK).Decode(&ids)
		e.As(tk.AccessToken, http.MethodDelete, "/v1/me/identities/"+ids.Identities[0].ID, nil).Expect(http.StatusNoContent)
		deliverMail(e, 2)
		if got := strings.Join(subjectsTo(t, srv, "mine@example.com"), "|"); !strings.Contains(got, "An account elsewhere was linked") ||
			!strings.Contains(got, "A linked account was removed") {
			t.Fatalf("notices: %q", got)
		}

		// The provider does not vouch for una's address: her new account is
		// unproved, and gets the usual verification mail.
		var una fedTokens
		signInCorp(t, e, fed, unproved).Expect(http.StatusOK).Decode(&una)
		if !slices.Equal(una.User.Identities, []string{"corp"}) {
			t.Fatalf("una: %+v", una.User)
		}
		user := e.As(admin, http.MethodGet, "/v1/users/"+una.User.ID, nil).Expect(http.StatusOK).JSON()["user"].(map[string]any)
		if user["email_verified"] != false {
			t.Fatalf("an address the provider did not vouch for is verified: %v", user)
		}
		deliverMail(e, 1)
		verifyToken(t, srv, "una@example.com", "Confirm your email address")

		// Whoever holds the mailbox resets the password: the identity goes.
		forgotPW(e, "una@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 1)
		resetPW(e, lastToken(t, srv, "una@example.com"), "another-Harbor-tunnel-77!").Expect(http.StatusOK)
		user = e.As(admin, http.MethodGet, "/v1/users/"+una.User.ID, nil).Expect(http.StatusOK).JSON()["user"].(map[string]any)
		if fmt.Sprint(user["identities"]) != "[]" || user["email_verified"] != true || user["has_password"] != true {
			t.Fatalf("after the reset: %v", user)
		}
		if n := countRows(t, e, rebindQ(e, "SELECT count(*) FROM identities WHERE user_id = ?"), una.User.ID); n != 0 {
			t.Fatalf("%d identities left", n)
		}
	})
}

// In cookie mode the exchange answers as a login does: the refresh token in
// its cookie, never in the body.
func TestProviderExchangeInCookieMode(t *testing.T) {
	fed := fedtest.StartFor(t, cookieVars["PUBLIC_URL"])
	fed.OP.AddUser(adaAtCorp)
	apitest.Each(t, fed.Vars(cookieVars), func(t *testing.T, e *apitest.Env) {
		r := signInCorp(t, e, fed, adaAtCorp).Expect(http.StatusOK)
		if strings.Contains(string(r.Body), "refresh_token") {
			t.Fatalf("the body holds a refresh token in cookie mode: %s", r.Body)
		}
		cookies := setCookies(t, r)
		if cookies[refreshCookie] == nil || !cookies[refreshCookie].HttpOnly || cookies[csrfCookie] == nil {
			t.Fatalf("cookies %v", r.Header.Values("Set-Cookie"))
		}
	})
}
