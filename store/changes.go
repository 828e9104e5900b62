package store

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/google/uuid"
)

// Change says what a committed write made stale for those who cache what the
// store says (the hot path's caches): sessions revoked, users changed, or
// every account at once (a role's permissions changed, every user deleted).
type Change struct {
	Sessions []uuid.UUID `json:"s,omitempty"`
	Users    []uuid.UUID `json:"u,omitempty"`
	Clients  []uuid.UUID `json:"c,omitempty"`     // service clients (their secrets, sids, permissions)
	Tokens   []uuid.UUID `json:"t,omitempty"`     // personal access tokens revoked
	AllUsers bool        `json:"users,omitempty"` // every account (not sessions)
	All      bool        `json:"all,omitempty"`   // everything: sessions and accounts
	Keys     bool        `json:"k,omitempty"`     // the signing keys (a rotation)
	// Await: the transaction asked that its commit be seen by every instance
	// before the caller goes on (AwaitPropagation), so the subscribers here
	// wait until every listening instance has acknowledged it. Without it a
	// change is announced and forgotten here, and nobody waits.
	Await bool `json:"-"`
	// Nonce names the NOTIFY that carried an awaited change (PostgreSQL), so
	// that the instance that made it can wait until it hears each instance's
	// acknowledgement. Other changes carry none, and nobody acknowledges them.
	Nonce string `json:"n,omitempty"`
}

// empty: the change makes nothing stale (Await alone is no change).
func (c Change) empty() bool {
	return len(c.Sessions) == 0 && len(c.Users) == 0 && len(c.Clients) == 0 && len(c.Tokens) == 0 && !c.AllUsers && !c.All && !c.Keys
}

// merge makes one change of several.
func merge(cs []Change) Change {
	var m Change
	for _, c := range cs {
		m.Sessions = append(m.Sessions, c.Sessions...)
		m.Users = append(m.Users, c.Users...)
		m.Clients = append(m.Clients, c.Clients...)
		m.Tokens = append(m.Tokens, c.Tokens...)
		m.AllUsers = m.AllUsers || c.AllUsers
		m.All = m.All || c.All
		m.Keys = m.Keys || c.Keys
		m.Await = m.Await || c.Await
	}
	return m
}

// AwaitPropagation makes the commit of this transaction wait until every
// instance listening on the database has forgotten what the transaction made
// stale (at most authcache.AckWait), so that once the caller says "done" no
// instance answers from before it: for revocations and for changes of who may
// do what. Call it on the transaction's store (InTx) in the operation that
// needs it; every other commit is announced without waiting. A transaction
// that changes nothing announced waits for nothing. Outside a transaction it
// does nothing: each statement there is announced as it commits, unawaited.
func (s *Store) AwaitPropagation() {
	if s.pending != nil {
		*s.pending = append(*s.pending, Change{Await: true})
	}
}

// ChangeChannel is the PostgreSQL NOTIFY channel on which every instance hears
// the changes committed by any of them; on AckChannel each says it has heard
// an awaited one (by its Nonce), so that the instance that made it knows when
// all have.
const (
	ChangeChannel = "authsvc_changes"
	AckChannel    = "authsvc_change_acks"
	// ListenerName is the application_name of the connections that listen.
	ListenerName = "authsvc-cache-listener"
)

// CountListeners counts the instances listening to ChangeChannel on this database.
func (s *Store) CountListeners(ctx context.Context) (int, error) {
	var n int64
	err := s.conn(ctx).Raw("SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()",
		ListenerName).Scan(&n).Error
	return int(n), err
}

// maxNotifyPayload keeps a NOTIFY under PostgreSQL's 8000-byte limit; a larger
// change is sent as "everything changed".
const maxNotifyPayload = 7000

// changeHooks are the subscribers of one opened store, shared by the stores
// bound to its transactions.
type changeHooks struct {
	mu   sync.RWMutex
	subs []func(Change)
}

// OnChange calls fn with every change this process commits, after the commit
// (other instances hear it through ChangeChannel).
func (s *Store) OnChange(fn func(Change)) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.subs = append(s.hooks.subs, fn)
}

// changed records a change: inside a transaction for after its commit (and,
// on PostgreSQL, as a NOTIFY that is delivered at the commit, not before);
// outside one, at once, the statement having committed already.
func (s *Store) changed(ctx context.Context, c Change) error {
	if s.pending != nil {
		*s.pending = append(*s.pending, c)
		return nil
	}
	c, err := s.notify(ctx, []Change{c})
	if err != nil {
		return err
	}
	s.publish(c)
	return nil
}

// notify merges the changes into one and sends it to the other instances
// (PostgreSQL only; SQLite is one process), with a Nonce to acknowledge when
// it is awaited. It returns the merged change, to publish here once committed.
func (s *Store) notify(ctx context.Context, cs []Change) (Change, error) {
	merged := merge(cs)
	if s.dialect != Postgres || merged.empty() {
		return merged, nil
	}
	if merged.Await {
		merged.Nonce = uuid.NewString()
	}
	payload, err := json.Marshal(merged)
	if err != nil {
		return merged, err
	}
	if len(payload) > maxNotifyPayload {
		merged = Change{All: true, Await: merged.Await, Nonce: merged.Nonce}
		payload, _ = json.Marshal(merged)
	}
	return merged, s.conn(ctx).Exec("SELECT pg_notify(?, ?)", ChangeChannel, string(payload)).Error
}

func (s *Store) publish(c Change) {
	if c.empty() {
		return
	}
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	for _, fn := range s.hooks.subs {
		fn(c)
	}
}

// ParseChange reads a ChangeChannel payload; an unreadable one stands for everything.
func ParseChange(payload string) Change {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return Change{All: true}
	}
	return c
}
