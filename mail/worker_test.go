package mail_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

var _ mail.Outbox = (*store.Store)(nil)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// openStore opens and migrates the database at url; each call is a new handle,
// as another instance or a restarted process would have.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	testdb.Must(t, err)
	t.Cleanup(func() { st.Close() })
	testdb.Must(t, st.Migrate(context.Background()))
	return st
}

// enqueue queues m the way the reset handler does: inside a transaction.
func enqueue(t *testing.T, st *store.Store, m mail.Message, now time.Time) uuid.UUID {
	t.Helper()
	om, err := mail.NewOutboxMail(testKey(t, 1), m, now)
	testdb.Must(t, err)
	testdb.Must(t, st.InTx(context.Background(), func(tx *store.Store) error {
		return tx.EnqueueMail(context.Background(), om)
	}))
	return om.ID
}

// enqueueExpiring queues m as the reset flow does, with its link's expiry.
func enqueueExpiring(t *testing.T, st *store.Store, m mail.Message, now, expires time.Time) uuid.UUID {
	t.Helper()
	om, err := mail.NewOutboxMail(testKey(t, 1), m, now)
	testdb.Must(t, err)
	om.ExpiresAt = &expires
	testdb.Must(t, st.EnqueueMail(context.Background(), om))
	return om.ID
}

// outboxRow reads a row as stored, bypassing the store's API.
func outboxRow(t *testing.T, st *store.Store, id uuid.UUID) models.OutboxMail {
	t.Helper()
	db, err := st.SQL()
	testdb.Must(t, err)
	rows, err := db.Query("SELECT id, payload_sealed, attempts, next_attempt_at, claimed_until, sent_at, last_error, given_up_at FROM mail_outbox")
	testdb.Must(t, err)
	defer rows.Close()
	for rows.Next() {
		var rowID string
		var m models.OutboxMail
		var claimed, sent, givenUp sql.NullTime
		testdb.Must(t, rows.Scan(&rowID, &m.PayloadSealed, &m.Attempts, &m.NextAttemptAt, &claimed, &sent, &m.LastError, &givenUp))
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
		if givenUp.Valid {
			m.GivenUpAt = &givenUp.Time
		}
		return m
	}
	testdb.Must(t, rows.Err())
	t.Fatalf("no outbox row %s", id)
	return models.OutboxMail{}
}

// testLog is a logger whose output the test can search for secrets.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLog(t *testing.T, secrets ...string) *slog.Logger {
	t.Helper()
	l := &testLog{}
	t.Cleanup(func() {
		out := l.String()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("log contains the secret %q:\n%s", s, out)
			}
		}
		if t.Failed() {
			t.Logf("worker log:\n%s", out)
		}
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newSender(t *testing.T, srv *smtptest.Server) mail.Sender {
	t.Helper()
	s, err := mail.NewSMTPSender(srv.URL(srv.Config().User, srv.Config().Pass), testFrom)
	testdb.Must(t, err)
	return s
}

func TestWorkerSendsOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "smtp-Pa55word"})
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		log := newTestLog(t, testToken, "smtp-Pa55word")
		w := mail.NewWorker(st, newSender(t, srv), testKey(t, 1), clock.Now, log)

		id := enqueue(t, st, testReset(), clock.Now())
		sent, err := w.RunOnce(ctx)
		if sent != 1 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", sent, err)
		}
		row := outboxRow(t, st, id)
		if row.SentAt == nil || !row.SentAt.Equal(t0) || len(row.PayloadSealed) != 0 || row.ClaimedUntil != nil {
			t.Errorf("after sending: sent_at %v, payload %d bytes, claimed_until %v; want sent now, wiped, unclaimed",
				row.SentAt, len(row.PayloadSealed), row.ClaimedUntil)
		}

		clock.Advance(time.Hour)
		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Errorf("second RunOnce = %d, %v; want 0, nil", sent, err)
		}
		got := srv.Received()
		if len(got) != 1 {
			t.Fatalf("server received %d mails; want 1", len(got))
		}
		checkResetMail(t, got[0])
		if n, err := st.PendingMailCount(ctx); n != 0 || err != nil {
			t.Errorf("PendingMailCount = %d, %v; want 0", n, err)
		}
	})
}

