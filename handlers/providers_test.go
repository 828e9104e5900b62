package handlers_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/githubtest"
	"github.com/authsvc/authsvc/internal/oidctest"
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
