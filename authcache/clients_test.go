package authcache_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// Service clients and personal access tokens live the maximum age.
func TestClientAndPersonalTokenMaxAge(t *testing.T) {
	c, clock := newCache()
	sc := &store.ServiceClient{Client: models.Client{ID: uuid.New(), Name: "billing"}}
	pt := models.PersonalToken{ID: uuid.New(), UserID: uuid.New(), Name: "script"}
	c.PutClient(c.Generation(), sc)
	c.PutPersonalToken(c.Generation(), "authsvc_pat_one", pt)

	if got, ok := c.Client(sc.ID); !ok || got != sc {
		t.Fatal("a fresh client is not cached")
	}
	if _, ok := c.Client(uuid.New()); ok {
		t.Fatal("an unknown client hits")
	}
	if got, ok := c.PersonalToken("authsvc_pat_one"); !ok || got.ID != pt.ID || got.UserID != pt.UserID {
		t.Fatal("a fresh personal token is not cached")
	}
	if _, ok := c.PersonalToken("authsvc_pat_other"); ok {
		t.Fatal("an unknown personal token hits")
	}

	clock.Advance(time.Minute - time.Nanosecond)
	if _, ok := c.Client(sc.ID); !ok {
		t.Fatal("a client is forgotten before the maximum age")
	}
	if _, ok := c.PersonalToken("authsvc_pat_one"); !ok {
		t.Fatal("a personal token is forgotten before the maximum age")
	}
	clock.Advance(time.Nanosecond)
	if _, ok := c.Client(sc.ID); ok {
		t.Fatal("a client is served at the maximum age")
	}
	if _, ok := c.PersonalToken("authsvc_pat_one"); ok {
		t.Fatal("a personal token is served at the maximum age")
	}

	// A shorter maximum age (the channel is down) applies to what is cached already.
	c.PutClient(c.Generation(), sc)
	c.PutPersonalToken(c.Generation(), "authsvc_pat_one", pt)
	clock.Advance(2 * time.Second)
	c.SetMaxAge(time.Second)
	if _, ok := c.Client(sc.ID); ok {
		t.Fatal("a client outlives a shortened maximum age")
	}
	if _, ok := c.PersonalToken("authsvc_pat_one"); ok {
		t.Fatal("a personal token outlives a shortened maximum age")
	}
}

// A client or personal token read before an invalidation is not stored after
// it: it may be what the invalidation made stale (a client disabled, a token
// revoked while the read was in flight).
func TestClientAndPersonalTokenNoStaleWriteBack(t *testing.T) {
	for _, ch := range []store.Change{
		{Clients: []uuid.UUID{uuid.New()}}, // any invalidation, even of something else
		{Tokens: []uuid.UUID{uuid.New()}},
		{Sessions: []uuid.UUID{uuid.New()}},
		{All: true},
	} {
		c, _ := newCache()
		sc := &store.ServiceClient{Client: models.Client{ID: uuid.New()}}
		pt := models.PersonalToken{ID: uuid.New()}
		gen := c.Generation() // the reads start
		c.Invalidate(ch)
		c.PutClient(gen, sc) // their results arrive
		c.PutPersonalToken(gen, "authsvc_pat_one", pt)
		if _, ok := c.Client(sc.ID); ok {
			t.Errorf("%+v: a client read before it was cached after it", ch)
		}
		if _, ok := c.PersonalToken("authsvc_pat_one"); ok {
			t.Errorf("%+v: a personal token read before it was cached after it", ch)
		}
		// Read again after the invalidation: cached.
		c.PutClient(c.Generation(), sc)
		c.PutPersonalToken(c.Generation(), "authsvc_pat_one", pt)
		if _, ok := c.Client(sc.ID); !ok {
			t.Errorf("%+v: a client read after it is not cached", ch)
		}
		if _, ok := c.PersonalToken("authsvc_pat_one"); !ok {
			t.Errorf("%+v: a personal token read after it is not cached", ch)
		}
	}
}

// Clients are forgotten by the changes that name them, personal tokens by
// the changes that name their id (they are cached by the token), and both by
// everything; other changes leave them.
func TestClientAndPersonalTokenInvalidation(t *testing.T) {
	c, _ := newCache()
	sc := &store.ServiceClient{Client: models.Client{ID: uuid.New()}}
	other := &store.ServiceClient{Client: models.Client{ID: uuid.New()}}
	pt := models.PersonalToken{ID: uuid.New(), UserID: uuid.New()}
	otherPT := models.PersonalToken{ID: uuid.New(), UserID: pt.UserID}
	put := func() {
		c.PutClient(c.Generation(), sc)
		c.PutClient(c.Generation(), other)
		c.PutPersonalToken(c.Generation(), "authsvc_pat_one", pt)
		c.PutPersonalToken(c.Generation(), "authsvc_pat_two", otherPT)
	}
	for _, tc := range []struct {
		name                  string
		ch                    store.Change
		clientGone, tokenGone bool
	}{
		{"its client", store.Change{Clients: []uuid.UUID{sc.ID}}, true, false},
		{"another client", store.Change{Clients: []uuid.UUID{uuid.New()}}, false, false},
		{"its token", store.Change{Tokens: []uuid.UUID{pt.ID}}, false, true},
		{"another token", store.Change{Tokens: []uuid.UUID{uuid.New()}}, false, false},
		{"a session with the token's id", store.Change{Sessions: []uuid.UUID{pt.ID, sc.ID}}, false, false},
		{"a user with the client's id", store.Change{Users: []uuid.UUID{sc.ID}}, false, false},
		{"every account", store.Change{AllUsers: true}, false, false},
		{"the keys", store.Change{Keys: true}, false, false},
		{"everything", store.Change{All: true}, true, true},
		{"client and token at once", store.Change{Clients: []uuid.UUID{sc.ID}, Tokens: []uuid.UUID{pt.ID}}, true, true},
	} {
		put()
		c.Invalidate(tc.ch)
		_, cok := c.Client(sc.ID)
		_, tok := c.PersonalToken("authsvc_pat_one")
		if cok == tc.clientGone || tok == tc.tokenGone {
			t.Errorf("%s: client cached %v, token cached %v; want %v, %v", tc.name, cok, tok, !tc.clientGone, !tc.tokenGone)
		}
		_, ocok := c.Client(other.ID)
		_, otok := c.PersonalToken("authsvc_pat_two")
		if !tc.ch.All && (!ocok || !otok) {
			t.Errorf("%s: the other client (%v) or token (%v) was forgotten", tc.name, ocok, otok)
		}
	}

	// A token revoked after its entry was replaced by a newer read of it (its
	// last use recorded) is still forgotten.
	put()
	pt2 := pt
	now := time.Now()
	pt2.LastUsedAt = &now
	c.PutPersonalToken(c.Generation(), "authsvc_pat_one", pt2)
	c.Invalidate(store.Change{Tokens: []uuid.UUID{pt.ID}})
	if _, ok := c.PersonalToken("authsvc_pat_one"); ok {
		t.Error("a re-put token survived its revocation")
	}
}
