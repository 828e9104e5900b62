package authcache

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// awaitRig is one instance's store and cache, with two other instances that
// listen (the listener count says 2) but acknowledge only when the test does,
// and a clock for AckWait that runs only when the test says.
type awaitRig struct {
	st      *store.Store
	cache   *Cache
	counted chan struct{}      // a listener count, each time Changed asks for one
	asked   chan time.Duration // each wait Changed starts
	expire  chan time.Time     // what ends such a wait, when the test sends
	notices *pgx.Conn          // LISTENs on ChangeChannel, as another instance would
	got     chan store.Change  // what this instance's subscribers were handed
	errs    chan error         // commits that returned
}

func newAwaitRig(t *testing.T, dialect string) *awaitRig {
	t.Helper()
	ctx := context.Background()
	url := testdb.URL(t, dialect)
	st, err := store.Open(ctx, url, store.Options{})
	testdb.Must(t, err)
	t.Cleanup(func() { st.Close() })
	testdb.Must(t, st.Migrate(ctx))
	r := &awaitRig{
		st: st, cache: New(time.Now, ListeningMaxAge),
		counted: make(chan struct{}, 8), asked: make(chan time.Duration, 8), expire: make(chan time.Time),
		got: make(chan store.Change, 8), errs: make(chan error, 1),
	}
	r.cache.after = func(d time.Duration) <-chan time.Time { r.asked <- d; return r.expire }
	r.cache.CountListenersWith(func(context.Context) (int, error) { r.counted <- struct{}{}; return 2, nil })
	st.OnChange(r.cache.Changed)
	st.OnChange(func(ch store.Change) { r.got <- ch })
	if dialect == store.Postgres {
		r.notices, err = pgx.Connect(ctx, url)
		testdb.Must(t, err)
		t.Cleanup(func() { r.notices.Close(context.Background()) })
		_, err = r.notices.Exec(ctx, "LISTEN "+store.ChangeChannel)
		testdb.Must(t, err)
	}
	return r
}

// commit runs fn in a transaction in the background; its error arrives on r.errs.
func (r *awaitRig) commit(fn func(tx *store.Store) error) {
	go func() { r.errs <- r.st.InTx(context.Background(), fn) }()
}

// notice is the next change announced on ChangeChannel.
func (r *awaitRig) notice(t *testing.T) store.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := r.notices.WaitForNotification(ctx)
	testdb.Must(t, err)
	return store.ParseChange(n.Payload)
}

// stillWaiting fails if the commit has returned (it may not until the test
// acknowledges or ends the wait).
func (r *awaitRig) stillWaiting(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.errs:
		t.Fatalf("the awaited commit returned (%v) before every instance acknowledged it or AckWait passed", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func (r *awaitRig) returned(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.errs:
		testdb.Must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the commit did not return")
	}
}

// Only a transaction that asks for it (AwaitPropagation) waits for the other
// instances' acknowledgements; a login's write or a lockout counter commits,
// invalidates here and is announced, and nobody counts listeners or waits,
// though two instances listen and neither ever answers.
func TestOnlyAwaitedCommitsWait(t *testing.T) {
	ctx := context.Background()
	r := newAwaitRig(t, store.Postgres)
	id := uuid.New()
	until := time.Now().Add(time.Minute)
	locked := store.Lockout{LockedUntil: &until} // a lock that starts or ends is announced
	plain := map[string]func(tx *store.Store) error{
		"RecordLogin":         func(tx *store.Store) error { return tx.RecordLogin(ctx, id, time.Now()) },
		"SetUserLockout":      func(tx *store.Store) error { return tx.SetUserLockout(ctx, id, store.Lockout{}, locked) },
		"UpgradePasswordHash": func(tx *store.Store) error { return tx.UpgradePasswordHash(ctx, id, "$argon2id$…") },
	}
	for name, fn := range plain {
		t.Run(name, func(t *testing.T) {
			r.commit(fn)
			r.returned(t) // the expiry is never sent: a wait would never end
			if ch := <-r.got; ch.Await || ch.Nonce != "" || len(ch.Users) != 1 {
				t.Errorf("published %+v; want the user's change, neither awaited nor named", ch)
			}
			if ch := r.notice(t); ch.Nonce != "" || len(ch.Users) != 1 {
				t.Errorf("announced %+v; want the user's change with no nonce to acknowledge", ch)
			}
			if len(r.counted) != 0 || len(r.asked) != 0 {
				t.Errorf("a plain commit counted listeners (%d) or waited (%d)", len(r.counted), len(r.asked))
			}
		})
	}
	t.Run("outside a transaction", func(t *testing.T) {
		go func() { r.errs <- r.st.RecordLogin(ctx, id, time.Now()) }()
		r.returned(t)
		r.notice(t)
		if ch := <-r.got; ch.Await || len(r.counted) != 0 || len(r.asked) != 0 {
			t.Errorf("a statement outside a transaction waited: %+v", ch)
		}
	})
	t.Run("awaited, never acknowledged: waits AckWait", func(t *testing.T) {
		r.commit(func(tx *store.Store) error {
			tx.AwaitPropagation()
			return tx.RecordLogin(ctx, id, time.Now())
		})
		if d := <-r.asked; d != AckWait {
			t.Errorf("waits %v; want AckWait (%v)", d, AckWait)
		}
		<-r.counted
		if ch := r.notice(t); ch.Nonce == "" {
			t.Errorf("announced %+v without a nonce to acknowledge", ch)
		}
		r.stillWaiting(t)
		r.expire <- time.Now() // AckWait is over
		r.returned(t)
		if ch := <-r.got; !ch.Await || ch.Nonce == "" {
			t.Errorf("published %+v; want it awaited and named", ch)
		}
	})
	t.Run("awaited: waits for both instances' acknowledgements", func(t *testing.T) {
		r.commit(func(tx *store.Store) error {
			if err := tx.SetUserLockout(ctx, id, locked, store.Lockout{}); err != nil {
				return err
			}
			tx.AwaitPropagation() // anywhere in the transaction
			return nil
		})
		nonce := r.notice(t).Nonce
		<-r.asked
		<-r.counted
		r.cache.acked(nonce)
		r.stillWaiting(t)
		r.cache.acked(nonce)
		r.returned(t)
		if ch := <-r.got; ch.Nonce != nonce {
			t.Errorf("published nonce %q; announced %q", ch.Nonce, nonce)
		}
	})
	t.Run("awaited, nothing changed: nothing announced, no wait", func(t *testing.T) {
		r.commit(func(tx *store.Store) error {
			tx.AwaitPropagation()
			return nil
		})
		r.returned(t)
		if len(r.got) != 0 || len(r.counted) != 0 || len(r.asked) != 0 {
			t.Errorf("an empty awaited transaction was published (%d), counted (%d) or waited (%d)",
				len(r.got), len(r.counted), len(r.asked))
		}
	})
}

// SQLite is one process: an awaited change has nobody to wait for.
func TestAwaitedCommitOnSQLiteDoesNotWait(t *testing.T) {
	ctx := context.Background()
	r := newAwaitRig(t, store.SQLite)
	r.commit(func(tx *store.Store) error {
		tx.AwaitPropagation()
		return tx.RecordLogin(ctx, uuid.New(), time.Now())
	})
	r.returned(t)
	if ch := <-r.got; !ch.Await || ch.Nonce != "" || len(r.counted) != 0 || len(r.asked) != 0 {
		t.Errorf("published %+v, counted %d, waited %d; want awaited, unnamed, no count, no wait", ch, len(r.counted), len(r.asked))
	}
}
