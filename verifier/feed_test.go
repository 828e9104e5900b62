package verifier_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/verifier"
)

// TestRevokedSessionRefused: after a Refresh, a session the feed lists is
// refused and every other one still accepted.
func TestRevokedSessionRefused(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	ctx := context.Background()
	if err := v.Ready(); err != nil {
		t.Fatalf("not ready after New: %v", err)
	}
	gone, live := a.token("sid-gone", nil), a.token("sid-live", nil)
	a.revoke(a.clock.Now().Add(15*time.Minute), "sid-gone")
	// Until the verifier reads the feed, it cannot know.
	if _, err := v.Verify(ctx, gone); err != nil {
		t.Fatalf("before the poll: %v", err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(ctx, gone)
	expectErr(t, err, verifier.ErrRevoked)
	if _, err := v.Verify(ctx, live); err != nil {
		t.Fatalf("another session: %v", err)
	}
}

// TestFeedPagesFollowed: one Refresh follows next_cursor to the empty page,
// and the next one starts from there and gets a 304.
func TestFeedPagesFollowed(t *testing.T) {
	a := newAuthsvc(t)
	a.set(func(a *authsvc) { a.pageSize = 3 })
	v := a.newVerifier(nil)
	ctx := context.Background()
	var sids []string
	for i := range 10 {
		sids = append(sids, fmt.Sprintf("sid-%02d", i))
	}
	a.revoke(a.clock.Now().Add(15*time.Minute), sids...)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, sid := range sids {
		_, err := v.Verify(ctx, a.token(sid, nil))
		expectErr(t, err, verifier.ErrRevoked)
	}
	if _, err := v.Verify(ctx, a.token("sid-live", nil)); err != nil {
		t.Fatalf("a session not listed: %v", err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// New read the empty feed from the start; then 4 pages and the empty one; then the 304.
	want := []string{"", "c0", "c3", "c6", "c9", "c10", "c10"}
	if !slices.Equal(a.feedQueries, want) {
		t.Errorf("since of each request %q; want %q", a.feedQueries, want)
	}
	if a.feedAnswers[http.StatusNotModified] != 1 {
		t.Errorf("answers %v; want the last poll to be a 304", a.feedAnswers)
	}
}

// TestFeedConditionalPolls: the poller sends the last ETag back, so an
// unchanged feed answers 304; a new revocation is a 200 again.
func TestFeedConditionalPolls(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	ctx := context.Background()
	for range 3 {
		if err := v.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	answers := func() map[int]int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return map[int]int{200: a.feedAnswers[200], 304: a.feedAnswers[304]}
	}
	if got := answers(); got[304] != 3 {
		t.Errorf("feed answers %v; want a 304 for each unchanged poll", got)
	}
	a.revoke(a.clock.Now().Add(15*time.Minute), "sid-gone")
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(ctx, a.token("sid-gone", nil))
	expectErr(t, err, verifier.ErrRevoked)
	if got := answers(); got[200] < 2 {
		t.Errorf("feed answers %v; want a 200 for the new revocation", got)
	}
}

// TestRevocationForgottenAfterItsExp: an entry is kept until its exp (the
// session's last token's) plus leeway, then dropped.
func TestRevocationForgottenAfterItsExp(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(nil)
	ctx := context.Background()
	// A token outliving its entry, which authsvc never issues, shows the drop.
	tok := a.token("sid-1", nil)
	a.revoke(a.clock.Now().Add(time.Minute), "sid-1")
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Minute + 5*time.Second)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(ctx, tok)
	expectErr(t, err, verifier.ErrRevoked)
	a.clock.Advance(time.Second)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the entry's exp and leeway: %v", err)
	}
}

// TestBadFeedRefused: a page that does not verify as the issuer's feed fails
// the Refresh, and nothing in it is applied.
func TestBadFeedRefused(t *testing.T) {
	stranger := newKey(t, "ES256")
	for name, tc := range map[string]struct {
		change func(a *authsvc)
		reason string
	}{
		"signed by an unknown key": {func(a *authsvc) { a.feedSigner = stranger }, "unknown kid"},
		"an access token's typ":    {func(a *authsvc) { a.feedType = verifier.AccessTokenType }, "typ"},
		"another issuer":           {func(a *authsvc) { a.feedIssuer = "https://evil.test" }, "iss"},
		"server error":             {func(a *authsvc) { a.feedStatus = http.StatusInternalServerError }, "500"},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAuthsvc(t)
			v := a.newVerifier(nil)
			a.revoke(a.clock.Now().Add(15*time.Minute), "sid-1")
			a.set(tc.change)
			err := v.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Refresh: %v; want an error about %q", err, tc.reason)
			}
			if _, err := v.Verify(context.Background(), a.token("sid-1", nil)); err != nil {
				t.Fatalf("applied a refused page: %v", err)
			}
		})
	}
}

