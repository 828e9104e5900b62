package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// twoInstances starts a second service on the first one's PostgreSQL database
// and waits until both hear each other's changes.
func twoInstances(t *testing.T) (a, b *apitest.Env) {
	t.Helper()
	a = apitest.New(t, store.Postgres, nil)
	b = apitest.NewOn(t, a.URL, nil)
	for _, e := range []*apitest.Env{a, b} {
		waitListening(t, e)
	}
	return a, b
}

// waitListening waits until the instance's cache hears the change channel.
func waitListening(t *testing.T, e *apitest.Env) {
	t.Helper()
	waitMaxAge(t, e, authcache.ListeningMaxAge)
}

// waitMaxAge waits until the instance's cache entries live want.
func waitMaxAge(t *testing.T, e *apitest.Env, want time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.App.Cache.MaxAge() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the cache's max age is not %v within 10 s", want)
		}
		time.Sleep(time.Millisecond) // the listener stays down at least 100 ms before it reconnects
	}
}

// cachedOn asks e for /v1/me until e keeps the token's session and account
// in its cache: a change committed on another instance just before (a login's
// last_login_at, which nobody waits for) may reach e while it reads, and e
// then does not keep what it read.
func cachedOn(t *testing.T, e *apitest.Env, tk apitest.Tokens) {
	t.Helper()
	sid, uid := uuid.MustParse(tk.SessionID), uuid.MustParse(idOf(tk.User))
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
		_, session := e.App.Cache.Session(sid)
		if _, account := e.App.Cache.Account(uid); session && account {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session and account are not cached within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCacheAcrossInstances: with the hot path cached on two instances of one
// PostgreSQL database, a session revoked through A is refused by B on its very
// next request, and a profile changed through A is seen by B as soon as A's
// notice reaches it (a profile change does not wait for acknowledgements).
func TestCacheAcrossInstances(t *testing.T) {
	a, b := twoInstances(t)
	tk := a.SignupLogin("roamer")
	admin := a.AdminLogin().AccessToken
	for range 3 { // cached on B now
		b.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
		b.As(tk.AccessToken, "GET", "/v1/auth/session", nil).Expect(200)
	}
	b.As(tk.AccessToken, "GET", "/v1/users", nil).ExpectProblem(http.StatusForbidden, "forbidden")

	// A role change through A: B's cached account and permission checks follow at once.
	a.As(admin, "POST", "/v1/roles", map[string]any{"name": "reader", "permissions": []string{"users:read"}}).Expect(201)
	other := a.SignupLogin("watcher")
	b.As(other.AccessToken, "GET", "/v1/me", nil).Expect(200)
	a.As(admin, "PATCH", "/v1/roles/reader", map[string]any{"description": "Reads users."}).Expect(200)
	cachedOn(t, b, other)
	a.As(admin, "PATCH", "/v1/users/"+idOf(other.User), map[string]any{"first_name": "Wendy"}).Expect(200)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) { // B's clock stands still: only the notice makes B read again
		u := b.As(other.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if u["first_name"] == "Wendy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B shows first_name %v 5 s after A changed it", u["first_name"])
		}
	}

	// Logout through A: B refuses the token on its very next request.
	a.As(tk.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
	b.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
	b.As(tk.AccessToken, "GET", "/v1/auth/session", nil).ExpectProblem(401, "session_revoked")
}

// TestCacheStalenessIsBounded: a change that reaches no notification (written
// behind the service's back) is seen once the entries age out: after
// ListeningMaxAge while the channel is up, after FallbackMaxAge while it is
// cut; and reconnecting forgets everything cached.
func TestCacheStalenessIsBounded(t *testing.T) {
	a, b := twoInstances(t)
	db := dbOf(t, a)
	revokeBehindBack := func(sid string) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), "UPDATE sessions SET revoked_at = now() WHERE id = $1", sid); err != nil {
			t.Fatal(err)
		}
	}

	// Channel up: cached until ListeningMaxAge.
	tk := a.SignupLogin("quiet")
	cachedOn(t, b, tk)
	revokeBehindBack(tk.SessionID)
	b.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200) // no one told B
	b.Clock.Advance(authcache.ListeningMaxAge)
	b.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")

	// Channel cut: B reconnects and forgets what it cached meanwhile.
	tk = a.SignupLogin("cut")
	b.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
	if _, err := db.ExecContext(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'authsvc-cache-listener' AND datname = current_database()"); err != nil {
		t.Fatal(err)
	}
	waitMaxAge(t, b, authcache.FallbackMaxAge) // B has noticed the cut
	revokeBehindBack(tk.SessionID)
	waitListening(t, b) // back, having forgotten what it cached
	b.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
}

// TestCacheFallbackAge: where no change channel runs (SQLite, which other
// processes such as the command line may write), entries live FallbackMaxAge.
func TestCacheFallbackAge(t *testing.T) {
	e := apitest.New(t, store.SQLite, nil)
	if e.App.Cache.MaxAge() != authcache.FallbackMaxAge {
		t.Fatalf("max age %v; want %v", e.App.Cache.MaxAge(), authcache.FallbackMaxAge)
	}
	tk := e.SignupLogin("local")
	e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
	db := dbOf(t, e)
	_, err := db.ExecContext(context.Background(), "UPDATE sessions SET revoked_at = ? WHERE id = ?", e.Clock.Now().UTC(), tk.SessionID)
	testdb.Must(t, err)
	e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
	e.Clock.Advance(authcache.FallbackMaxAge)
	e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
}

// TestKeyRotationReachesOtherInstancesAtOnce: a rotation through A (or the
// command line) makes B sign with the new key at once, through the change
// channel, not at its next 30 s reload.
func TestKeyRotationReachesOtherInstancesAtOnce(t *testing.T) {
	a, b := twoInstances(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go b.App.Keys.Run(ctx) // what serve runs; its own reload is 30 s away
	before := b.App.Keys.KeySet().Signing().KID
	cur, err := a.App.Keys.Rotate(ctx)
	testdb.Must(t, err)
	if cur.KID == before {
		t.Fatal("the rotation kept the signing key")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.App.Keys.KeySet().Signing().KID != cur.KID {
		if time.Now().After(deadline) {
			t.Fatalf("B still signs with %s 5 s after the rotation to %s", b.App.Keys.KeySet().Signing().KID, cur.KID)
		}
		time.Sleep(time.Millisecond)
	}
	tk := b.SignupLogin("fresh") // signed by the new key on B, accepted by A
	a.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
}