func TestWorkerRetriesWithBackoffAndSurvivesRestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{})
		srv.Stop() // the SMTP server is down
		clock := testdb.NewClock(t0)
		key := testKey(t, 1)
		log := newTestLog(t, testToken)

		st1 := openStore(t, url)
		id := enqueue(t, st1, testReset(), clock.Now())
		w1 := mail.NewWorker(st1, newSender(t, srv), key, clock.Now, log)

		// Each failure counts an attempt and pushes the mail back by MinBackoff
		// doubling, less up to a fifth of jitter.
		for attempt, backoff := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
			sent, err := w1.RunOnce(ctx)
			if sent != 0 || err != nil {
				t.Fatalf("attempt %d: RunOnce = %d, %v; want 0, nil", attempt+1, sent, err)
			}
			row := outboxRow(t, st1, id)
			now := clock.Now()
			if row.Attempts != attempt+1 || row.LastError == "" || row.ClaimedUntil != nil || row.SentAt != nil {
				t.Fatalf("attempt %d: row = attempts %d, last_error %q, claimed_until %v, sent_at %v",
					attempt+1, row.Attempts, row.LastError, row.ClaimedUntil, row.SentAt)
			}
			if d := row.NextAttemptAt.Sub(now); d < backoff*4/5 || d > backoff {
				t.Fatalf("attempt %d: next attempt in %v; want %v less up to a fifth", attempt+1, d, backoff)
			}
			// Not due before the back-off has passed…
			clock.Advance(backoff * 3 / 4)
			if _, err := w1.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if row := outboxRow(t, st1, id); row.Attempts != attempt+1 {
				t.Fatalf("retried after %v, before the back-off of attempt %d", backoff*3/4, attempt+1)
			}
			// …and due after it.
			clock.Advance(backoff / 4)
		}
		if strings.Contains(outboxRow(t, st1, id).LastError, testToken) {
			t.Error("last_error contains the token")
		}

		// The process restarts and the SMTP server comes back.
		testdb.Must(t, st1.Close())
		srv.Restart()
		st2 := openStore(t, url)
		w2 := mail.NewWorker(st2, newSender(t, srv), key, clock.Now, log)
		if sent, err := w2.RunOnce(ctx); sent != 1 || err != nil {
			t.Fatalf("after recovery: RunOnce = %d, %v; want 1, nil", sent, err)
		}
		clock.Advance(time.Hour)
		if sent, err := w2.RunOnce(ctx); sent != 0 || err != nil {
			t.Fatalf("then: RunOnce = %d, %v; want 0, nil", sent, err)
		}
		if got := srv.Received(); len(got) != 1 {
			t.Fatalf("server received %d mails; want exactly 1", len(got))
		}
		if row := outboxRow(t, st2, id); row.SentAt == nil || row.Attempts != 3 || len(row.PayloadSealed) != 0 {
			t.Errorf("row after delivery: sent_at %v, attempts %d, payload %d bytes", row.SentAt, row.Attempts, len(row.PayloadSealed))
		}
	})
}

func TestWorkersNeverSendTwice(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{})
		clock := testdb.NewClock(t0)
		key := testKey(t, 1)
		log := newTestLog(t, testToken)
		seed := openStore(t, url)
		const total = 30
		for i := range total {
			m := testReset()
			m.Subject = fmt.Sprintf("mail %d", i)
			enqueue(t, seed, m, clock.Now())
		}

		// Two instances, each with its own database handle, small batches so
		// their claims interleave.
		var workers []*mail.Worker
		for range 2 {
			w := mail.NewWorker(openStore(t, url), newSender(t, srv), key, clock.Now, log)
			w.BatchSize = 3
			workers = append(workers, w)
		}
		sentBy := make([]int, len(workers))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, w := range workers {
			wg.Go(func() {
				<-start
				for {
					n, err := w.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return // nothing left that the other worker has not claimed
					}
					sentBy[i] += n
				}
			})
		}
		close(start)
		wg.Wait()

		perSubject := map[string]int{}
		for _, r := range srv.Received() {
			perSubject[smtptest.Parse(t, r.Data).Header.Get("Subject")]++
		}
		for i := range total {
			if n := perSubject[fmt.Sprintf("mail %d", i)]; n != 1 {
				t.Errorf("mail %d received %d times; want once", i, n)
			}
		}
		if len(srv.Received()) != total || sentBy[0]+sentBy[1] != total {
			t.Errorf("server received %d, workers sent %v; want %d in all", len(srv.Received()), sentBy, total)
		}
		if n, err := seed.PendingMailCount(ctx); n != 0 || err != nil {
			t.Errorf("PendingMailCount = %d, %v; want 0", n, err)
		}
		t.Logf("sent per worker: %v", sentBy)
	})
}

func TestWorkerUnsealableMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{})
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		log := newTestLog(t, testToken)
		id := enqueue(t, st, testReset(), clock.Now()) // sealed under key 1
		w := mail.NewWorker(st, newSender(t, srv), testKey(t, 2), clock.Now, log)

		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 0, nil", sent, err)
		}
		row := outboxRow(t, st, id)
		if row.Attempts != 1 || !strings.Contains(row.LastError, "SECRET_KEY") || !row.NextAttemptAt.Equal(t0.Add(w.UnsealDelay)) {
			t.Errorf("row = attempts %d, last_error %q, next %v; want 1, SECRET_KEY named, now+%v",
				row.Attempts, row.LastError, row.NextAttemptAt, w.UnsealDelay)
		}
		if len(row.PayloadSealed) == 0 {
			t.Error("payload wiped; it should be kept in case the old key comes back")
		}
		// No hot loop: polling on does not touch it.
		clock.Advance(time.Hour)
		for range 3 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if row := outboxRow(t, st, id); row.Attempts != 1 {
			t.Errorf("attempts = %d after an hour; want still 1", row.Attempts)
		}
		if len(srv.Received()) != 0 {
			t.Error("something was sent")
		}
	})
}

// notifyingOutbox reports each finished claim and delivery, so a test knows
// what Run is doing without sleeping.
type notifyingOutbox struct {
	mail.Outbox
	claimed chan int
	sent    chan uuid.UUID
}

func (o notifyingOutbox) MarkMailSent(ctx context.Context, id uuid.UUID, now time.Time) error {
	err := o.Outbox.MarkMailSent(ctx, id, now)
	o.sent <- id
	return err
}

func (o notifyingOutbox) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]models.OutboxMail, error) {
	mails, err := o.Outbox.ClaimMail(ctx, now, limit, lease)
	o.claimed <- len(mails)
	return mails, err
}

func TestWorkerRunWake(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		srv := smtptest.Start(t, smtptest.Config{})
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		ob := notifyingOutbox{Outbox: st, claimed: make(chan int, 10), sent: make(chan uuid.UUID, 10)}
		w := mail.NewWorker(ob, newSender(t, srv), testKey(t, 1), clock.Now, newTestLog(t, testToken))
		w.PollInterval = time.Hour // only Wake can start a pass in this test

		stop := startWorker(t, w)

		waitClaim := func() int {
			t.Helper()
			select {
			case n := <-ob.claimed:
				return n
			case <-time.After(10 * time.Second):
				t.Fatal("worker did not look for mail")
				return 0
			}
		}
		if n := waitClaim(); n != 0 { // the pass at start finds nothing
			t.Fatalf("first pass claimed %d", n)
		}
		id := enqueue(t, st, testReset(), clock.Now())
		w.Wake()
		if n := waitClaim(); n != 1 {
			t.Fatalf("woken pass claimed %d; want 1", n)
		}
		select {
		case got := <-ob.sent:
			if got != id {
				t.Fatalf("sent %s; want %s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("claimed mail not sent")
		}
		stop()
		if got := srv.Received(); len(got) != 1 {
			t.Fatalf("server received %d mails; want 1", len(got))
		}
	})
}

