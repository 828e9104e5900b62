package cluster

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/githubtest"
	"github.com/authsvc/authsvc/internal/oidctest"
)

// Sign-in with external identity providers, each browser step on another
// instance: the state authorize writes, the one-time code the callback
// writes, the nonce and PKCE verifier authsvc derives from the state (under
// SECRET_KEY) must all be where, or what, the next instance finds. States and
// codes are single use across the instances, however many present them at once.

// opPassword is every provider user's password at the OpenID provider.
const opPassword = "Op-pass-for-cluster-tests-31!"

// TestProvidersAcrossInstances runs three instances configured for a real
// OpenID Connect provider ("corp", zitadel's op) and a fake GitHub, on one
// fresh PostgreSQL database.
func TestProvidersAcrossInstances(t *testing.T) {
	vars := clusterVars(t)
	fed := fedtest.StartFor(t, vars["PUBLIC_URL"])
	// Linking needs a confirmed address unless verification is off; these
	// checks are about the flow, not about mail.
	maps.Copy(vars, fed.Vars(apitest.Vars{"EMAIL_VERIFICATION": "off"}))
	c := startCluster(t, vars, 3)
	p := &fedCluster{cluster: c, fed: fed}

	t.Run("OIDC: authorize on A, callback on B, exchange on C; state and code once", p.oidcSignIn)
	t.Run("GitHub: authorize on B, callback on C, exchange on A", p.githubSignIn)
	t.Run("link started on A, callback on B, listed on C, signs in on A", p.linkAcrossInstances)
	t.Run("one callback and one code presented to three instances at once: one wins", p.races)
}

// fedCluster is a cluster with the providers it is configured for.
type fedCluster struct {
	*cluster
	fed *fedtest.Providers
}

// opUser adds a fresh user of this run at the OpenID provider.
func (p *fedCluster) opUser(name string) oidctest.User {
	u := oidctest.User{Username: fmt.Sprintf("%s-%s-%d", name, p.run, p.seq.Add(1)), Password: opPassword,
		EmailVerified: true, GivenName: strings.ToUpper(name[:1]) + name[1:], FamilyName: "Corp"}
	u.Email = u.Username + "@corp.cluster.test"
	p.fed.OP.AddUser(u)
	return u
}

// get sends a browser's GET to nd from ip (the harness follows no redirect:
// the 302s of authorize and the callback are the answers under test).
func (c *cluster) get(nd *node, ip, path string) (res, error) {
	return c.call(nd, ip, http.MethodGet, path, "", nil)
}

// browse is get, failing the test on a transport error.
func (c *cluster) browse(t *testing.T, nd *node, ip, path string) res {
	t.Helper()
	r, err := c.get(nd, ip, path)
	if err != nil {
		t.Fatalf("instance %s: GET %s: %v", nd.name, path, err)
	}
	return r
}

// authorize starts a sign-in with provider on instance i: the provider URL
// authsvc sends the browser to.
func (p *fedCluster) authorize(t *testing.T, i int, ip, provider, challenge string) string {
	t.Helper()
	r := p.browse(t, p.node(i), ip, fedtest.AuthorizePath(provider, challenge))
	to := r.header.Get("Location")
	if r.status != http.StatusFound || to == "" {
		t.Fatalf("authorize %s on %s: %v; want 302 to the provider", provider, p.node(i).name, r)
	}
	return to
}

// callbackURL checks that the provider sent the browser back to provider's
// callback under PUBLIC_URL, with a state.
func (p *fedCluster) callbackURL(t *testing.T, provider string, cb *url.URL) *url.URL {
	t.Helper()
	want := p.vars["PUBLIC_URL"] + "/v1/auth/providers/" + provider + "/callback"
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != want || cb.Query().Get("state") == "" || cb.Query().Get("code") == "" {
		t.Fatalf("the provider sent the browser to %s; want %s with code and state", cb, want)
	}
	return cb
}

