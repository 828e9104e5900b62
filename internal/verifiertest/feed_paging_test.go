package verifiertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
	"github.com/authsvc/authsvc/verifier"
)

// seedSessions opens n sessions of the user straight in the store (one
// transaction, no password hashing) and signs an access token for each, as a
// login would. The refresh tokens are never used: their hash is the session id. It returns the tokens by session id.
func seedSessions(t *testing.T, e *apitest.Env, user map[string]any, n int) map[string]string {
	t.Helper()
	ctx := context.Background()
	userID := uuid.MustParse(user["id"].(string))
	cfg := e.App.Config
	iss := token.NewIssuer(e.App.Keys.KeySet, token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL}, e.Clock.Now)
	now := e.Clock.Now()
	sessions := make([]*models.Session, n)
	err := e.App.Store.InTx(ctx, func(tx *store.Store) error {
		for i := range sessions {
			s := &models.Session{ID: uuid.Must(uuid.NewV7()), UserID: userID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
			rt := &models.RefreshToken{ID: uuid.Must(uuid.NewV7()), SessionID: s.ID, TokenHash: []byte(s.ID.String()), CreatedAt: now}
			if err := tx.CreateSession(ctx, s, rt); err != nil {
				return err
			}
			sessions[i] = s
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed %d sessions: %v", n, err)
	}
	out := make(map[string]string, n)
	for _, s := range sessions {
		tok, _, err := iss.Issue(token.Subject{
			UserID: userID, SessionID: s.ID, Username: user["username"].(string), Email: user["email"].(string), Roles: []string{"user"},
		})
		if err != nil {
			t.Fatal(err)
		}
		out[s.ID.String()] = tok
	}
	return out
}

// feedPage is one page of the feed as a gateway reads it, with the signature
// left to the verifier package (tested elsewhere).
type feedPage struct {
	Revocations []struct {
		SID string `json:"sid"`
	} `json:"revocations"`
	NextCursor string `json:"next_cursor"`
}

var gatewayBasic = "Basic " + base64.StdEncoding.EncodeToString([]byte(apitest.GatewayClient+":"+apitest.GatewaySecret))

// readPage fetches the page after cursor ("" for the start). It reports
// instead of failing, so that it can run outside the test goroutine.
func readPage(e *apitest.Env, cursor string) (feedPage, error) {
	path := "/v1/auth/revocations"
	if cursor != "" {
		path += "?since=" + url.QueryEscape(cursor)
	}
	var p feedPage
	r := e.Request("GET", path, nil, "Authorization", gatewayBasic)
	if r.Status != 200 {
		return p, fmt.Errorf("feed after %q: %d %s", cursor, r.Status, r.Body)
	}
	parts := strings.Split(string(r.Body), ".")
	if len(parts) != 3 {
		return p, fmt.Errorf("feed: not a compact JWS: %.80s", r.Body)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, err
	}
	if p.NextCursor == "" {
		return p, fmt.Errorf("feed after %q: no next_cursor", cursor)
	}
	return p, nil
}

// followFeed follows next_cursor from cursor to the empty page, returning the
// sessions listed and the last cursor.
func followFeed(e *apitest.Env, cursor string) ([]string, string, error) {
	var sids []string
	for {
		p, err := readPage(e, cursor)
		if err != nil {
			return sids, cursor, err
		}
		if len(p.Revocations) == 0 {
			return sids, cursor, nil
		}
		for _, r := range p.Revocations {
			sids = append(sids, r.SID)
		}
		cursor = p.NextCursor
	}
}

// TestFeedPagesReachTheVerifier: more revocations than fit on one page (1,000)
// are all listed by following next_cursor, on pages of at most 1,000, ending in
// an empty page with the same cursor; one Refresh of the verifier follows the
// pages and refuses every one of those tokens, and no one else's.
func TestFeedPagesReachTheVerifier(t *testing.T) {
	apitest.Each(t, apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"}, func(t *testing.T, e *apitest.Env) {
		started := time.Now()
		ctx := context.Background()
		admin := e.AdminLogin()
		bystander := e.SignupLogin("bystander")
		// Two revocations of 600 and 450 sessions: the page boundary falls
		// inside the second transaction's entries.
		revoked := map[string]string{}
		var users []map[string]any
		for _, u := range []struct {
			name     string
			sessions int
		}{{"many", 600}, {"more", 450}} {
			user := e.Signup(u.name)
			users = append(users, user)
			for sid, tok := range seedSessions(t, e, user, u.sessions) {
				revoked[sid] = tok
			}
		}
		v := verifierFor(t, e, time.Hour) // no background poll: only Refresh applies the feed
		if err := v.Ready(); err != nil {
			t.Fatal(err)
		}
		for sid, tok := range revoked {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("session %s before it is revoked: %v", sid, err)
			}
			break // one is enough: they are signed alike
		}
		t.Logf("seeded %d sessions in %s", len(revoked), time.Since(started))

		for _, user := range users {
			e.As(admin.AccessToken, "DELETE", "/v1/users/"+user["id"].(string)+"/sessions", nil).Expect(204)
		}

		// Following next_cursor from the start lists each exactly once. On
		// PostgreSQL the feed holds back entries while any transaction of the
		// server (in any database: other tests too) that began before their
		// commit still runs: read again until they are all past it.
		var seen map[string]int
		var sizes []int
		for deadline := time.Now().Add(30 * time.Second); ; {
			seen, sizes = map[string]int{}, nil
			cursor := ""
			for range 10 {
				p, err := readPage(e, cursor)
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(p.Revocations))
				if len(p.Revocations) > 1000 {
					t.Fatalf("a page of %d entries; at most 1,000", len(p.Revocations))
				}
				for _, r := range p.Revocations {
					seen[r.SID]++
				}
				if len(p.Revocations) == 0 {
					// (Without a cursor, an empty feed hands out one for its start.)
					if cursor != "" && p.NextCursor != cursor {
						t.Fatalf("the empty page moved the cursor from %q to %q", cursor, p.NextCursor)
					}
					break
				}
				cursor = p.NextCursor
			}
			if len(seen) >= len(revoked) || time.Now().After(deadline) {
				break
			}
		}
		if len(sizes) < 3 || sizes[len(sizes)-1] != 0 {
			t.Fatalf("page sizes %v; want two or more pages, then an empty one", sizes)
		}
		var wrong []string
		for sid := range revoked {
			if seen[sid] != 1 {
				wrong = append(wrong, fmt.Sprintf("%s listed %d times", sid, seen[sid]))
			}
		}
		if len(wrong) > 0 || len(seen) != len(revoked) {
			t.Errorf("the feed lists %d sessions; want the %d revoked, each once; %d are not: %.5q",
				len(seen), len(revoked), len(wrong), wrong)
		}

		// One poll of the verifier reads every page.
		if err := v.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for _, tok := range revoked {
			if _, err := v.Verify(ctx, tok); err == nil {
				accepted++
			} else {
				expectErr(t, err, verifier.ErrRevoked)
			}
		}
		if accepted != 0 {
			t.Errorf("the verifier still accepts %d of the %d revoked tokens", accepted, len(revoked))
		}
		if _, err := v.Verify(ctx, bystander.AccessToken); err != nil {
			t.Errorf("someone else's token: %v", err)
		}
		t.Logf("page sizes %v; %s in all", sizes, time.Since(started))
	})
}

