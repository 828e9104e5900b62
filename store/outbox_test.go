package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

var outboxT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func queueMail(t *testing.T, st *store.Store, due time.Time) uuid.UUID {
	t.Helper()
	m := models.OutboxMail{ID: uuid.Must(uuid.NewV7()), PayloadSealed: []byte("sealed"), NextAttemptAt: due, CreatedAt: due}
	testdb.Must(t, st.EnqueueMail(context.Background(), m))
	return m.ID
}

// readMail reads a row as stored, bypassing the store's API.
func readMail(t *testing.T, st *store.Store, id uuid.UUID) models.OutboxMail {
	t.Helper()
	db, err := st.SQL()
	testdb.Must(t, err)
	rows, err := db.Query("SELECT id, payload_sealed, attempts, next_attempt_at, claimed_until, sent_at, last_error FROM mail_outbox")
	testdb.Must(t, err)
	defer rows.Close()
	for rows.Next() {
		var rowID string
		var m models.OutboxMail
		var claimed, sent sql.NullTime
		testdb.Must(t, rows.Scan(&rowID, &m.PayloadSealed, &m.Attempts, &m.NextAttemptAt, &claimed, &sent, &m.LastError))
		if rowID != id.String() {
			continue
		}
		m.ID = id
		if claimed.Valid {
			m.ClaimedUntil = &claimed.Time
		}
		if sent.Valid {
			m.SentAt = &sent.Time
		}
		return m
	}
	testdb.Must(t, rows.Err())
	t.Fatalf("no outbox row %s", id)
	return models.OutboxMail{}
}

func ids(mails []models.OutboxMail) []uuid.UUID {
	out := make([]uuid.UUID, len(mails))
	for i, m := range mails {
		out[i] = m.ID
	}
	return out
}

func sameIDs(got []models.OutboxMail, want ...uuid.UUID) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i].ID != want[i] {
			return false
		}
	}
	return true
}

func TestOutboxLifecycle(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		// Queued in another zone: SQLite compares times as text, so the
		// store must write UTC for "due" to mean the same instant.
		east := time.FixedZone("east", 5*3600)
		a := queueMail(t, st, outboxT0.In(east))
		b := queueMail(t, st, outboxT0.Add(time.Second))
		c := queueMail(t, st, outboxT0.Add(time.Hour))

		if got, err := st.ClaimMail(ctx, outboxT0.Add(-time.Second), 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("claim before anything is due = %v, %v; want none", ids(got), err)
		}
		if got, err := st.ClaimMail(ctx, outboxT0, 10, time.Minute); err != nil || !sameIDs(got, a) {
			t.Fatalf("claim at t0 = %v, %v; want [a]", ids(got), err)
		}
		now := outboxT0.Add(time.Second).In(east)
		got, err := st.ClaimMail(ctx, now, 10, time.Minute)
		if err != nil || !sameIDs(got, b) {
			t.Fatalf("claim at t0+1s = %v, %v; want [b] (a is leased)", ids(got), err)
		}
		if cu := got[0].ClaimedUntil; cu == nil || !cu.Equal(now.Add(time.Minute)) {
			t.Errorf("returned claimed_until = %v; want now+lease", cu)
		}
		if cu := readMail(t, st, b).ClaimedUntil; cu == nil || !cu.Equal(now.Add(time.Minute)) {
			t.Errorf("stored claimed_until = %v; want now+lease", cu)
		}

		// Leases run out: both come back, oldest due first, within the limit.
		later := outboxT0.Add(2 * time.Minute)
		if got, err := st.ClaimMail(ctx, later, 1, time.Minute); err != nil || !sameIDs(got, a) {
			t.Fatalf("claim after the leases, limit 1 = %v, %v; want [a]", ids(got), err)
		}
		if got, err := st.ClaimMail(ctx, later, 10, time.Minute); err != nil || !sameIDs(got, b) {
			t.Fatalf("claim after the leases = %v, %v; want [b]", ids(got), err)
		}

		// A failure ends the lease and reschedules.
		retry := later.Add(10 * time.Minute)
		testdb.Must(t, st.MarkMailFailed(ctx, a, 1, retry, "421 try later"))
		row := readMail(t, st, a)
		if row.Attempts != 1 || !row.NextAttemptAt.Equal(retry) || row.LastError != "421 try later" || row.ClaimedUntil != nil {
			t.Errorf("after MarkMailFailed: %+v", row)
		}
		if got, err := st.ClaimMail(ctx, retry.Add(-time.Second), 10, time.Minute); err != nil || !sameIDs(got, b) {
			t.Fatalf("claim before a's retry = %v, %v; want [b] (its lease ran out)", ids(got), err)
		}

		// Sending wipes the payload; a sent mail is never claimed again.
		testdb.Must(t, st.MarkMailSent(ctx, b, later))
		row = readMail(t, st, b)
		if row.SentAt == nil || !row.SentAt.Equal(later) || len(row.PayloadSealed) != 0 || row.ClaimedUntil != nil {
			t.Errorf("after MarkMailSent: sent_at %v, payload %q, claimed_until %v", row.SentAt, row.PayloadSealed, row.ClaimedUntil)
		}
		if n, err := st.PendingMailCount(ctx); n != 2 || err != nil {
			t.Errorf("PendingMailCount = %d, %v; want 2 (a, c)", n, err)
		}
		if got, err := st.ClaimMail(ctx, outboxT0.Add(24*time.Hour), 10, time.Minute); err != nil || !sameIDs(got, a, c) {
			t.Fatalf("claim a day later = %v, %v; want [a c]", ids(got), err)
		}

		for name, err := range map[string]error{
			"MarkMailSent twice":        st.MarkMailSent(ctx, b, later),
			"MarkMailFailed after sent": st.MarkMailFailed(ctx, b, 2, later, "x"),
			"MarkMailSent unknown":      st.MarkMailSent(ctx, uuid.New(), later),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: err = %v; want ErrNotFound", name, err)
			}
		}
	})
}

func TestEnqueueMailInTx(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		m := models.OutboxMail{ID: uuid.New(), PayloadSealed: []byte("x"), NextAttemptAt: outboxT0}
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx *store.Store) error {
			testdb.Must(t, tx.EnqueueMail(ctx, m))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		if n, _ := st.PendingMailCount(ctx); n != 0 {
			t.Fatalf("rolled-back mail is queued (%d pending)", n)
		}
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error { return tx.EnqueueMail(ctx, m) }))
		if n, _ := st.PendingMailCount(ctx); n != 1 {
			t.Fatalf("committed mail not queued (%d pending)", n)
		}
	})
}

// Claimers on separate handles (separate instances) never share a mail.
func TestClaimMailConcurrent(t *testing.T) {
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
		const total = 200
		for range total {
			queueMail(t, handles[0], outboxT0)
		}

		var mu sync.Mutex
		claims := map[uuid.UUID]int{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, st := range handles {
			for range 4 {
				wg.Go(func() {
					<-start
					for {
						got, err := st.ClaimMail(ctx, outboxT0, 3, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, m := range got {
							claims[m.ID]++
						}
						mu.Unlock()
					}
				})
			}
		}
		close(start)
		wg.Wait()
		if len(claims) != total {
			t.Errorf("%d mails claimed; want %d", len(claims), total)
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("mail %s claimed %d times", id, n)
			}
		}
	})
}
