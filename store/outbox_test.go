package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	rows, err := db.Query("SELECT id, payload_sealed, attempts, next_attempt_at, claimed_until, sent_at, last_error, expires_at, given_up_at FROM mail_outbox")
	testdb.Must(t, err)
	defer rows.Close()
	for rows.Next() {
		var rowID string
		var m models.OutboxMail
		var claimed, sent, expires, givenUp sql.NullTime
		testdb.Must(t, rows.Scan(&rowID, &m.PayloadSealed, &m.Attempts, &m.NextAttemptAt, &claimed, &sent, &m.LastError, &expires, &givenUp))
		if rowID != id.String() {
			continue
		}
		m.ID = id
		for _, c := range []struct {
			col *sql.NullTime
			f   **time.Time
		}{{&claimed, &m.ClaimedUntil}, {&sent, &m.SentAt}, {&expires, &m.ExpiresAt}, {&givenUp, &m.GivenUpAt}} {
			if c.col.Valid {
				*c.f = &c.col.Time
			}
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

// A given-up mail is finished: never claimed, counted or marked again.
func TestOutboxGiveUp(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		east := time.FixedZone("east", 5*3600)
		expires := outboxT0.Add(30 * time.Minute).In(east)
		m := models.OutboxMail{ID: uuid.Must(uuid.NewV7()), PayloadSealed: []byte("sealed"),
			NextAttemptAt: outboxT0, CreatedAt: outboxT0, ExpiresAt: &expires}
		testdb.Must(t, st.EnqueueMail(ctx, m))
		other := queueMail(t, st, outboxT0)

		got, err := st.ClaimMail(ctx, outboxT0, 10, time.Minute)
		if err != nil || !sameIDs(got, m.ID, other) {
			t.Fatalf("claim = %v, %v; want [m other]", ids(got), err)
		}
		if e := got[0].ExpiresAt; e == nil || !e.Equal(expires) {
			t.Errorf("claimed expires_at = %v; want %v", e, expires)
		}
		if e := got[1].ExpiresAt; e != nil {
			t.Errorf("expires_at of a mail queued without one = %v; want NULL", e)
		}

		giveUpAt := outboxT0.Add(time.Hour)
		testdb.Must(t, st.MarkMailGivenUp(ctx, m.ID, 3, giveUpAt, "expired"))
		row := readMail(t, st, m.ID)
		if row.GivenUpAt == nil || !row.GivenUpAt.Equal(giveUpAt) || row.SentAt != nil || row.Attempts != 3 ||
			row.LastError != "expired" || len(row.PayloadSealed) != 0 || row.ClaimedUntil != nil {
			t.Errorf("after MarkMailGivenUp: %+v", row)
		}
		if row.ExpiresAt == nil || !row.ExpiresAt.Equal(expires) {
			t.Errorf("stored expires_at = %v; want %v", row.ExpiresAt, expires)
		}
		if got, err := st.ClaimMail(ctx, outboxT0.Add(48*time.Hour), 10, time.Minute); err != nil || !sameIDs(got, other) {
			t.Fatalf("claim after giving up = %v, %v; want [other]", ids(got), err)
		}
		if n, err := st.PendingMailCount(ctx); n != 1 || err != nil {
			t.Errorf("PendingMailCount = %d, %v; want 1", n, err)
		}
		for name, err := range map[string]error{
			"MarkMailSent":          st.MarkMailSent(ctx, m.ID, giveUpAt),
			"MarkMailFailed":        st.MarkMailFailed(ctx, m.ID, 4, giveUpAt, "x"),
			"MarkMailGivenUp twice": st.MarkMailGivenUp(ctx, m.ID, 4, giveUpAt, "x"),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after giving up: err = %v; want ErrNotFound", name, err)
			}
		}
		testdb.Must(t, st.MarkMailSent(ctx, other, giveUpAt))
		if err := st.MarkMailGivenUp(ctx, other, 1, giveUpAt, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkMailGivenUp after sent: err = %v; want ErrNotFound", err)
		}
	})
}