// callback delivers the provider's redirect to instance i and returns the
// query of the app's redirect URI it answers 302 to.
func (p *fedCluster) callback(t *testing.T, i int, ip string, cb *url.URL) url.Values {
	t.Helper()
	r := p.browse(t, p.node(i), ip, cb.RequestURI())
	to, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || err != nil {
		t.Fatalf("callback on %s: %v; want 302 to the app", p.node(i).name, r)
	}
	if got := to.Scheme + "://" + to.Host + to.Path; got != fedtest.AppRedirect {
		t.Fatalf("callback on %s sent the browser to %s; want the app's %s", p.node(i).name, to, fedtest.AppRedirect)
	}
	return to.Query()
}

// exchange spends a callback's code on instance i.
func (p *fedCluster) exchange(t *testing.T, i int, ip, code, verifier string) res {
	t.Helper()
	return p.must(t, p.node(i), ip, "POST", "/v1/auth/providers/exchange", "", map[string]any{"code": code, "code_verifier": verifier})
}

// wantProblem fails unless r is status with problem code.
func wantProblem(t *testing.T, what string, r res, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Errorf("%s: %v; want %d %s", what, r, status, code)
	}
}

// federated checks a token response of a sign-in at provider: amr ["fed"],
// and GET /v1/me on instance i says so with idp. It returns the user.
func (p *fedCluster) federated(t *testing.T, i int, ip, provider string, r res) map[string]any {
	t.Helper()
	tk := tokensOf(t, r)
	if got := amrOf(t, tk.access); !slices.Equal(got, []string{"fed"}) {
		t.Errorf("amr of a sign-in at %s: %v; want [fed]", provider, got)
	}
	me := p.must(t, p.node(i), ip, "GET", "/v1/me", tk.access, nil)
	amr, _ := me.body["amr"].([]any)
	if me.status != http.StatusOK || me.str("idp") != provider || len(amr) != 1 || amr[0] != "fed" {
		t.Errorf("GET /v1/me on %s with the token: %v; want idp %s and amr [fed]", p.node(i).name, me, provider)
	}
	u, _ := r.body["user"].(map[string]any)
	if u == nil || u["id"] == nil {
		t.Fatalf("token response without a user: %v", r)
	}
	return u
}

