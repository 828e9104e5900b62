package store_test

// Service clients and personal access tokens in the store, on both databases:
// what the token endpoint, the hot path and housekeeping rely on — secrets and
// their sids, the revocation feed entries that ending them writes, the
// changes that make caches forget them, and the once-a-minute use records.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// clAccessTTL is the access-token lifetime the tests pass the store.
const clAccessTTL = 15 * time.Minute

// changeLog records the changes a store announces (OnChange).
type changeLog struct {
	mu  sync.Mutex
	got []store.Change
}

func watchChanges(st *store.Store) *changeLog {
	l := &changeLog{}
	st.OnChange(func(c store.Change) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got = append(l.got, c)
	})
	return l
}

// take returns the changes announced since the last take.
func (l *changeLog) take() []store.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

// wantClientsChange: exactly one change was announced since the last take, and
// it names exactly the clients ids (in any order), and nothing else.
func (l *changeLog) wantClientsChange(t *testing.T, what string, ids ...uuid.UUID) {
	t.Helper()
	got := l.take()
	if len(got) != 1 {
		t.Fatalf("%s: announced %d changes %+v; want one naming clients %v", what, len(got), got, ids)
	}
	c := got[0]
	if !sameUUIDSet(c.Clients, ids) || len(c.Sessions) != 0 || len(c.Users) != 0 || len(c.Tokens) != 0 || c.All || c.AllUsers || c.Keys {
		t.Fatalf("%s: announced %+v; want Clients %v only", what, c, ids)
	}
}

func (l *changeLog) wantTokensChange(t *testing.T, what string, ids ...uuid.UUID) {
	t.Helper()
	got := l.take()
	if len(got) != 1 {
		t.Fatalf("%s: announced %d changes %+v; want one naming tokens %v", what, len(got), got, ids)
	}
	c := got[0]
	if !sameUUIDSet(c.Tokens, ids) || len(c.Sessions) != 0 || len(c.Users) != 0 || len(c.Clients) != 0 || c.All || c.AllUsers || c.Keys {
		t.Fatalf("%s: announced %+v; want Tokens %v only", what, c, ids)
	}
}

func (l *changeLog) wantNone(t *testing.T, what string) {
	t.Helper()
	if got := l.take(); len(got) != 0 {
		t.Fatalf("%s: announced %+v; want nothing", what, got)
	}
}

func sameUUIDSet(a, b []uuid.UUID) bool {
	sa, sb := slices.Clone(a), slices.Clone(b)
	cmp := func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) }
	slices.SortFunc(sa, cmp)
	slices.SortFunc(sb, cmp)
	return slices.Equal(sa, sb)
}

// newClient inserts a client named name with one secret and returns both.
func newClient(t *testing.T, st *store.Store, name string, created time.Time) (*models.Client, *models.ClientSecret) {
	t.Helper()
	c := &models.Client{ID: uuid.Must(uuid.NewV7()), Name: name, Description: "the " + name + " service",
		Permissions: "users:read users:write", CreatedAt: created, UpdatedAt: created}
	sec := newSecret(c.ID, created)
	testdb.Must(t, st.CreateClient(context.Background(), c, sec))
	return c, sec
}

func newSecret(clientID uuid.UUID, created time.Time) *models.ClientSecret {
	id := uuid.Must(uuid.NewV7())
	return &models.ClientSecret{ID: id, ClientID: clientID, SecretHash: append([]byte{0, 0xff, 0x80}, id[:]...),
		SID: uuid.Must(uuid.NewV7()), CreatedAt: created}
}

// feed is every revocation listed after the start of the feed at now.
func feed(t *testing.T, st *store.Store, now time.Time) map[uuid.UUID]time.Time {
	t.Helper()
	list, err := st.RevocationsAfter(context.Background(), store.FeedPosition{}, now, 1000)
	testdb.Must(t, err)
	out := map[uuid.UUID]time.Time{}
	for _, e := range list {
		if _, dup := out[e.SessionID]; dup {
			t.Fatalf("sid %s listed twice in the revocation feed", e.SessionID)
		}
		out[e.SessionID] = e.ExpiresAt
	}
	return out
}

func mustClient(t *testing.T, st *store.Store, id uuid.UUID) *store.ServiceClient {
	t.Helper()
	sc, err := st.ClientByID(context.Background(), id)
	testdb.Must(t, err)
	return sc
}

