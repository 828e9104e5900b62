package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/authsvc/authsvc/config"
)

// maxAPIAnswer bounds what is read of one GitHub API answer.
const maxAPIAnswer = 1 << 20

// gitHub is GitHub (or GitHub Enterprise): OAuth 2.0, then its user API says
// who signed in. Its subject is the user's numeric id, which a rename keeps.
type gitHub struct {
	cfg    config.Provider
	oauth  oauth2.Config
	client *http.Client
}

func newGitHub(cfg config.Provider, callbackURL string, client *http.Client) *gitHub {
	return &gitHub{cfg: cfg, client: client, oauth: oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: callbackURL, Scopes: cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}}
}

func (g *gitHub) Config() config.Provider { return g.cfg }

func (g *gitHub) AuthCodeURL(_ context.Context, state, _, verifier string) (string, error) {
	return g.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

func (g *gitHub) Redeem(ctx context.Context, code, verifier, _ string) (*Identity, error) {
	tok, err := g.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, g.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, callError(err)
	}
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := g.get(ctx, tok.AccessToken, "/user", &user); err != nil {
		return nil, err
	}
	if user.ID <= 0 {
		return nil, fmt.Errorf("%w: GitHub's user has no id", ErrProvider)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := g.get(ctx, tok.AccessToken, "/user/emails", &emails); err != nil {
		return nil, err
	}
	id := &Identity{Subject: strconv.FormatInt(user.ID, 10), Username: user.Login, Name: user.Name}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	return id, nil
}

// VerifyIDToken: GitHub issues no ID tokens.
func (g *gitHub) VerifyIDToken(context.Context, string, string) (*Identity, error) {
	return nil, ErrNoIDTokens
}

// get reads one answer of GitHub's API into v.
func (g *gitHub) get(ctx context.Context, accessToken, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.cfg.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := g.client.Do(req)
	if err != nil {
		return callError(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: GitHub %s answered %s", ErrUnavailable, path, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: GitHub %s answered %s", ErrProvider, path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAPIAnswer)).Decode(v); err != nil {
		return callError(fmt.Errorf("GitHub %s: %w", path, err))
	}
	return nil
}