// TestFeedCredentials: the feed is read with the client's HTTP Basic
// credentials; wrong ones leave the verifier failing closed.
func TestFeedCredentials(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.ClientSecret = "wrong" })
	err := v.Ready()
	expectErr(t, err, verifier.ErrFeedStale)
	if !strings.Contains(err.Error(), "never read") || !strings.Contains(err.Error(), "401") {
		t.Errorf("Ready: %v; want never read, 401", err)
	}
	_, err = v.Verify(context.Background(), a.token("sid-1", nil))
	expectErr(t, err, verifier.ErrFeedStale)
}

// TestStaleFeedFailsClosed: once the feed has not been read for
// MaxFeedStaleness, tokens are refused (503 in the middleware) until it is.
func TestStaleFeedFailsClosed(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.MaxFeedStaleness = 2 * time.Second })
	ctx := context.Background()
	tok := a.token("sid-1", nil)
	a.set(func(a *authsvc) { a.feedStatus = http.StatusServiceUnavailable })
	a.clock.Advance(time.Second)
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh with the feed down succeeded")
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within the staleness bound: %v", err)
	}
	a.clock.Advance(1001 * time.Millisecond)
	_, err := v.Verify(ctx, tok)
	expectErr(t, err, verifier.ErrFeedStale)
	expectErr(t, v.Ready(), verifier.ErrFeedStale)
	if !strings.Contains(v.Ready().Error(), "503") {
		t.Errorf("Ready: %v; want the last error", v.Ready())
	}
	res := get(t, serve(t, v.Middleware(ok)), tok)
	expectProblem(t, res, 503, "unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	a.set(func(a *authsvc) { a.feedStatus = 0 })
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Ready(); err != nil {
		t.Fatalf("Ready after a good read: %v", err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the feed is back: %v", err)
	}
}

// TestWithoutFeed: with no FeedURL, nothing is polled and nothing goes stale.
func TestWithoutFeed(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.FeedURL = "" })
	tok := a.token("sid-1", nil)
	a.revoke(a.clock.Now().Add(time.Hour), "sid-1")
	a.clock.Advance(10 * time.Minute)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := v.Ready(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := a.feedRequests.count(); n != 0 {
		t.Errorf("%d feed requests; want none", n)
	}
}

// TestPollerAppliesRevocations: the background poller, without Refresh,
// applies a revocation at its next poll; Close stops it.
func TestPollerAppliesRevocations(t *testing.T) {
	a := newAuthsvc(t)
	v := a.newVerifier(func(c *verifier.Config) { c.PollInterval = 5 * time.Millisecond })
	tok := a.token("sid-1", nil)
	a.revoke(a.clock.Now().Add(15*time.Minute), "sid-1")
	// The first request that starts from now on reads the entry; once the next
	// one has started, the poller has applied it.
	a.feedRequests.waitPast(t, a.feedRequests.count()+1)
	_, err := v.Verify(context.Background(), tok)
	expectErr(t, err, verifier.ErrRevoked)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