func secretSIDs(sc *store.ServiceClient) []uuid.UUID {
	out := make([]uuid.UUID, len(sc.Secrets))
	for i, s := range sc.Secrets {
		out[i] = s.SID
	}
	return out
}

// Create, read (plain and locked), list and update a client; an update is
// announced for the client, after the commit when in a transaction.
func TestClientCreateReadUpdate(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		changes := watchChanges(st)
		created := t0().Add(123456 * time.Microsecond).In(east) // sub-second, another zone
		c, sec := newClient(t, st, "billing", created)
		other, _ := newClient(t, st, "reports", created.Add(time.Second))
		changes.wantNone(t, "CreateClient") // a new client was in no cache

		got, err := st.ClientByID(ctx, c.ID)
		testdb.Must(t, err)
		if got.ID != c.ID || got.Name != "billing" || got.Description != c.Description || got.Permissions != c.Permissions ||
			got.Disabled || !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(created) || got.LastUsedAt != nil {
			t.Fatalf("read back %+v\nwrote     %+v", got.Client, *c)
		}
		if !slices.Equal(got.PermissionList(), []string{"users:read", "users:write"}) {
			t.Errorf("PermissionList = %q", got.PermissionList())
		}
		if len(got.Secrets) != 1 {
			t.Fatalf("%d secrets; want 1", len(got.Secrets))
		}
		s := got.Secrets[0]
		if s.ID != sec.ID || s.ClientID != c.ID || !slices.Equal(s.SecretHash, sec.SecretHash) || s.SID != sec.SID ||
			!s.CreatedAt.Equal(created) || s.ExpiresAt != nil {
			t.Fatalf("secret read back %+v\nwrote            %+v", s, *sec)
		}
		if !got.LiveSecret(sec.SID, t0().Add(1000*time.Hour)) || got.LiveSecret(uuid.New(), t0()) {
			t.Error("LiveSecret: a secret without an end is live forever, an unknown sid never")
		}
		mustNotFound(t, "ClientByID of an unknown id", func() error { _, err := st.ClientByID(ctx, uuid.New()); return err }())

		list, err := st.Clients(ctx)
		testdb.Must(t, err)
		if len(list) != 2 || list[0].ID != c.ID || list[1].ID != other.ID {
			t.Fatalf("Clients = %+v; want billing then reports", list)
		}

		// LockClient in a transaction reads the same; UpdateClient is announced
		// when the transaction commits, not before.
		later := t0().Add(time.Hour)
		err = st.InTx(ctx, func(tx *store.Store) error {
			locked, err := tx.LockClient(ctx, c.ID)
			if err != nil {
				return err
			}
			if locked.ID != c.ID || len(locked.Secrets) != 1 || locked.Secrets[0].SID != sec.SID {
				return fmt.Errorf("LockClient read %+v", locked)
			}
			if _, err := tx.LockClient(ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("LockClient of an unknown id: %v; want ErrNotFound", err)
			}
			upd := locked.Client
			upd.Name, upd.Description, upd.Permissions, upd.Disabled, upd.UpdatedAt = "billing-v2", "", "users:read", true, later
			if err := tx.UpdateClient(ctx, &upd); err != nil {
				return err
			}
			changes.wantNone(t, "UpdateClient before the commit")
			return nil
		})
		testdb.Must(t, err)
		changes.wantClientsChange(t, "UpdateClient in a transaction", c.ID)

		got = mustClient(t, st, c.ID)
		if got.Name != "billing-v2" || got.Description != "" || got.Permissions != "users:read" || !got.Disabled ||
			!got.UpdatedAt.Equal(later) || !got.CreatedAt.Equal(created) || len(got.Secrets) != 1 {
			t.Fatalf("after UpdateClient: %+v", got)
		}
		if o := mustClient(t, st, other.ID); o.Name != "reports" || o.Disabled {
			t.Fatalf("UpdateClient changed another client: %+v", o.Client)
		}

		// Outside a transaction: announced at once. Enabling again.
		upd := got.Client
		upd.Disabled, upd.UpdatedAt = false, later.Add(time.Minute)
		testdb.Must(t, st.UpdateClient(ctx, &upd))
		changes.wantClientsChange(t, "UpdateClient", c.ID)
		if mustClient(t, st, c.ID).Disabled {
			t.Fatal("disabled = false was not written")
		}
	})
}