type senderFunc func(ctx context.Context, m mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

// A worker sends only while its lease outlasts the send, and hands the rest of
// its batch back, so no other worker can claim a mail it is still sending.
func TestWorkerStopsAtLeaseEnd(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		var ids []uuid.UUID
		for range 3 {
			ids = append(ids, enqueue(t, st, testReset(), clock.Now()))
		}
		slowSMTP := senderFunc(func(context.Context, mail.Message) error {
			clock.Advance(40 * time.Second) // Lease 1m, SendTimeout 30s: time for one only
			return nil
		})
		w := mail.NewWorker(st, slowSMTP, testKey(t, 1), clock.Now, newTestLog(t, testToken))
		if sent, err := w.RunOnce(context.Background()); sent != 1 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 1, nil", sent, err)
		}
		for _, id := range ids[1:] {
			if row := outboxRow(t, st, id); row.ClaimedUntil != nil || row.Attempts != 0 || row.SentAt != nil {
				t.Errorf("unsent mail: claimed_until %v, attempts %d, sent_at %v; want handed back untouched",
					row.ClaimedUntil, row.Attempts, row.SentAt)
			}
		}
	})
}

// Shutting down mid-batch hands the mails back without counting an attempt.
func TestWorkerShutdownReleasesMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		log := newTestLog(t, testToken)
		var ids []uuid.UUID
		for range 2 {
			ids = append(ids, enqueue(t, st, testReset(), clock.Now()))
		}
		ctx, cancel := context.WithCancel(context.Background())
		interrupted := senderFunc(func(ctx context.Context, _ mail.Message) error {
			cancel() // shutdown arrives during the send
			<-ctx.Done()
			return ctx.Err()
		})
		w := mail.NewWorker(st, interrupted, testKey(t, 1), clock.Now, log)
		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 0, nil", sent, err)
		}
		for _, id := range ids {
			if row := outboxRow(t, st, id); row.ClaimedUntil != nil || row.Attempts != 0 || row.LastError != "" {
				t.Errorf("after shutdown: claimed_until %v, attempts %d, last_error %q; want handed back untouched",
					row.ClaimedUntil, row.Attempts, row.LastError)
			}
		}

		// Another instance sends them at once, without waiting out a lease.
		w2 := mail.NewWorker(st, senderFunc(func(context.Context, mail.Message) error { return nil }), testKey(t, 1), clock.Now, log)
		if sent, err := w2.RunOnce(context.Background()); sent != 2 || err != nil {
			t.Fatalf("other instance: RunOnce = %d, %v; want 2, nil", sent, err)
		}
	})
}

