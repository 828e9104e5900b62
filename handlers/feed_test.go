package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

type feedPayload struct {
	Iss         string `json:"iss"`
	Iat         int64  `json:"iat"`
	Revocations []struct {
		SID string `json:"sid"`
		Exp int64  `json:"exp"`
	} `json:"revocations"`
	NextCursor string `json:"next_cursor"`
}

// readFeed fetches a page of the feed and verifies it as a gateway would:
// signature by kid from the JWKS, typ revocations+jwt.
func readFeed(t *testing.T, e *apitest.Env, since string) (feedPayload, *apitest.Response) {
	t.Helper()
	path := "/v1/auth/revocations"
	if since != "" {
		path += "?since=" + url.QueryEscape(since)
	}
	r := e.Request("GET", path, nil, gatewayAuth()...).Expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "application/jwt" {
		t.Fatalf("Content-Type %q", ct)
	}
	msg, err := jws.Parse(r.Body)
	testdb.Must(t, err)
	if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "revocations+jwt" {
		t.Fatalf("typ %q", typ)
	}
	body, err := jws.Verify(r.Body, jws.WithKeySet(discoverJWKS(t, e).set, jws.WithInferAlgorithmFromKey(true)))
	if err != nil {
		t.Fatalf("the feed does not verify with the JWKS: %v", err)
	}
	var p feedPayload
	testdb.Must(t, json.Unmarshal(body, &p))
	return p, r
}

func sids(p feedPayload) []string {
	out := []string{}
	for _, r := range p.Revocations {
		out = append(out, r.SID)
	}
	return out
}

// TestRevocationFeed: logouts enter the signed feed with the expiry of their
// last access token; cursors page on and repeat at the end; an unchanged page
// is 304 for its ETag; entries leave when their tokens have expired; only
// configured clients read it; the feed is never an access token.
func TestRevocationFeed(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Request("GET", "/v1/auth/revocations", nil).ExpectProblem(401, "invalid_client")
		e.Request("GET", "/v1/auth/revocations?since=garbage", nil, gatewayAuth()...).ExpectProblem(400, "invalid_cursor")

		first := e.SignupLogin("ann")
		e.As(first.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
		revokedAt := e.Clock.Now()
		p, r := readFeed(t, e, "")
		if len(p.Revocations) != 1 || p.Revocations[0].SID != first.SessionID || p.Iss != "http://authsvc.test" {
			t.Fatalf("feed %+v; want ann's session", p)
		}
		if want := revokedAt.Add(15 * time.Minute).Unix(); p.Revocations[0].Exp != want {
			t.Errorf("exp %d; want %d (the last access token's expiry)", p.Revocations[0].Exp, want)
		}
		// The feed is no access token.
		e.As(string(r.Body), "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")

		// At the end: an empty list and the same cursor; the same answer is 304.
		end, r := readFeed(t, e, p.NextCursor)
		if len(end.Revocations) != 0 || end.NextCursor != p.NextCursor {
			t.Fatalf("after the last entry: %+v; want an empty list and the same cursor", end)
		}
		etag := r.Header.Get("ETag")
		e.Request("GET", "/v1/auth/revocations?since="+url.QueryEscape(p.NextCursor), nil,
			append(gatewayAuth(), "If-None-Match", etag)...).Expect(http.StatusNotModified)

		// A new revocation appears after the cursor, and only it.
		second := e.SignupLogin("bob")
		e.Clock.Advance(time.Minute)
		admin := e.AdminLogin().AccessToken
		e.As(admin, "DELETE", "/v1/users/"+idOf(second.User)+"/sessions", nil).Expect(204)
		e.Request("GET", "/v1/auth/revocations?since="+url.QueryEscape(p.NextCursor), nil,
			append(gatewayAuth(), "If-None-Match", etag)...).Expect(http.StatusOK)
		more, _ := readFeed(t, e, p.NextCursor)
		if got := sids(more); len(got) != 1 || got[0] != second.SessionID {
			t.Fatalf("after the cursor: %v; want bob's session only", got)
		}
		if all, _ := readFeed(t, e, ""); len(all.Revocations) != 2 {
			t.Fatalf("without a cursor: %v; want both", sids(all))
		}

		// Once ann's last token has expired (bob's, revoked a minute later, not yet),
		// ann's entry leaves the feed.
		e.Clock.Advance(14*time.Minute + 30*time.Second)
		if left, _ := readFeed(t, e, ""); len(left.Revocations) != 1 || left.Revocations[0].SID != second.SessionID {
			t.Fatalf("after ann's tokens expired: %v; want bob's only", sids(left))
		}
	})
}

// TestRevocationFeedNeverSkips: on PostgreSQL a revocation whose transaction
// commits after a later-numbered one is still listed after a cursor handed out
// in between: the feed waits for transactions still running.
func TestRevocationFeedNeverSkips(t *testing.T) {
	e := apitest.New(t, store.Postgres, nil)
	db := dbOf(t, e)
	ctx := context.Background()
	slow, err := db.BeginTx(ctx, nil)
	testdb.Must(t, err)
	defer slow.Rollback()
	held := uuid.New()
	exp := e.Clock.Now().Add(time.Hour)
	_, err = slow.ExecContext(ctx, "INSERT INTO revocations (session_id, expires_at, created_at) VALUES ($1, $2, $3)", held, exp, e.Clock.Now())
	testdb.Must(t, err)

	tk := e.SignupLogin("quick")
	e.As(tk.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200) // commits first
	p, _ := readFeed(t, e, "")
	if len(p.Revocations) != 0 {
		t.Fatalf("listed %v while an older transaction still runs; its entry would be skipped", sids(p))
	}
	testdb.Must(t, slow.Commit())
	p, _ = readFeed(t, e, p.NextCursor)
	if got := sids(p); len(got) != 2 || got[0] != held.String() || got[1] != tk.SessionID {
		t.Fatalf("after the commit: %v; want the held entry, then the logout", got)
	}
}