// EndClientTokens gives every secret a new sid, lists the old sids in the
// revocation feed until now + the access TTL, and is announced.
func TestEndClientTokens(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := t0()
		c, _ := newClient(t, st, "billing", now)
		other, otherSec := newClient(t, st, "reports", now)
		// A second secret, overlapping: the client has two.
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, c.ID), newSecret(c.ID, now), now.Add(time.Hour), now, clAccessTTL))
		sc := mustClient(t, st, c.ID)
		old := secretSIDs(sc)
		if len(old) != 2 {
			t.Fatalf("%d secrets; want 2", len(old))
		}
		changes := watchChanges(st)

		end := now.Add(time.Minute)
		testdb.Must(t, st.EndClientTokens(ctx, sc, end, clAccessTTL))
		changes.wantClientsChange(t, "EndClientTokens", c.ID)

		renewed := secretSIDs(sc) // the caller's copy has the new sids
		after := mustClient(t, st, c.ID)
		if !slices.Equal(secretSIDs(after), renewed) {
			t.Fatalf("sids in the database %v, in the caller's copy %v", secretSIDs(after), renewed)
		}
		for i, sid := range renewed {
			if sid == old[i] || slices.Contains(old, sid) {
				t.Fatalf("secret %d kept its sid %s", i, sid)
			}
			if !after.LiveSecret(sid, end) {
				t.Errorf("the new sid %s is not live", sid)
			}
		}
		for _, sid := range old {
			if after.LiveSecret(sid, end) {
				t.Errorf("the old sid %s is still live", sid)
			}
		}
		for i := range after.Secrets { // the secrets themselves stay, with their ends
			if !slices.Equal(after.Secrets[i].SecretHash, sc.Secrets[i].SecretHash) || !sameTime(after.Secrets[i].ExpiresAt, sc.Secrets[i].ExpiresAt) {
				t.Errorf("secret %d changed beyond its sid: %+v", i, after.Secrets[i])
			}
		}

		listed := feed(t, st, end)
		if len(listed) != 2 {
			t.Fatalf("feed lists %v; want the two old sids", listed)
		}
		for _, sid := range old {
			if exp, ok := listed[sid]; !ok || !exp.Equal(end.Add(clAccessTTL)) {
				t.Errorf("old sid %s in the feed: %v, %v; want until %v", sid, exp, ok, end.Add(clAccessTTL))
			}
		}
		if got := feed(t, st, end.Add(clAccessTTL)); len(got) != 0 {
			t.Errorf("feed at the last token's expiry still lists %v", got)
		}
		if o := mustClient(t, st, other.ID); o.Secrets[0].SID != otherSec.SID {
			t.Error("EndClientTokens gave another client's secret a new sid")
		}
	})
}