// A mail whose link has expired is given up, not sent: at its first attempt,
// or at the failure after which the next attempt would come too late.
func TestWorkerGivesUpExpiredMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{})
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		log := newTestLog(t, testToken)
		w := mail.NewWorker(st, newSender(t, srv), testKey(t, 1), clock.Now, log)

		// Queued while the worker was away: one link has expired by the time
		// the worker runs (exactly now counts as expired), one has not, one never does.
		late := enqueueExpiring(t, st, testReset(), t0, t0.Add(30*time.Minute))
		due := enqueueExpiring(t, st, testReset(), t0, t0.Add(time.Hour))
		forever := enqueue(t, st, testReset(), t0)
		clock.Advance(30 * time.Minute)
		if sent, err := w.RunOnce(ctx); sent != 2 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 2 (the live links), nil", sent, err)
		}
		row := outboxRow(t, st, late)
		if row.GivenUpAt == nil || !row.GivenUpAt.Equal(clock.Now()) || row.SentAt != nil || row.Attempts != 0 ||
			len(row.PayloadSealed) != 0 || !strings.Contains(row.LastError, "expired") || row.ClaimedUntil != nil {
			t.Errorf("expired mail: given_up_at %v, sent_at %v, attempts %d, payload %d bytes, last_error %q, claimed_until %v;"+
				" want given up now, unsent, no attempt, wiped, expiry named, unclaimed",
				row.GivenUpAt, row.SentAt, row.Attempts, len(row.PayloadSealed), row.LastError, row.ClaimedUntil)
		}
		for _, id := range []uuid.UUID{due, forever} {
			if row := outboxRow(t, st, id); row.SentAt == nil || row.GivenUpAt != nil {
				t.Errorf("mail %s: sent_at %v, given_up_at %v; want sent", id, row.SentAt, row.GivenUpAt)
			}
		}
		if got := srv.Received(); len(got) != 2 {
			t.Fatalf("server received %d mails; want 2", len(got))
		}
		clock.Advance(time.Hour)
		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Errorf("later RunOnce = %d, %v; want 0, nil", sent, err)
		}
		if n, err := st.PendingMailCount(ctx); n != 0 || err != nil {
			t.Errorf("PendingMailCount = %d, %v; want 0", n, err)
		}

		// The SMTP server goes down: the mail is retried while its link lives.
		srv.Stop()
		start := clock.Now()
		expires := start.Add(30 * time.Minute)
		id := enqueueExpiring(t, st, testReset(), start, expires)
		for range 20 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			row = outboxRow(t, st, id)
			if row.GivenUpAt != nil {
				break
			}
			if !row.NextAttemptAt.Before(expires) {
				t.Fatalf("attempt %d: next attempt at %v, at or after the expiry %v", row.Attempts, row.NextAttemptAt, expires)
			}
			clock.Advance(row.NextAttemptAt.Sub(clock.Now()))
		}
		// With back-off from 5s doubling, the 9th attempt (at 21m15s) would be
		// followed by one at about 42m: it is the last.
		if row.GivenUpAt == nil || row.GivenUpAt.After(expires) || row.Attempts != 9 || row.SentAt != nil ||
			len(row.PayloadSealed) != 0 || !strings.Contains(row.LastError, "expires before the next attempt") {
			t.Fatalf("failing mail: given_up_at %v, attempts %d, sent_at %v, payload %d bytes, last_error %q;"+
				" want given up before %v after 9 attempts, wiped, reason given",
				row.GivenUpAt, row.Attempts, row.SentAt, len(row.PayloadSealed), row.LastError, expires)
		}
		srv.Restart()
		clock.Advance(time.Hour)
		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Errorf("after the server is back: RunOnce = %d, %v; want 0, nil", sent, err)
		}
		if got := srv.Received(); len(got) != 2 {
			t.Errorf("server received %d mails; want still 2", len(got))
		}
	})
}

// With starttls=required, a server that offers no STARTTLS (or a STARTTLS
// stripped by someone on the path) fails the send and the mail stays queued,
// to be retried; without it the mail goes out in clear text, as before.
func TestWorkerStartTLSRequired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "smtp-Pa55word"}) // no TLS
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		log := newTestLog(t, testToken, "smtp-Pa55word")
		required, err := mail.NewSMTPSender(srv.URL("mailer", "smtp-Pa55word")+"?starttls=required", testFrom)
		testdb.Must(t, err)
		w := mail.NewWorker(st, required, testKey(t, 1), clock.Now, log)

		id := enqueue(t, st, testReset(), clock.Now())
		if sent, err := w.RunOnce(ctx); sent != 0 || err != nil {
			t.Fatalf("RunOnce = %d, %v; want 0, nil", sent, err)
		}
		row := outboxRow(t, st, id)
		if row.SentAt != nil || row.GivenUpAt != nil || row.Attempts != 1 || !row.NextAttemptAt.After(t0) ||
			!strings.Contains(row.LastError, "STARTTLS") || len(row.PayloadSealed) == 0 {
			t.Fatalf("row = sent_at %v, given_up_at %v, attempts %d, next %v, last_error %q, payload %d bytes;"+
				" want queued for a retry, STARTTLS named",
				row.SentAt, row.GivenUpAt, row.Attempts, row.NextAttemptAt, row.LastError, len(row.PayloadSealed))
		}
		if got, auth := srv.Received(), srv.Authenticated(); len(got) != 0 || len(auth) != 0 {
			t.Fatalf("server received %d mails and %d logins in clear text; want none", len(got), len(auth))
		}

		// Opportunistic, the default: the retry goes out in clear text.
		clock.Advance(time.Minute)
		w = mail.NewWorker(st, newSender(t, srv), testKey(t, 1), clock.Now, log)
		if sent, err := w.RunOnce(ctx); sent != 1 || err != nil {
			t.Fatalf("opportunistic: RunOnce = %d, %v; want 1, nil", sent, err)
		}
		got := srv.Received()
		if len(got) != 1 || got[0].TLS {
			t.Fatalf("received %d mails; want 1 in clear text", len(got))
		}
		checkResetMail(t, got[0])
	})
}