// identitiesOf is a user view's "identities".
func identitiesOf(u map[string]any) []string {
	var out []string
	list, _ := u["identities"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// oidcSignIn: the brief's flow. The provider's login happens between A and
// B; the callback redeems the provider's code with a verifier and checks a
// nonce that B derives from the state A made. The state then is spent for
// every instance, and so is the one-time code once C has exchanged it.
func (p *fedCluster) oidcSignIn(t *testing.T) {
	op := p.opUser("ada")
	verifier, challenge := fedtest.PKCE()
	ip := p.ip()

	to := p.authorize(t, 0, ip, "corp", challenge) // A
	if !strings.HasPrefix(to, p.fed.OP.Issuer+"/") {
		t.Fatalf("authorize on A sent the browser to %s; want the provider at %s", to, p.fed.OP.Issuer)
	}
	cb := p.callbackURL(t, "corp", p.fed.OP.SignIn(t, fedtest.Browser(t), to, op.Username, op.Password))
	q := p.callback(t, 1, ip, cb) // B
	code := q.Get("code")
	if code == "" || q.Get("error") != "" {
		t.Fatalf("callback on B for a flow started on A: app query %v; want a code", q)
	}
	for _, i := range []int{0, 2, 1} { // A, C and B itself
		wantProblem(t, "the state used on B, again on "+p.node(i).name, p.browse(t, p.node(i), ip, cb.RequestURI()),
			http.StatusBadRequest, "invalid_state")
	}

	u := p.federated(t, 0, ip, "corp", p.exchange(t, 2, ip, code, verifier)) // C, and the token on A
	if u["email"] != op.Email || u["has_password"] != false || u["email_verified"] != true ||
		!slices.Equal(identitiesOf(u), []string{"corp"}) {
		t.Errorf("account made by the sign-in: %v; want %s, verified, no password, identities [corp]", u, op.Email)
	}
	again := p.ip()
	for _, i := range []int{0, 1, 2} {
		wantProblem(t, "the code exchanged on C, again on "+p.node(i).name, p.exchange(t, i, again, code, verifier),
			http.StatusBadRequest, "invalid_grant")
	}

	// A second sign-in of the same person, with its steps on C, A, B: the same account.
	verifier, challenge = fedtest.PKCE()
	ip = p.ip()
	cb = p.callbackURL(t, "corp", p.fed.OP.SignIn(t, fedtest.Browser(t), p.authorize(t, 2, ip, "corp", challenge), op.Username, op.Password))
	q = p.callback(t, 0, ip, cb)
	second := p.federated(t, 1, ip, "corp", p.exchange(t, 1, ip, q.Get("code"), verifier))
	if second["id"] != u["id"] {
		t.Errorf("second sign-in (C, A, B) is account %v; want %v", second["id"], u["id"])
	}
}

// githubSignIn: GitHub's flow (no discovery, no ID token: the user API) with
// its steps on B, C, A.
func (p *fedCluster) githubSignIn(t *testing.T) {
	n := p.seq.Add(1)
	email := fmt.Sprintf("mona-%s-%d@github.cluster.test", p.run, n)
	p.fed.GitHub.SetUser(githubtest.User{ID: 7_000_000 + n, Login: fmt.Sprintf("mona-%s-%d", p.run, n), Name: "Mona Octocat",
		Emails: []githubtest.Email{{Email: email, Primary: true, Verified: true}}})
	verifier, challenge := fedtest.PKCE()
	ip := p.ip()

	to := p.authorize(t, 1, ip, "github", challenge) // B
	cb := p.callbackURL(t, "github", p.fed.GitHub.SignIn(t, fedtest.Browser(t), to))
	q := p.callback(t, 2, ip, cb) // C
	if q.Get("code") == "" {
		t.Fatalf("GitHub callback on C: app query %v; want a code", q)
	}
	wantProblem(t, "the GitHub state used on C, again on A", p.browse(t, p.node(0), ip, cb.RequestURI()), http.StatusBadRequest, "invalid_state")
	u := p.federated(t, 1, ip, "github", p.exchange(t, 0, ip, q.Get("code"), verifier)) // A, and the token on B
	if u["email"] != email || !slices.Equal(identitiesOf(u), []string{"github"}) {
		t.Errorf("account made by the GitHub sign-in: %v; want %s, identities [github]", u, email)
	}
	wantProblem(t, "the code exchanged on A, again on B", p.exchange(t, 1, p.ip(), q.Get("code"), verifier), http.StatusBadRequest, "invalid_grant")
}

// linkAcrossInstances: a password account links a corp identity, the
// flow's steps on A and B (the flow row remembers whose account it is); C
// lists it, and a sign-in at corp is then that account.
func (p *fedCluster) linkAcrossInstances(t *testing.T) {
	u := p.newUser(t, 0)
	tk := p.login(t, 0, u)
	op := p.opUser("grace")
	_, challenge := fedtest.PKCE()

	r := p.must(t, p.node(0), u.ip, "POST", "/v1/me/identities/corp/link", tk.access, map[string]any{ // A
		"redirect_uri": fedtest.AppRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "password": userPassword,
	})
	to := r.str("authorize_url")
	if r.status != http.StatusOK || !strings.HasPrefix(to, p.fed.OP.Issuer+"/") {
		t.Fatalf("POST /v1/me/identities/corp/link on A: %v; want 200 and the provider's URL", r)
	}
	cb := p.callbackURL(t, "corp", p.fed.OP.SignIn(t, fedtest.Browser(t), to, op.Username, op.Password))
	if q := p.callback(t, 1, u.ip, cb); q.Get("linked") != "corp" || q.Get("code") != "" { // B
		t.Fatalf("link callback on B: app query %v; want linked=corp and no code", q)
	}

	r = p.must(t, p.node(2), u.ip, "GET", "/v1/me/identities", tk.access, nil) // C
	list, _ := r.body["identities"].([]any)
	if r.status != http.StatusOK || len(list) != 1 {
		t.Fatalf("GET /v1/me/identities on C after the link: %v; want the one corp identity", r)
	}
	if ident, _ := list[0].(map[string]any); ident["provider"] != "corp" || ident["subject"] != "sub-"+op.Username {
		t.Errorf("identity listed on C: %v; want provider corp, subject sub-%s", ident, op.Username)
	}

	// Signing in at corp as that person is now the password account.
	verifier, challenge := fedtest.PKCE()
	ip := p.ip()
	cb = p.callbackURL(t, "corp", p.fed.OP.SignIn(t, fedtest.Browser(t), p.authorize(t, 1, ip, "corp", challenge), op.Username, op.Password))
	q := p.callback(t, 2, ip, cb)
	signedIn := p.federated(t, 0, ip, "corp", p.exchange(t, 0, ip, q.Get("code"), verifier))
	if signedIn["id"] != u.id || signedIn["has_password"] != true || !slices.Equal(identitiesOf(signedIn), []string{"corp"}) {
		t.Errorf("sign-in at corp after the link: %v; want account %s, with its password, identities [corp]", signedIn, u.id)
	}
}

// races: the same callback sent to the three instances at once is answered
// with a code once (the others: 400 invalid_state), and that code presented
// to the three at once is exchanged once (the others: 400 invalid_grant).
func (p *fedCluster) races(t *testing.T) {
	op := p.opUser("lin")
	verifier, challenge := fedtest.PKCE()
	ip := p.ip()
	cb := p.callbackURL(t, "corp", p.fed.OP.SignIn(t, fedtest.Browser(t), p.authorize(t, 0, ip, "corp", challenge), op.Username, op.Password))

	// all sends fn(i) to instance i, the three at once; a transport error fails the test.
	answers := make([]res, 3)
	all := func(fn func(i int) (res, error)) {
		t.Helper()
		errs := make([]error, len(answers))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range answers {
			wg.Go(func() { <-start; answers[i], errs[i] = fn(i) })
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("instance %s: %v", p.node(i).name, err)
			}
		}
	}
	all(func(i int) (res, error) { return p.get(p.node(i), ip, cb.RequestURI()) })
	var code string
	won, refused := 0, 0
	for i, r := range answers {
		switch {
		case r.status == http.StatusFound:
			won++
			to, err := url.Parse(r.header.Get("Location"))
			if err != nil || to.Query().Get("code") == "" {
				t.Fatalf("callback on %s: 302 to %q; want the app with a code", p.node(i).name, r.header.Get("Location"))
			}
			code = to.Query().Get("code")
		case r.status == http.StatusBadRequest && r.code() == "invalid_state":
			refused++
		default:
			t.Errorf("callback on %s, raced with two others: %v", p.node(i).name, r)
		}
	}
	if won != 1 || refused != 2 {
		t.Fatalf("one callback on three instances at once: %d redirects with a code, %d invalid_state; want 1 and 2", won, refused)
	}

	all(func(i int) (res, error) {
		return p.call(p.node(i), p.ip(), "POST", "/v1/auth/providers/exchange", "", map[string]any{"code": code, "code_verifier": verifier})
	})
	won, refused = 0, 0
	for i, r := range answers {
		switch {
		case r.status == http.StatusOK && r.str("access_token") != "":
			won++
		case r.status == http.StatusBadRequest && r.code() == "invalid_grant":
			refused++
		default:
			t.Errorf("exchange on %s, raced with two others: %v", p.node(i).name, r)
		}
	}
	if won != 1 || refused != 2 {
		t.Errorf("one code exchanged on three instances at once: %d token responses, %d invalid_grant; want 1 and 2", won, refused)
	}
}