// RotateClientSecret: with an overlap the old secret ends at its end (nothing
// revoked yet); a later rotation never lengthens an overlap; with none the
// old secrets are deleted at once and their sids listed.
func TestRotateClientSecret(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := t0()
		c, first := newClient(t, st, "billing", now)
		changes := watchChanges(st)

		overlapEnd := now.Add(time.Hour).In(east)
		second := newSecret(c.ID, now)
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, c.ID), second, overlapEnd, now, clAccessTTL))
		changes.wantClientsChange(t, "RotateClientSecret with an overlap", c.ID)
		sc := mustClient(t, st, c.ID)
		if len(sc.Secrets) != 2 {
			t.Fatalf("%d secrets after a rotation with an overlap; want 2", len(sc.Secrets))
		}
		byID := map[uuid.UUID]models.ClientSecret{}
		for _, s := range sc.Secrets {
			byID[s.ID] = s
		}
		if s := byID[first.ID]; s.SID != first.SID || !sameTime(s.ExpiresAt, &overlapEnd) {
			t.Fatalf("the old secret after the rotation: %+v; want its sid kept and expires_at %v", s, overlapEnd)
		}
		if s := byID[second.ID]; s.SID != second.SID || s.ExpiresAt != nil || !slices.Equal(s.SecretHash, second.SecretHash) {
			t.Fatalf("the new secret: %+v", s)
		}
		if !sc.LiveSecret(first.SID, overlapEnd.Add(-time.Nanosecond)) || sc.LiveSecret(first.SID, overlapEnd) {
			t.Error("the old secret is live until its overlap's end, and not at it")
		}
		if got := feed(t, st, now); len(got) != 0 {
			t.Fatalf("a rotation with an overlap listed %v in the feed", got)
		}

		// A second rotation asking for a longer overlap does not lengthen the
		// first secret's; the second secret gets the new end.
		longer := now.Add(2 * time.Hour)
		third := newSecret(c.ID, now.Add(time.Minute))
		testdb.Must(t, st.RotateClientSecret(ctx, sc, third, longer, now.Add(time.Minute), clAccessTTL))
		changes.wantClientsChange(t, "a second rotation", c.ID)
		sc = mustClient(t, st, c.ID)
		byID = map[uuid.UUID]models.ClientSecret{}
		for _, s := range sc.Secrets {
			byID[s.ID] = s
		}
		if len(sc.Secrets) != 3 || !sameTime(byID[first.ID].ExpiresAt, &overlapEnd) ||
			!sameTime(byID[second.ID].ExpiresAt, &longer) || byID[third.ID].ExpiresAt != nil {
			t.Fatalf("after a second rotation: %+v", sc.Secrets)
		}

		// No overlap: every older secret goes at once, its sid to the feed until
		// now + the access TTL; only the newest stays.
		at := now.Add(10 * time.Minute)
		fourth := newSecret(c.ID, at)
		testdb.Must(t, st.RotateClientSecret(ctx, sc, fourth, at, at, clAccessTTL))
		changes.wantClientsChange(t, "RotateClientSecret without an overlap", c.ID)
		sc = mustClient(t, st, c.ID)
		if len(sc.Secrets) != 1 || sc.Secrets[0].ID != fourth.ID || sc.Secrets[0].ExpiresAt != nil {
			t.Fatalf("after a rotation without an overlap: %+v; want the new secret only", sc.Secrets)
		}
		listed := feed(t, st, at)
		if len(listed) != 3 {
			t.Fatalf("feed lists %v; want the three old sids", listed)
		}
		for _, sid := range []uuid.UUID{first.SID, second.SID, third.SID} {
			if exp, ok := listed[sid]; !ok || !exp.Equal(at.Add(clAccessTTL)) {
				t.Errorf("sid %s in the feed: %v, %v; want until %v", sid, exp, ok, at.Add(clAccessTTL))
			}
		}
		if _, ok := listed[fourth.SID]; ok {
			t.Error("the new secret's sid is listed")
		}
	})
}

// DeleteClient deletes the client and its secrets, lists their sids, and is
// announced; deleting it again is ErrNotFound.
func TestDeleteClient(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := t0()
		c, _ := newClient(t, st, "billing", now)
		other, _ := newClient(t, st, "reports", now)
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, c.ID), newSecret(c.ID, now), now.Add(time.Hour), now, clAccessTTL))
		sc := mustClient(t, st, c.ID)
		sids := secretSIDs(sc)
		changes := watchChanges(st)

		testdb.Must(t, st.DeleteClient(ctx, sc, now, clAccessTTL))
		changes.wantClientsChange(t, "DeleteClient", c.ID)
		mustNotFound(t, "ClientByID of a deleted client", func() error { _, err := st.ClientByID(ctx, c.ID); return err }())
		var left int64
		testdb.Must(t, st.GORM().Model(&models.ClientSecret{}).Where("client_id = ?", c.ID).Count(&left).Error)
		if left != 0 {
			t.Fatalf("%d secrets of the deleted client left", left)
		}
		listed := feed(t, st, now)
		if len(listed) != len(sids) {
			t.Fatalf("feed lists %v; want %v", listed, sids)
		}
		for _, sid := range sids {
			if exp, ok := listed[sid]; !ok || !exp.Equal(now.Add(clAccessTTL)) {
				t.Errorf("sid %s in the feed: %v, %v; want until %v", sid, exp, ok, now.Add(clAccessTTL))
			}
		}
		if _, err := st.ClientByID(ctx, other.ID); err != nil {
			t.Fatalf("another client after the deletion: %v", err)
		}

		err := st.InTx(ctx, func(tx *store.Store) error { return tx.DeleteClient(ctx, sc, now, clAccessTTL) })
		mustNotFound(t, "DeleteClient of a deleted client", err)
		changes.wantNone(t, "a failed DeleteClient")
	})
}