// TestFeedCursorNeverSkipsConcurrentRevocations: on PostgreSQL, where sequence
// order is not commit order, many logouts committing at once while a reader
// follows next_cursor (and a verifier polls in the background) leave no entry
// behind a cursor handed out before it committed: in the end the reader has
// seen every revoked session exactly once, and the verifier refuses them all.
func TestFeedCursorNeverSkipsConcurrentRevocations(t *testing.T) {
	const writers, perWriter = 12, 30
	e := apitest.New(t, store.Postgres, apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"})
	started := time.Now()
	ctx := context.Background()
	tokens := make([]map[string]string, writers)
	all := map[string]string{}
	for w := range tokens {
		tokens[w] = seedSessions(t, e, e.Signup(fmt.Sprintf("writer%02d", w)), perWriter)
		for sid, tok := range tokens[w] {
			all[sid] = tok
		}
	}
	bystander := e.SignupLogin("bystander")
	v := verifierFor(t, e, 10*time.Millisecond)
	if err := v.Ready(); err != nil {
		t.Fatal(err)
	}

	// The reader follows the cursor as fast as it can while the writers run.
	writing := make(chan struct{})
	seen := map[string]int{}
	var pages, duringWrites int
	var readErr error
	cursor := ""
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			select {
			case <-writing:
				return
			default:
			}
			p, err := readPage(e, cursor)
			if err != nil {
				readErr = err
				return
			}
			pages++
			for _, r := range p.Revocations {
				seen[r.SID]++
			}
			duringWrites += len(p.Revocations)
			cursor = p.NextCursor
		}
	}()

	// Each writer logs out its sessions one by one, the last few together.
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			i := 0
			for _, tok := range tokens[w] {
				body := map[string]any{}
				if i++; i == perWriter-4 {
					body["all"] = true // ends this and the 4 left in one transaction
				} else if i > perWriter-4 {
					continue
				}
				if r := e.As(tok, "POST", "/v1/auth/logout", body); r.Status != 200 {
					t.Errorf("writer %d: logout %d: %s", w, r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	wrote := time.Since(started)
	close(writing)
	<-read
	if readErr != nil {
		t.Fatal(readErr)
	}
	if t.Failed() {
		t.FailNow() // a logout failed: the set to look for is not known
	}

	// Wait until the feed read from the start lists every revocation: then all
	// of them have committed and the feed reads them (it waits for revocations in
	// flight, up to a second a read). From there,
	// following the reader's cursor to the end must bring what it has not seen.
	deadline := time.Now().Add(30 * time.Second)
	for {
		listed, _, err := followFeed(e, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) >= len(all) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the feed from the start lists %d of the %d revocations", len(listed), len(all))
		}
	}
	rest, _, err := followFeed(e, cursor)
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range rest {
		seen[sid]++
	}
	t.Logf("%d writers, %d revocations; the reader read %d pages, %d entries while the writes ran, %d after",
		writers, len(all), pages, duringWrites, len(rest))

	var missing []string
	for sid := range all {
		switch seen[sid] {
		case 0:
			missing = append(missing, sid)
		case 1:
		default:
			t.Errorf("session %s listed %d times after advancing cursors", sid, seen[sid])
		}
	}
	if len(missing) > 0 || len(seen) != len(all) {
		t.Fatalf("the cursor-following reader missed %d of %d revoked sessions (saw %d): %v",
			len(missing), len(all), len(seen), missing)
	}

	// The verifier polled during the writes with its own cursor: one more poll
	// and it refuses every token.
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, tok := range all {
		if _, err := v.Verify(ctx, tok); err == nil {
			accepted++
		}
	}
	if accepted != 0 {
		t.Errorf("the verifier still accepts %d of the %d revoked tokens", accepted, len(all))
	}
	if _, err := v.Verify(ctx, bystander.AccessToken); err != nil {
		t.Errorf("someone else's token: %v", err)
	}
	t.Logf("writes took %s; %s in all", wrote, time.Since(started))
}