// The metrics' counts: the backlog is every queued mail, failing those of them
// whose last attempt failed.
func TestOutboxCounts(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		count := func() (pending, failing int64) {
			t.Helper()
			pending, err := st.PendingMailCount(ctx)
			testdb.Must(t, err)
			failing, err = st.FailingMailCount(ctx)
			testdb.Must(t, err)
			return pending, failing
		}
		if p, f := count(); p != 0 || f != 0 {
			t.Fatalf("empty outbox: pending %d, failing %d", p, f)
		}
		queueMail(t, st, outboxT0)                     // queued, not tried
		queueMail(t, st, outboxT0.Add(time.Hour))      // queued, not due
		failed := queueMail(t, st, outboxT0)           // failed once
		failedTwice := queueMail(t, st, outboxT0)      // failed twice
		sentAfterFailing := queueMail(t, st, outboxT0) // failed, then sent
		givenUp := queueMail(t, st, outboxT0)          // failed, then given up
		released := queueMail(t, st, outboxT0)         // failed, claimed, handed back
		for _, id := range []uuid.UUID{failed, failedTwice, sentAfterFailing, givenUp, released} {
			testdb.Must(t, st.MarkMailFailed(ctx, id, 1, outboxT0, "421 try later"))
		}
		testdb.Must(t, st.MarkMailFailed(ctx, failedTwice, 2, outboxT0, "421 try later"))
		testdb.Must(t, st.MarkMailSent(ctx, sentAfterFailing, outboxT0))
		testdb.Must(t, st.MarkMailGivenUp(ctx, givenUp, 2, outboxT0, "expired"))
		if _, err := st.ClaimMail(ctx, outboxT0, 10, time.Minute); err != nil {
			t.Fatal(err)
		}
		testdb.Must(t, st.MarkMailFailed(ctx, released, 1, outboxT0, "421 try later"))
		if p, f := count(); p != 5 || f != 3 {
			t.Errorf("pending %d, failing %d; want 5 (two new, three failed), 3", p, f)
		}
	})
}

// Finished mails (sent or given up) go once older than the cut-off, in
// batches; queued mails stay however old they are.
func TestDeleteFinishedMail(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		cutoff := outboxT0.Add(24 * time.Hour)
		oldQueued := queueMail(t, st, outboxT0.Add(-30*24*time.Hour))
		var oldFinished []uuid.UUID
		for i := range 3 {
			sent, givenUp := queueMail(t, st, outboxT0), queueMail(t, st, outboxT0)
			testdb.Must(t, st.MarkMailSent(ctx, sent, outboxT0.Add(time.Duration(i)*time.Hour)))
			testdb.Must(t, st.MarkMailGivenUp(ctx, givenUp, 1, outboxT0.Add(time.Duration(i)*time.Hour), "expired"))
			oldFinished = append(oldFinished, sent, givenUp)
		}
		recentSent, recentGivenUp := queueMail(t, st, outboxT0), queueMail(t, st, outboxT0)
		testdb.Must(t, st.MarkMailSent(ctx, recentSent, cutoff))
		testdb.Must(t, st.MarkMailGivenUp(ctx, recentGivenUp, 1, cutoff.Add(time.Second), "expired"))

		// In the zone of another instance: the cut-off is an instant.
		east := time.FixedZone("east", 5*3600)
		var total int64
		for _, want := range []int64{4, 2, 0} {
			n, err := st.DeleteFinishedMail(ctx, cutoff.In(east), 4)
			if err != nil || n != want {
				t.Fatalf("DeleteFinishedMail = %d, %v; want %d", n, err, want)
			}
			total += n
		}
		if total != int64(len(oldFinished)) {
			t.Errorf("deleted %d in all; want %d", total, len(oldFinished))
		}
		var left []string
		db, err := st.SQL()
		testdb.Must(t, err)
		rows, err := db.Query("SELECT id FROM mail_outbox")
		testdb.Must(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			testdb.Must(t, rows.Scan(&id))
			left = append(left, id)
		}
		testdb.Must(t, rows.Err())
		slices.Sort(left)
		want := []string{oldQueued.String(), recentSent.String(), recentGivenUp.String()}
		slices.Sort(want)
		if !slices.Equal(left, want) {
			t.Errorf("rows left %v; want the old queued mail and the two finished at or after the cut-off %v", left, want)
		}
	})
}

// Each outbox statement reads its index on both databases, so the queue, the
// metrics and the clean-up stay cheap however many rows the table holds.
func TestOutboxQueriesUseIndexes(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		st := testdb.Open(t, d)
		db, err := st.SQL()
		testdb.Must(t, err)
		now := outboxT0
		for _, q := range []struct {
			name    string
			sql     string
			args    []any
			indexes []string
		}{
			{"claim", st.ClaimSQL(), []any{now, now, now, 10}, []string{"mail_outbox_due_idx"}},
			{"pending count", "SELECT count(*) FROM mail_outbox WHERE " + store.OutboxQueued, nil, []string{"mail_outbox_due_idx"}},
			{"failing count", "SELECT count(*) FROM mail_outbox WHERE " + store.OutboxFailing, nil, []string{"mail_outbox_failing_idx"}},
			{"clean-up", store.DeleteFinishedSQL, []any{now, now, 1000}, []string{"mail_outbox_sent_idx", "mail_outbox_given_up_idx"}},
		} {
			t.Run(q.name, func(t *testing.T) {
				sqlText := q.sql
				if d == store.Postgres {
					for i := 1; strings.Contains(sqlText, "?"); i++ {
						sqlText = strings.Replace(sqlText, "?", fmt.Sprintf("$%d", i), 1)
					}
				}
				// An empty table is cheapest to scan: ask whether the index can be used at all.
				plan := explain(t, db, d, sqlText, q.args, "SET LOCAL enable_seqscan = off")
				for _, idx := range q.indexes {
					if !strings.Contains(plan, idx) {
						t.Errorf("plan does not use %s:\n%s", idx, plan)
					}
				}
			})
		}
	})
}