// EndOverlaps deletes only the secrets whose overlap has ended, and lists
// each one's sid once, until its overlap's end + the access TTL.
func TestEndOverlaps(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := t0()
		c, first := newClient(t, st, "billing", now.Add(-2*time.Hour))
		ended := now.Add(-time.Second)
		second := newSecret(c.ID, now.Add(-time.Hour))
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, c.ID), second, ended, now.Add(-time.Hour), clAccessTTL))
		endsLater := now.Add(time.Hour)
		third := newSecret(c.ID, now)
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, c.ID), third, endsLater, now.Add(-time.Minute), clAccessTTL))
		// first ended at now-1s, second ends in an hour, third has no end.
		endsAtNow, _ := newClient(t, st, "reports", now.Add(-time.Hour))
		atNow := newSecret(endsAtNow.ID, now)
		testdb.Must(t, st.RotateClientSecret(ctx, mustClient(t, st, endsAtNow.ID), atNow, now, now.Add(-time.Hour), clAccessTTL))
		untouched, untouchedSec := newClient(t, st, "audit", now)
		reportsOld := mustClient(t, st, endsAtNow.ID).Secrets[0]
		if reportsOld.ExpiresAt == nil || !reportsOld.ExpiresAt.Equal(now) {
			t.Fatalf("set-up: reports' old secret %+v; want it to end at now", reportsOld)
		}
		if got := feed(t, st, now); len(got) != 0 {
			t.Fatalf("set-up listed %v", got)
		}
		changes := watchChanges(st)

		testdb.Must(t, st.EndOverlaps(ctx, now, clAccessTTL))
		changes.wantClientsChange(t, "EndOverlaps", c.ID, endsAtNow.ID)
		sc := mustClient(t, st, c.ID)
		if ids := []uuid.UUID{sc.Secrets[0].ID, sc.Secrets[1].ID}; len(sc.Secrets) != 2 || !sameUUIDSet(ids, []uuid.UUID{second.ID, third.ID}) {
			t.Fatalf("billing's secrets after EndOverlaps: %+v; want the one ending later and the newest", sc.Secrets)
		}
		if r := mustClient(t, st, endsAtNow.ID); len(r.Secrets) != 1 || r.Secrets[0].ID != atNow.ID {
			t.Fatalf("reports' secrets after EndOverlaps: %+v; want the new one only (the old one ended at now)", r.Secrets)
		}
		if u := mustClient(t, st, untouched.ID); len(u.Secrets) != 1 || u.Secrets[0].ID != untouchedSec.ID {
			t.Fatalf("a client without an overlap lost a secret: %+v", u.Secrets)
		}
		listed := feed(t, st, now)
		want := map[uuid.UUID]time.Time{first.SID: ended.Add(clAccessTTL), reportsOld.SID: now.Add(clAccessTTL)}
		if len(listed) != len(want) {
			t.Fatalf("feed lists %v; want %v", listed, want)
		}
		for sid, exp := range want {
			if got, ok := listed[sid]; !ok || !got.Equal(exp) {
				t.Errorf("sid %s in the feed until %v (%v); want until the overlap's end + the access TTL, %v", sid, got, ok, exp)
			}
		}

		// Nothing more is due: nothing listed again, nothing announced.
		testdb.Must(t, st.EndOverlaps(ctx, now.Add(time.Minute), clAccessTTL))
		changes.wantNone(t, "EndOverlaps with nothing due")
		if got := feed(t, st, now); len(got) != 2 {
			t.Fatalf("feed after a second EndOverlaps: %v", got)
		}

		// At the second secret's end, it goes too.
		testdb.Must(t, st.EndOverlaps(ctx, endsLater, clAccessTTL))
		changes.wantClientsChange(t, "EndOverlaps at the second end", c.ID)
		if got := feed(t, st, now)[second.SID]; !got.Equal(endsLater.Add(clAccessTTL)) {
			t.Errorf("second sid listed until %v; want %v", got, endsLater.Add(clAccessTTL))
		}
		if sc := mustClient(t, st, c.ID); len(sc.Secrets) != 1 || sc.Secrets[0].ID != third.ID {
			t.Fatalf("billing's secrets at the end: %+v", sc.Secrets)
		}
	})
}