// cleaningOutbox reports each clean-up's deletions and each claim.
type cleaningOutbox struct {
	mail.Outbox
	deleted chan int64
	claimed chan struct{}
}

func (o cleaningOutbox) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]models.OutboxMail, error) {
	mails, err := o.Outbox.ClaimMail(ctx, now, limit, lease)
	o.claimed <- struct{}{}
	return mails, err
}

func (o cleaningOutbox) DeleteFinishedMail(ctx context.Context, before time.Time, limit int) (int64, error) {
	n, err := o.Outbox.DeleteFinishedMail(ctx, before, limit)
	o.deleted <- n
	return n, err
}

// Run deletes the mails sent or given up more than Retention ago, every
// CleanupEvery on the worker's clock; queued mails stay.
func TestWorkerCleansUpFinishedMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := openStore(t, url)
		clock := testdb.NewClock(t0)
		down := senderFunc(func(context.Context, mail.Message) error { return fmt.Errorf("421 try later") })
		ob := cleaningOutbox{Outbox: st, deleted: make(chan int64, 10), claimed: make(chan struct{}, 10)}
		w := mail.NewWorker(ob, down, testKey(t, 1), clock.Now, newTestLog(t, testToken))
		w.PollInterval = time.Hour // only Wake starts a pass after the first
		if w.Retention != 7*24*time.Hour {
			t.Errorf("default Retention = %v; want 7 days", w.Retention)
		}

		sent := enqueue(t, st, testReset(), t0)
		testdb.Must(t, st.MarkMailSent(ctx, sent, t0))
		givenUp := enqueue(t, st, testReset(), t0)
		testdb.Must(t, st.MarkMailGivenUp(ctx, givenUp, 1, t0, "expired"))
		queued := enqueue(t, st, testReset(), t0) // failing for ever, never finished
		clock.Advance(3 * 24 * time.Hour)
		recent := enqueue(t, st, testReset(), clock.Now())
		testdb.Must(t, st.MarkMailSent(ctx, recent, clock.Now()))

		stop := startWorker(t, w)
		// pass waits for one pass of Run and returns what its clean-up
		// deleted, or -1 when it did not clean up (which comes before the claim).
		pass := func() int64 {
			t.Helper()
			select {
			case <-ob.claimed:
			case <-time.After(10 * time.Second):
				t.Fatal("worker did not look for mail")
			}
			select {
			case n := <-ob.deleted:
				return n
			default:
				return -1
			}
		}
		if n := pass(); n != 0 { // the first pass: nothing is 7 days old
			t.Fatalf("first pass deleted %d; want a clean-up deleting 0", n)
		}
		clock.Advance(4*24*time.Hour + time.Second) // the first two finished 7 days and a second ago
		w.Wake()
		if n := pass(); n != 2 {
			t.Fatalf("a pass a week on deleted %d; want 2", n)
		}
		// Within CleanupEvery, passes do not clean up again.
		clock.Advance(w.CleanupEvery - time.Second)
		w.Wake()
		if n := pass(); n != -1 {
			t.Errorf("a pass within CleanupEvery cleaned up (deleted %d)", n)
		}
		stop()

		db, err := st.SQL()
		testdb.Must(t, err)
		var left int
		testdb.Must(t, db.QueryRow("SELECT count(*) FROM mail_outbox").Scan(&left))
		if left != 2 {
			t.Errorf("%d rows left; want 2 (the queued mail and the one sent 4 days ago)", left)
		}
		for _, id := range []uuid.UUID{queued, recent} {
			outboxRow(t, st, id) // fails the test if gone
		}
	})
}

// startWorker runs w.Run in the background; stop ends it and waits for it,
// and runs at the end of the test anyway.
func startWorker(t *testing.T, w *mail.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}
