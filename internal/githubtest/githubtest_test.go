package githubtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authsvc/authsvc/internal/githubtest"
)

const callback = "http://app.test/callback/github"

func setup(t *testing.T) (*githubtest.GitHub, oauth2.Config) {
	g := githubtest.Start(t)
	g.AddClient("app", "s3cret")
	return g, oauth2.Config{ClientID: "app", ClientSecret: "s3cret", Endpoint: g.Endpoint(),
		RedirectURL: callback, Scopes: []string{"read:user", "user:email"}}
}

// signIn runs authorize with PKCE and returns the code.
func signIn(t *testing.T, g *githubtest.GitHub, conf oauth2.Config, v string) string {
	t.Helper()
	cb := g.SignIn(t, nil, conf.AuthCodeURL("st8", oauth2.S256ChallengeOption(v)))
	if !strings.HasPrefix(cb.String(), callback+"?") || cb.Query().Get("state") != "st8" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}
	return cb.Query().Get("code")
}

func getJSON(t *testing.T, client *http.Client, u string, v any) int {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestFlow(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		g, conf := setup(t)
		conf.Endpoint.AuthStyle = style
		g.SetUser(githubtest.User{ID: 7, Login: "alice", Name: "Alice", Emails: []githubtest.Email{
			{Email: "old@example.test", Verified: false},
			{Email: "alice@example.test", Primary: true, Verified: true},
		}})
		v := oauth2.GenerateVerifier()
		tok, err := conf.Exchange(context.Background(), signIn(t, g, conf, v), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "bearer" || tok.Extra("scope") != "read:user,user:email" {
			t.Errorf("token %+v scope %v", tok, tok.Extra("scope"))
		}
		client := conf.Client(context.Background(), tok)

		var user struct {
			ID    int64   `json:"id"`
			Login string  `json:"login"`
			Name  string  `json:"name"`
			Email *string `json:"email"`
		}
		if getJSON(t, client, g.APIURL+"/user", &user) != 200 || user.ID != 7 || user.Login != "alice" || user.Name != "Alice" || user.Email != nil {
			t.Errorf("/user %+v", user)
		}
		var emails []struct {
			Email             string
			Primary, Verified bool
		}
		if getJSON(t, client, g.APIURL+"/user/emails", &emails) != 200 || len(emails) != 2 ||
			emails[1] != (struct {
				Email             string
				Primary, Verified bool
			}{"alice@example.test", true, true}) {
			t.Errorf("/user/emails %+v", emails)
		}
	}
}

func TestDefaultUserAndTokenScheme(t *testing.T) {
	g, conf := setup(t)
	conf.Scopes = []string{"read:user"} // no user:email
	v := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(context.Background(), signIn(t, g, conf, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", g.APIURL+"/user", nil)
	req.Header.Set("Authorization", "token "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var user map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&user)
	resp.Body.Close()
	if user["id"] != float64(12345) || user["login"] != "octocat" || user["name"] != "The Octocat" || user["email"] != nil {
		t.Errorf("/user %v", user)
	}
	var msg map[string]any
	if code := getJSON(t, conf.Client(context.Background(), tok), g.APIURL+"/user/emails", &msg); code != 404 {
		t.Errorf("/user/emails without user:email: %d %v", code, msg)
	}
	if code := getJSON(t, http.DefaultClient, g.APIURL+"/user", &msg); code != 401 {
		t.Errorf("/user without token: %d", code)
	}
}

func TestJSONAndFormErrors(t *testing.T) {
	g, conf := setup(t)
	v := oauth2.GenerateVerifier()
	code := signIn(t, g, conf, v)
	post := func(accept string, form url.Values) (string, string) {
		req, _ := http.NewRequest("POST", g.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
		return resp.Header.Get("Content-Type"), string(b)
	}
	base := url.Values{"client_id": {"app"}, "client_secret": {"s3cret"}, "code": {code}, "redirect_uri": {callback}}
	if ct, body := post("", base); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || !strings.Contains(body, "error=bad_verification_code") {
		t.Errorf("missing verifier: %s %s", ct, body)
	}
	wrong := url.Values{"client_id": {"app"}, "client_secret": {"nope"}, "code": {code}}
	if ct, body := post("application/json", wrong); !strings.HasPrefix(ct, "application/json") || !strings.Contains(body, `"error":"incorrect_client_credentials"`) {
		t.Errorf("wrong secret: %s %s", ct, body)
	}
	base.Set("code_verifier", v)
	if _, body := post("application/json", base); !strings.Contains(body, `"access_token":"gho_`) || !strings.Contains(body, `"token_type":"bearer"`) {
		t.Errorf("JSON token: %s", body)
	}
	// Used once: now gone. x/oauth2 surfaces the 200-with-error as RetrieveError.
	_, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "bad_verification_code" {
		t.Errorf("reused code: %v", err)
	}
}

func TestDeniedAndFailureModes(t *testing.T) {
	g, conf := setup(t)
	g.SetDenied(true)
	cb := g.SignIn(t, nil, conf.AuthCodeURL("s"))
	if cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != "s" || cb.Query().Has("code") {
		t.Errorf("denied: %s", cb)
	}
	g.SetDenied(false)

	v := oauth2.GenerateVerifier()
	code := signIn(t, g, conf, v)
	g.SetDown(true)
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(v)); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("down: %v", err)
	}
	g.SetDown(false)
	g.SetGarbage(true)
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(v)); err == nil {
		t.Error("garbage token response accepted")
	}
	g.SetGarbage(false)
	g.SetSlow(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err == nil {
		t.Error("slow GitHub answered within the timeout")
	}
	g.SetSlow(0)
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(v)); err != nil {
		t.Errorf("recovered: %v", err)
	}
}