// EndOverlaps called at once by several instances (stores of their own on one
// database): each due secret is deleted and listed exactly once.
func TestEndOverlapsConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		var handles []*store.Store
		for range 2 {
			st, err := store.Open(ctx, url, store.Options{})
			testdb.Must(t, err)
			t.Cleanup(func() { st.Close() })
			testdb.Must(t, st.Migrate(ctx))
			handles = append(handles, st)
		}
		now := t0()
		const clients = 40
		due := map[uuid.UUID]time.Time{} // sid → the end of its overlap
		var dueClients []uuid.UUID
		for i := range clients {
			c, old := newClient(t, handles[0], fmt.Sprintf("svc%02d", i), now.Add(-time.Hour))
			end := now.Add(-time.Duration(i+1) * time.Second)
			testdb.Must(t, handles[0].RotateClientSecret(ctx, mustClient(t, handles[0], c.ID), newSecret(c.ID, now.Add(-time.Hour)),
				end, now.Add(-time.Hour), clAccessTTL))
			due[old.SID] = end
			dueClients = append(dueClients, c.ID)
		}
		var mu sync.Mutex
		announced := map[uuid.UUID]int{}
		for _, st := range handles {
			st.OnChange(func(c store.Change) {
				mu.Lock()
				defer mu.Unlock()
				for _, id := range c.Clients {
					announced[id]++
				}
			})
		}

		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, st := range handles {
			for range 4 {
				wg.Go(func() {
					<-start
					for range 3 {
						if err := st.EndOverlaps(ctx, now, clAccessTTL); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
		}
		close(start)
		wg.Wait()

		var rows []models.Revocation
		testdb.Must(t, handles[1].GORM().Find(&rows).Error)
		listed := map[uuid.UUID]int{}
		for _, r := range rows {
			listed[r.SessionID]++
			if end, ok := due[r.SessionID]; !ok {
				t.Errorf("listed sid %s, which was not due", r.SessionID)
			} else if !r.ExpiresAt.Equal(end.Add(clAccessTTL)) {
				t.Errorf("sid %s listed until %v; want %v", r.SessionID, r.ExpiresAt, end.Add(clAccessTTL))
			}
		}
		for sid := range due {
			if listed[sid] != 1 {
				t.Errorf("due sid %s listed %d times; want once", sid, listed[sid])
			}
		}
		var left int64
		testdb.Must(t, handles[0].GORM().Model(&models.ClientSecret{}).Count(&left).Error)
		if left != clients {
			t.Errorf("%d secrets left; want the %d new ones", left, clients)
		}
		for _, id := range dueClients { // the instance that ended a client's secret announced it
			if announced[id] != 1 {
				t.Errorf("client %s announced %d times; want once", id, announced[id])
			}
		}
	})
}

// TouchClient records a use at most once a minute, also when instances race.
func TestTouchClient(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		now := t0()
		c, _ := newClient(t, st, "billing", now)
		changes := watchChanges(st)
		touch := func(at time.Time) bool {
			t.Helper()
			ok, err := st.TouchClient(ctx, c.ID, at)
			testdb.Must(t, err)
			return ok
		}
		if !touch(now) {
			t.Fatal("the first use was not recorded")
		}
		if got := mustClient(t, st, c.ID).LastUsedAt; !sameTime(got, &now) {
			t.Fatalf("last_used_at = %v; want %v", got, now)
		}
		if touch(now.Add(59 * time.Second).In(east)) {
			t.Error("a use 59 s later was recorded")
		}
		if !touch(now.Add(time.Minute)) {
			t.Error("a use a minute later was not recorded")
		}
		if got := mustClient(t, st, c.ID).LastUsedAt; !sameTime(got, ptr(now.Add(time.Minute))) {
			t.Fatalf("last_used_at = %v; want %v", got, now.Add(time.Minute))
		}
		if ok, err := st.TouchClient(ctx, uuid.New(), now); ok || err != nil {
			t.Errorf("TouchClient of an unknown client: %v, %v", ok, err)
		}
		changes.wantNone(t, "TouchClient") // last_used_at is nothing a cache needs

		// Many at once, a minute on: one records it.
		at := now.Add(2 * time.Minute)
		recorded := 0
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 10 {
			wg.Go(func() {
				ok, err := st.TouchClient(ctx, c.ID, at)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					recorded++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if recorded != 1 {
			t.Errorf("%d concurrent uses recorded; want 1", recorded)
		}
	})
}

func newPAT(userID uuid.UUID, name string, created, expires time.Time) *models.PersonalToken {
	id := uuid.Must(uuid.NewV7())
	return &models.PersonalToken{ID: id, UserID: userID, Name: name, TokenHash: append([]byte{0xff, 0}, id[:]...),
		Permissions: "users:read", CreatedAt: created, ExpiresAt: expires}
}

func patIDs(list []models.PersonalToken) []uuid.UUID {
	out := make([]uuid.UUID, len(list))
	for i, p := range list {
		out[i] = p.ID
	}
	return out
}

// Personal access tokens: created, found by their MAC, listed live and newest
// first, revoked by their owner only (announced), expired ones dropped, uses
// recorded once a minute, and gone with their user.
func TestPersonalTokens(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		alice := addUser(t, st, "alice", []string{models.RoleUser}, nil)
		bob := addUser(t, st, "bob", []string{models.RoleUser}, nil)
		now := t0()
		changes := watchChanges(st)

		oldest := newPAT(alice.ID, "oldest", now.Add(-3*time.Hour).In(east), now.Add(time.Hour))
		expired := newPAT(alice.ID, "expired", now.Add(-2*time.Hour), now.Add(-time.Second))
		endsNow := newPAT(alice.ID, "ends now", now.Add(-90*time.Minute), now)
		newest := newPAT(alice.ID, "newest", now.Add(-time.Hour), now.Add(24*time.Hour).In(east))
		bobs := newPAT(bob.ID, "bob's", now.Add(-time.Hour), now.Add(time.Hour))
		for _, p := range []*models.PersonalToken{oldest, expired, endsNow, newest, bobs} {
			testdb.Must(t, st.CreatePersonalToken(ctx, p))
		}
		changes.wantNone(t, "CreatePersonalToken")

		got, err := st.PersonalTokenByHash(ctx, newest.TokenHash)
		testdb.Must(t, err)
		if got.ID != newest.ID || got.UserID != alice.ID || got.Name != "newest" || !slices.Equal(got.TokenHash, newest.TokenHash) ||
			got.Permissions != "users:read" || !got.CreatedAt.Equal(newest.CreatedAt) || !got.ExpiresAt.Equal(newest.ExpiresAt) || got.LastUsedAt != nil {
			t.Fatalf("read back %+v\nwrote     %+v", *got, *newest)
		}
		mustNotFound(t, "PersonalTokenByHash of an unknown MAC", func() error {
			_, err := st.PersonalTokenByHash(ctx, []byte("no such token"))
			return err
		}())

		list, err := st.PersonalTokens(ctx, alice.ID, now)
		testdb.Must(t, err)
		if !slices.Equal(patIDs(list), []uuid.UUID{newest.ID, oldest.ID}) {
			t.Fatalf("PersonalTokens = %v; want newest, oldest (the expired and the one ending now left out)", patIDs(list))
		}
		if list, err := st.PersonalTokens(ctx, alice.ID, now.Add(-500*time.Millisecond)); err != nil || !slices.Equal(patIDs(list), []uuid.UUID{newest.ID, endsNow.ID, oldest.ID}) {
			t.Fatalf("PersonalTokens half a second before = %v, %v; want newest, ends now, oldest", patIDs(list), err)
		}
		if p, err := st.PersonalToken(ctx, alice.ID, oldest.ID); err != nil || p.ID != oldest.ID {
			t.Fatalf("PersonalToken of the owner: %v, %v", p, err)
		}
		mustNotFound(t, "PersonalToken of another user's id", func() error { _, err := st.PersonalToken(ctx, bob.ID, oldest.ID); return err }())

		// Touch: once a minute.
		touch := func(id uuid.UUID, at time.Time) bool {
			t.Helper()
			ok, err := st.TouchPersonalToken(ctx, id, at)
			testdb.Must(t, err)
			return ok
		}
		if !touch(newest.ID, now) || touch(newest.ID, now.Add(59*time.Second)) || !touch(newest.ID, now.Add(time.Minute)) {
			t.Error("TouchPersonalToken: want recorded, not recorded within the minute, recorded a minute on")
		}
		if p, _ := st.PersonalTokenByHash(ctx, newest.TokenHash); !sameTime(p.LastUsedAt, ptr(now.Add(time.Minute))) {
			t.Errorf("last_used_at = %v; want %v", p.LastUsedAt, now.Add(time.Minute))
		}
		if touch(uuid.New(), now) {
			t.Error("TouchPersonalToken of an unknown token recorded something")
		}
		changes.wantNone(t, "TouchPersonalToken")

		// Revoking: another user's is not found and stays.
		_, err = st.DeletePersonalToken(ctx, bob.ID, oldest.ID)
		mustNotFound(t, "DeletePersonalToken of another user's token", err)
		changes.wantNone(t, "a refused DeletePersonalToken")
		if _, err := st.PersonalTokenByHash(ctx, oldest.TokenHash); err != nil {
			t.Fatalf("another user's DeletePersonalToken removed it: %v", err)
		}
		mustNotFound(t, "DeletePersonalToken of an unknown id", func() error { _, err := st.DeletePersonalToken(ctx, alice.ID, uuid.New()); return err }())
		del, err := st.DeletePersonalToken(ctx, alice.ID, oldest.ID)
		testdb.Must(t, err)
		if del.ID != oldest.ID || del.Name != "oldest" {
			t.Fatalf("DeletePersonalToken returned %+v", del)
		}
		changes.wantTokensChange(t, "DeletePersonalToken", oldest.ID)
		mustNotFound(t, "a revoked token by its MAC", func() error { _, err := st.PersonalTokenByHash(ctx, oldest.TokenHash); return err }())

		// In a transaction: announced at the commit.
		err = st.InTx(ctx, func(tx *store.Store) error {
			if _, err := tx.DeletePersonalToken(ctx, alice.ID, endsNow.ID); err != nil {
				return err
			}
			changes.wantNone(t, "DeletePersonalToken before the commit")
			return nil
		})
		testdb.Must(t, err)
		changes.wantTokensChange(t, "DeletePersonalToken in a transaction", endsNow.ID)

		// Housekeeping drops the expired ones only (at or before now).
		extra := newPAT(alice.ID, "extra", now, now.Add(time.Hour))
		testdb.Must(t, st.CreatePersonalToken(ctx, extra))
		testdb.Must(t, st.DeleteExpiredPersonalTokens(ctx, now))
		mustNotFound(t, "an expired token after housekeeping", func() error { _, err := st.PersonalTokenByHash(ctx, expired.TokenHash); return err }())
		for _, p := range []*models.PersonalToken{newest, extra, bobs} {
			if _, err := st.PersonalTokenByHash(ctx, p.TokenHash); err != nil {
				t.Errorf("housekeeping removed the live token %q: %v", p.Name, err)
			}
		}

		// Every token of a user: counted and announced; the others' stay.
		n, err := st.DeletePersonalTokens(ctx, alice.ID)
		testdb.Must(t, err)
		if n != 2 {
			t.Fatalf("DeletePersonalTokens = %d; want 2", n)
		}
		changes.wantTokensChange(t, "DeletePersonalTokens", newest.ID, extra.ID)
		if list, _ := st.PersonalTokens(ctx, alice.ID, now.Add(-24*time.Hour)); len(list) != 0 {
			t.Fatalf("alice still has %v", patIDs(list))
		}
		if n, err := st.DeletePersonalTokens(ctx, alice.ID); n != 0 || err != nil {
			t.Fatalf("DeletePersonalTokens with none: %d, %v", n, err)
		}
		changes.wantNone(t, "DeletePersonalTokens with none")
		if _, err := st.PersonalTokenByHash(ctx, bobs.TokenHash); err != nil {
			t.Fatalf("bob's token after alice's were revoked: %v", err)
		}

		// Deleting the user deletes their tokens (cascade).
		testdb.Must(t, st.DeleteUser(ctx, bob.ID))
		mustNotFound(t, "a deleted user's token", func() error { _, err := st.PersonalTokenByHash(ctx, bobs.TokenHash); return err }())
		var left int64
		testdb.Must(t, st.GORM().Model(&models.PersonalToken{}).Count(&left).Error)
		if left != 0 {
			t.Fatalf("%d personal tokens left", left)
		}
	})
}
