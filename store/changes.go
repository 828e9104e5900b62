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
	AllUsers bool        `json:"users,omitempty"` // every account (not sessions)
	All      bool        `json:"all,omitempty"`   // everything: sessions and accounts
	Keys     bool        `json:"k,omitempty"`     // the signing keys (a rotation)
	// Nonce names the NOTIFY that carried the change (PostgreSQL), so that the
	// instance that made it can wait until it hears it back: by then the other
	// instances have heard it too.
	Nonce string `json:"n,omitempty"`
}

// merge makes one change of several.
func merge(cs []Change) Change {
	var m Change
	for _, c := range cs {
		m.Sessions = append(m.Sessions, c.Sessions...)
		m.Users = append(m.Users, c.Users...)
		m.AllUsers = m.AllUsers || c.AllUsers
		m.All = m.All || c.All
		m.Keys = m.Keys || c.Keys
	}
	return m
}

// ChangeChannel is the PostgreSQL NOTIFY channel on which every instance hears
// the changes committed by any of them; on AckChannel each says it has heard
// one (by its Nonce), so that the instance that made it knows when all have.
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
// (PostgreSQL only; SQLite is one process). It returns the merged change, to
// publish here once committed.
func (s *Store) notify(ctx context.Context, cs []Change) (Change, error) {
	merged := merge(cs)
	if s.dialect != Postgres || len(cs) == 0 {
		return merged, nil
	}
	merged.Nonce = uuid.NewString()
	payload, err := json.Marshal(merged)
	if err != nil {
		return merged, err
	}
	if len(payload) > maxNotifyPayload {
		merged = Change{All: true, Nonce: merged.Nonce}
		payload, _ = json.Marshal(merged)
	}
	return merged, s.conn(ctx).Exec("SELECT pg_notify(?, ?)", ChangeChannel, string(payload)).Error
}

func (s *Store) publish(c Change) {
	if len(c.Sessions) == 0 && len(c.Users) == 0 && !c.AllUsers && !c.All && !c.Keys {
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
