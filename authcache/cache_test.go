package authcache_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

func newCache() (*authcache.Cache, *testdb.Clock) {
	clock := testdb.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return authcache.New(clock.Now, time.Minute), clock
}

// Tokens are kept until their exp, never after.
func TestTokenUntilExp(t *testing.T) {
	c, clock := newCache()
	claims := &token.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(clock.Now().Add(10 * time.Second))}}
	c.PutToken("tok", claims)
	if got, ok := c.Token("tok"); !ok || got != claims {
		t.Fatal("a fresh token is not cached")
	}
	if _, ok := c.Token("other"); ok {
		t.Fatal("an unknown token hits")
	}
	clock.Advance(10 * time.Second)
	if _, ok := c.Token("tok"); ok {
		t.Fatal("a token is served at its exp")
	}
}

// Sessions and accounts live the maximum age, and are forgotten by the changes
// that name them (or everything).
func TestMaxAgeAndInvalidation(t *testing.T) {
	c, clock := newCache()
	s := models.Session{ID: uuid.New(), UserID: uuid.New()}
	a := &store.Account{User: models.User{ID: s.UserID}}
	put := func() {
		c.PutSession(c.Generation(), s)
		c.PutAccount(c.Generation(), a)
	}
	has := func() (bool, bool) {
		_, sok := c.Session(s.ID)
		_, aok := c.Account(a.ID)
		return sok, aok
	}
	put()
	if sok, aok := has(); !sok || !aok {
		t.Fatal("not cached")
	}
	clock.Advance(time.Minute)
	if sok, aok := has(); sok || aok {
		t.Fatal("served past the maximum age")
	}

	for _, tc := range []struct {
		name     string
		ch       store.Change
		sessGone bool
		acctGone bool
	}{
		{"its session", store.Change{Sessions: []uuid.UUID{s.ID}}, true, false},
		{"another session", store.Change{Sessions: []uuid.UUID{uuid.New()}}, false, false},
		{"its user", store.Change{Users: []uuid.UUID{a.ID}}, false, true},
		{"every account", store.Change{AllUsers: true}, false, true},
		{"everything", store.Change{All: true}, true, true},
	} {
		put()
		c.Invalidate(tc.ch)
		if sok, aok := has(); sok == tc.sessGone || aok == tc.acctGone {
			t.Errorf("%s: session cached %v, account cached %v", tc.name, sok, aok)
		}
	}
}

// A value read before an invalidation is not stored after it: it may be what
// the invalidation made stale.
func TestNoStaleWriteBack(t *testing.T) {
	c, _ := newCache()
	s := models.Session{ID: uuid.New()}
	gen := c.Generation() // the read starts
	c.Invalidate(store.Change{Sessions: []uuid.UUID{s.ID}})
	c.PutSession(gen, s) // the read's result arrives
	if _, ok := c.Session(s.ID); ok {
		t.Fatal("a value read before an invalidation was cached after it")
	}
}

// A change made here does not wait for acknowledgements unless the cache listens.
func TestChangedDoesNotWaitWhenNotListening(t *testing.T) {
	c, _ := newCache()
	start := time.Now()
	c.Changed(store.Change{Users: []uuid.UUID{uuid.New()}, Nonce: "n1"})
	if d := time.Since(start); d >= authcache.AckWait {
		t.Fatalf("waited %v", d)
	}
}
