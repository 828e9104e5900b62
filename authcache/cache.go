// Package authcache keeps what the hot path asks on every request — is this
// access token's signature good, is its session live, who is its user — in
// memory, and forgets it the moment the database says it changed: every
// committed change is announced by the store (store.OnChange) and, across
// instances, by PostgreSQL NOTIFY (Listen). A maximum age bounds what a lost
// announcement can cost; it shrinks to a second or so while the channel is down.
package authcache

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// Ages of cached sessions and accounts.
const (
	// ListeningMaxAge: while every change reaches us, entries live this long anyway,
	// as a safety net.
	ListeningMaxAge = 30 * time.Second
	// FallbackMaxAge: while changes may be missed (the channel is down, or other
	// processes write without telling us), entries live this long at most.
	FallbackMaxAge = time.Second
)

// maxEntries bounds each map; when one is full it starts over (a burst of
// misses, not unbounded memory).
const maxEntries = 100_000

// Cache holds verified tokens, sessions and accounts. The zero value is not
// usable; call New.
type Cache struct {
	now    func() time.Time
	maxAge atomic.Int64 // time.Duration
	// gen counts invalidations: a value read from the database before an
	// invalidation must not be stored after it.
	gen atomic.Uint64

	// Acknowledgements of recent changes by nonce, and who waits for them.
	listeners func(context.Context) (int, error)
	after     func(time.Duration) <-chan time.Time // time.After; tests stop the clock
	echoMu    sync.Mutex
	acks      map[string]int
	acksQ     []string
	waiting   map[string]waiter

	keysChanged func() // set before use (OnKeysChanged); nil: nobody to tell

	mu       sync.RWMutex
	tokens   map[[32]byte]*token.Claims
	sessions map[uuid.UUID]entry[models.Session]
	accounts map[uuid.UUID]entry[*store.Account]
	clients  map[uuid.UUID]entry[*store.ServiceClient]
	// Personal access tokens by the digest of the token, and that digest by id.
	pats    map[[32]byte]entry[models.PersonalToken]
	patKeys map[uuid.UUID][32]byte
}

type entry[T any] struct {
	v  T
	at time.Time
}

// New makes an empty cache whose entries live at most maxAge.
func New(now func() time.Time, maxAge time.Duration) *Cache {
	c := &Cache{now: now, after: time.After, acks: map[string]int{}, waiting: map[string]waiter{}}
	c.maxAge.Store(int64(maxAge))
	c.reset(true)
	return c
}

func (c *Cache) reset(tokens bool) {
	if tokens {
		c.tokens = map[[32]byte]*token.Claims{}
	}
	c.sessions = map[uuid.UUID]entry[models.Session]{}
	c.accounts = map[uuid.UUID]entry[*store.Account]{}
	c.clients = map[uuid.UUID]entry[*store.ServiceClient]{}
	c.pats, c.patKeys = map[[32]byte]entry[models.PersonalToken]{}, map[uuid.UUID][32]byte{}
}

// SetMaxAge changes how long entries live from now on.
func (c *Cache) SetMaxAge(d time.Duration) { c.maxAge.Store(int64(d)) }

// MaxAge is how long entries live.
func (c *Cache) MaxAge() time.Duration { return time.Duration(c.maxAge.Load()) }

// Generation is read before a database read whose result will be put back.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

// Token returns the claims of a token verified before, until its exp.
func (c *Cache) Token(raw string) (*token.Claims, bool) {
	k := tokenKey(raw)
	c.mu.RLock()
	claims, ok := c.tokens[k]
	c.mu.RUnlock()
	if !ok || claims.ExpiresAt == nil || !c.now().Before(claims.ExpiresAt.Time) {
		return nil, false
	}
	return claims, true
}

// PutToken remembers a verified token's claims (treated as read-only).
func (c *Cache) PutToken(raw string, claims *token.Claims) {
	k := tokenKey(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) >= maxEntries {
		c.tokens = map[[32]byte]*token.Claims{}
	}
	c.tokens[k] = claims
}

// Session returns a session read within the maximum age.
func (c *Cache) Session(id uuid.UUID) (models.Session, bool) {
	c.mu.RLock()
	e, ok := c.sessions[id]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.MaxAge() {
		return models.Session{}, false
	}
	return e.v, true
}

// PutSession remembers a session read at generation gen.
func (c *Cache) PutSession(gen uint64, s models.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.sessions) >= maxEntries {
		c.sessions = map[uuid.UUID]entry[models.Session]{}
	}
	c.sessions[s.ID] = entry[models.Session]{v: s, at: c.now()}
}

// Account returns an account read within the maximum age (treated as read-only).
func (c *Cache) Account(id uuid.UUID) (*store.Account, bool) {
	c.mu.RLock()
	e, ok := c.accounts[id]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.MaxAge() {
		return nil, false
	}
	return e.v, true
}

// PutAccount remembers an account read at generation gen.
func (c *Cache) PutAccount(gen uint64, a *store.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.accounts) >= maxEntries {
		c.accounts = map[uuid.UUID]entry[*store.Account]{}
	}
	c.accounts[a.ID] = entry[*store.Account]{v: a, at: c.now()}
}

// Client returns a service client read within the maximum age (treated as read-only).
func (c *Cache) Client(id uuid.UUID) (*store.ServiceClient, bool) {
	c.mu.RLock()
	e, ok := c.clients[id]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.MaxAge() {
		return nil, false
	}
	return e.v, true
}

// PutClient remembers a service client read at generation gen.
func (c *Cache) PutClient(gen uint64, sc *store.ServiceClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.clients) >= maxEntries {
		c.clients = map[uuid.UUID]entry[*store.ServiceClient]{}
	}
	c.clients[sc.ID] = entry[*store.ServiceClient]{v: sc, at: c.now()}
}

// PersonalToken returns the personal access token raw stands for, read
// within the maximum age.
func (c *Cache) PersonalToken(raw string) (models.PersonalToken, bool) {
	k := tokenKey(raw)
	c.mu.RLock()
	e, ok := c.pats[k]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.MaxAge() {
		return models.PersonalToken{}, false
	}
	return e.v, true
}

// PutPersonalToken remembers the personal access token raw stands for, read at generation gen.
func (c *Cache) PutPersonalToken(gen uint64, raw string, t models.PersonalToken) {
	k := tokenKey(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.pats) >= maxEntries {
		c.pats, c.patKeys = map[[32]byte]entry[models.PersonalToken]{}, map[uuid.UUID][32]byte{}
	}
	c.pats[k] = entry[models.PersonalToken]{v: t, at: c.now()}
	c.patKeys[t.ID] = k
}

// AckWait bounds how long a change made here waits for every instance to
// say it has forgotten what the change made stale.
const AckWait = 250 * time.Millisecond

// ackedKept is how many recent nonces' acknowledgements are remembered: they
// may arrive before their maker starts waiting.
const ackedKept = 1024

// Changed is for changes this instance committed (store.OnChange): it forgets
// what they made stale here. For an awaited change (store.AwaitPropagation),
// while listening, it then waits (at most AckWait) until every listening
// instance has acknowledged it: a client told "done" then finds no stale
// answer on any instance. Any other change returns at once; the other
// instances forget it when its NOTIFY reaches them.
func (c *Cache) Changed(ch store.Change) {
	c.Invalidate(ch)
	if !ch.Await || ch.Nonce == "" || c.MaxAge() != ListeningMaxAge || c.listeners == nil {
		return
	}
	timeout := c.after(AckWait) // for the count and the acknowledgements together
	ctx, cancel := context.WithTimeout(context.Background(), AckWait)
	defer cancel()
	n, err := c.listeners(ctx)
	if err != nil {
		return
	}
	c.echoMu.Lock()
	if c.acks[ch.Nonce] >= n {
		c.echoMu.Unlock()
		return
	}
	done := make(chan struct{})
	c.waiting[ch.Nonce] = waiter{want: n, done: done}
	c.echoMu.Unlock()
	select {
	case <-done:
	case <-timeout: // an instance that does not answer has its channel down: its entries live FallbackMaxAge
		c.echoMu.Lock()
		delete(c.waiting, ch.Nonce)
		c.echoMu.Unlock()
	}
}

// acked counts an instance's acknowledgement of the change named nonce.
func (c *Cache) acked(nonce string) {
	c.echoMu.Lock()
	defer c.echoMu.Unlock()
	if _, ok := c.acks[nonce]; !ok {
		c.acksQ = append(c.acksQ, nonce)
		if len(c.acksQ) > ackedKept {
			delete(c.acks, c.acksQ[0])
			c.acksQ = c.acksQ[1:]
		}
	}
	c.acks[nonce]++
	if w, ok := c.waiting[nonce]; ok && c.acks[nonce] >= w.want {
		close(w.done)
		delete(c.waiting, nonce)
	}
}

type waiter struct {
	want int
	done chan struct{}
}

// CountListenersWith tells the cache how to count the listening instances
// (store.CountListeners), which it does for awaited changes only; without it,
// changes made here do not wait for acknowledgements.
func (c *Cache) CountListenersWith(f func(context.Context) (int, error)) { c.listeners = f }

// OnKeysChanged has fn called for every change of the signing keys (or of
// everything) the cache hears of: the key set lives elsewhere (keys.Manager).
func (c *Cache) OnKeysChanged(fn func()) { c.keysChanged = fn }

// Invalidate forgets what ch made stale.
func (c *Cache) Invalidate(ch store.Change) {
	if (ch.Keys || ch.All) && c.keysChanged != nil {
		c.keysChanged()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	switch {
	case ch.All:
		c.reset(false) // a token's signature does not change
		return
	case ch.AllUsers:
		c.accounts = map[uuid.UUID]entry[*store.Account]{}
	}
	for _, id := range ch.Sessions {
		delete(c.sessions, id)
	}
	for _, id := range ch.Users {
		delete(c.accounts, id)
	}
	for _, id := range ch.Clients {
		delete(c.clients, id)
	}
	for _, id := range ch.Tokens {
		delete(c.pats, c.patKeys[id])
		delete(c.patKeys, id)
	}
}
