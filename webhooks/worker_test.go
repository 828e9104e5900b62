package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/webhooks"
)

func testKey(t testing.TB) *secret.Key {
	t.Helper()
	k, err := secret.Parse(apitest.TestSecretKey)
	testdb.Must(t, err)
	return k
}

// addWebhook inserts a webhook row (as the admin API would) and returns its id.
func addWebhook(t testing.TB, st *store.Store, key *secret.Key, url, events, plain string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testdb.Must(t, st.CreateWebhook(context.Background(), &models.Webhook{
		ID: id, URL: url, Events: events, SecretSealed: webhooks.SealSecret(key, id, plain), CreatedAt: now, UpdatedAt: now,
	}))
	return id
}

// receiver is a webhook endpoint that verifies every delivery with the
// Standard Webhooks library and answers with the next of its statuses.
type receiver struct {
	t        testing.TB
	srv      *httptest.Server
	verifier *standardwebhooks.Webhook
	statuses []int // answers in order; the last repeats; empty: 200
	block    chan struct{}

	mu   sync.Mutex
	got  []delivery
	seen map[string]int // webhook-id → requests
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, secret string, statuses ...int) *receiver {
	t.Helper()
	v, err := standardwebhooks.NewWebhook(secret)
	testdb.Must(t, err)
	r := &receiver{t: t, verifier: v, statuses: statuses, seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.block != nil {
		select {
		case <-r.block:
		case <-req.Context().Done():
			return
		}
	}
	// The worker's clock is the test's fake one, years away from the real
	// time the library's tolerance compares with: the signature is verified
	// without it, and the timestamp checked against the fake clock by the tests.
	if err := r.verifier.VerifyIgnoringTimestamp(body, req.Header); err != nil {
		r.t.Errorf("delivery does not verify: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" || req.Method != http.MethodPost {
		r.t.Errorf("%s with Content-Type %q", req.Method, ct)
	}
	r.mu.Lock()
	n := len(r.got)
	r.got = append(r.got, delivery{req.Header.Clone(), body})
	r.seen[req.Header.Get("webhook-id")]++
	r.mu.Unlock()
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status = r.statuses[min(n, len(r.statuses)-1)]
	}
	if status != http.StatusOK {
		http.Error(w, "boom "+strings.Repeat("x", 500), status)
		return
	}
	w.WriteHeader(status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type env struct {
	st     *store.Store
	key    *secret.Key
	clock  *testdb.Clock
	worker *webhooks.Worker
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	st := testdb.Open(t, dialect)
	key := testKey(t)
	clock := testdb.NewClock(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))
	w := webhooks.NewWorker(st, key, true, clock.Now, slog.New(slog.DiscardHandler))
	return &env{st: st, key: key, clock: clock, worker: w}
}

func (e *env) enqueue(t testing.TB, typ string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	payload, err := store.EventPayload(id, typ, e.clock.Now(), map[string]any{"user_id": uuid.New()})
	testdb.Must(t, err)
	testdb.Must(t, e.st.EnqueueEvent(context.Background(), typ, id, payload, e.clock.Now()))
	return id
}

func (e *env) runOnce(t testing.TB) int {
	t.Helper()
	n, err := e.worker.RunOnce(context.Background())
	testdb.Must(t, err)
	return n
}

func (e *env) only(t testing.TB, hook uuid.UUID) models.WebhookDelivery {
	t.Helper()
	ds, err := e.st.WebhookDeliveries(context.Background(), hook, 10)
	testdb.Must(t, err)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

// TestDeliverSigned: a queued event is POSTed once, signed (Standard
// Webhooks: webhook-id the event's id, webhook-timestamp the worker's clock),
// and recorded delivered.
func TestDeliverSigned(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain)
		hook := addWebhook(t, e.st, e.key, r.srv.URL+"/hook?token=abc", "user.created", plain)
		ev := e.enqueue(t, "user.created")
		e.enqueue(t, "user.deleted") // not subscribed
		if n := e.runOnce(t); n != 1 {
			t.Fatalf("tried %d", n)
		}
		got := r.deliveries()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		h := got[0].header
		if h.Get("webhook-id") != ev.String() || h.Get("webhook-timestamp") != strconv.FormatInt(e.clock.Now().Unix(), 10) ||
			!strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
			t.Errorf("headers %v", h)
		}
		var body map[string]any
		testdb.Must(t, json.Unmarshal(got[0].body, &body))
		if body["id"] != ev.String() || body["type"] != "user.created" {
			t.Errorf("body %s", got[0].body)
		}
		dl := e.only(t, hook)
		if dl.Status != models.DeliveryDelivered || dl.Attempts != 1 || dl.LastStatusCode == nil || *dl.LastStatusCode != 200 || dl.DeliveredAt == nil {
			t.Errorf("row %+v", dl)
		}
		if n := e.runOnce(t); n != 0 || len(r.deliveries()) != 1 {
			t.Errorf("sent again: %d", n)
		}
	})
}

// TestRetryThenRecover: a 500 is retried with back-off on the worker's clock
// (nothing is due before), attempts are counted, the answer's status and a
// short error are kept, and a later 2xx delivers.
func TestRetryThenRecover(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain, 500, 500, 200)
		hook := addWebhook(t, e.st, e.key, r.srv.URL, "*", plain)
		ev := e.enqueue(t, "user.login")

		e.runOnce(t)
		dl := e.only(t, hook)
		if dl.Status != models.DeliveryPending || dl.Attempts != 1 || dl.LastStatusCode == nil || *dl.LastStatusCode != 500 ||
			!strings.HasPrefix(dl.LastError, "HTTP 500: boom") || len(dl.LastError) > 300 || dl.ClaimedUntil != nil {
			t.Fatalf("after a 500: %+v", dl)
		}
		wait := dl.NextAttemptAt.Sub(e.clock.Now())
		if wait < 4*time.Second || wait > 5*time.Second {
			t.Errorf("first back-off %v, want 4-5s", wait)
		}
		if n := e.runOnce(t); n != 0 {
			t.Fatalf("retried before its time: %d", n)
		}
		e.clock.Advance(5 * time.Second)
		e.runOnce(t)
		dl = e.only(t, hook)
		if dl.Attempts != 2 || dl.Status != models.DeliveryPending {
			t.Fatalf("second attempt: %+v", dl)
		}
		if wait := dl.NextAttemptAt.Sub(e.clock.Now()); wait < 8*time.Second || wait > 10*time.Second {
			t.Errorf("second back-off %v, want 8-10s", wait)
		}
		e.clock.Advance(10 * time.Second)
		e.runOnce(t)
		dl = e.only(t, hook)
		if dl.Status != models.DeliveryDelivered || dl.Attempts != 3 || *dl.LastStatusCode != 200 || dl.LastError != "" {
			t.Fatalf("recovered: %+v", dl)
		}
		got := r.deliveries()
		if len(got) != 3 {
			t.Fatalf("%d requests", len(got))
		}
		for _, g := range got { // one event: the same id each time, for the receiver's deduplication
			if g.header.Get("webhook-id") != ev.String() {
				t.Errorf("webhook-id %q", g.header.Get("webhook-id"))
			}
		}
	})
}

// TestTimeoutAndRefusal: no answer within the timeout, or a refused
// connection, is a failed attempt without a status, retried.
func TestTimeoutAndRefusal(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		e.worker.Timeout = 200 * time.Millisecond
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain)
		r.block = make(chan struct{})
		t.Cleanup(func() { close(r.block) })
		slow := addWebhook(t, e.st, e.key, r.srv.URL, "*", plain)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		testdb.Must(t, err)
		closed := "http://" + ln.Addr().String()
		ln.Close()
		refused := addWebhook(t, e.st, e.key, closed, "*", plain)
		e.enqueue(t, "user.login")

		start := time.Now()
		e.runOnce(t)
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %v", el)
		}
		for hook, want := range map[uuid.UUID]string{slow: "timed out after 200ms", refused: "connection refused"} {
			dl := e.only(t, hook)
			if dl.Status != models.DeliveryPending || dl.Attempts != 1 || dl.LastStatusCode != nil ||
				!strings.Contains(dl.LastError, want) || !dl.NextAttemptAt.After(e.clock.Now()) {
				t.Errorf("%s: %+v, want error %q", hook, dl, want)
			}
			if strings.Contains(dl.LastError, "http://") {
				t.Errorf("error repeats the URL: %q", dl.LastError)
			}
		}
	})
}

// TestGiveUpAfter24h: a delivery still failing 24 h after its event ends failed.
func TestGiveUpAfter24h(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain, 503)
		hook := addWebhook(t, e.st, e.key, r.srv.URL, "*", plain)
		e.enqueue(t, "user.login")
		e.runOnce(t)
		e.clock.Advance(23 * time.Hour)
		e.runOnce(t)
		if dl := e.only(t, hook); dl.Status != models.DeliveryPending || dl.Attempts != 2 {
			t.Fatalf("at 23h: %+v", dl)
		}
		e.clock.Advance(59*time.Minute + 50*time.Second) // the next back-off (16-20s) would pass 24h
		e.runOnce(t)
		dl := e.only(t, hook)
		if dl.Status != models.DeliveryFailed || dl.Attempts != 3 || *dl.LastStatusCode != 503 {
			t.Fatalf("given up: %+v", dl)
		}
		e.clock.Advance(48 * time.Hour)
		if n := e.runOnce(t); n != 0 || len(r.deliveries()) != 3 {
			t.Errorf("failed delivery tried again: %d", n)
		}
	})
}

// TestSecondInstanceDelivers: an event committed by one instance whose
// worker never ran (killed between the commit and the delivery) is delivered
// by another instance on the same database. The event is a signup through
// the API: user.created, with the user's id and no client address or agent.
func TestSecondInstanceDelivers(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		vars := apitest.Vars{"WEBHOOK_ALLOW_PRIVATE": "true"}
		first := apitest.New(t, d, vars)
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain)
		addWebhook(t, first.App.Store, first.App.Secret, r.srv.URL, "user.created user.deleted", plain)
		user := first.Signup("hooked")
		first.Login("hooked", apitest.StrongPassword) // user.login: not subscribed

		second := apitest.NewOn(t, first.URL, vars)
		n, err := second.App.Webhooks.RunOnce(context.Background())
		testdb.Must(t, err)
		got := r.deliveries()
		if n != 1 || len(got) != 1 {
			t.Fatalf("tried %d, received %d", n, len(got))
		}
		var body struct {
			ID, Type, Timestamp string
			Data                map[string]any
		}
		testdb.Must(t, json.Unmarshal(got[0].body, &body))
		if body.Type != "user.created" || body.Data["user_id"] != user["id"] || body.ID != got[0].header.Get("webhook-id") {
			t.Errorf("event %s", got[0].body)
		}
		for _, leak := range []string{"192.0.2.1", "Go-http-client", `"ip"`, "user_agent", "password", "hash"} {
			if strings.Contains(string(got[0].body), leak) {
				t.Errorf("payload holds %q: %s", leak, got[0].body)
			}
		}
		// The first instance's worker, run now, finds nothing left.
		if n, err := first.App.Webhooks.RunOnce(context.Background()); err != nil || n != 0 {
			t.Errorf("first instance: %d, %v", n, err)
		}
	})
}

// TestConcurrentWorkers: two workers on two stores of one database, claiming
// at once, never send one delivery twice.
func TestConcurrentWorkers(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		url := testdb.URL(t, d)
		open := func() *store.Store {
			st, err := store.Open(ctx, url, store.Options{})
			testdb.Must(t, err)
			t.Cleanup(func() { st.Close() })
			testdb.Must(t, st.Migrate(ctx))
			return st
		}
		a, b := open(), open()
		key := testKey(t)
		clock := testdb.NewClock(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))
		plain := webhooks.NewSecret()
		r := newReceiver(t, plain)
		addWebhook(t, a, key, r.srv.URL, "*", plain)
		const events = 60
		for range events {
			id := uuid.Must(uuid.NewV7())
			testdb.Must(t, a.EnqueueEvent(ctx, "user.login", id, []byte(`{"id":"`+id.String()+`"}`), clock.Now()))
		}
		var tried atomic.Int64
		var wg sync.WaitGroup
		for _, st := range []*store.Store{a, b} {
			w := webhooks.NewWorker(st, key, true, clock.Now, slog.New(slog.DiscardHandler))
			w.BatchSize = 7
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := w.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
					tried.Add(int64(n))
				}
			}()
		}
		wg.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		if tried.Load() != events || len(r.seen) != events || len(r.got) != events {
			t.Fatalf("tried %d, %d distinct of %d requests, want %d", tried.Load(), len(r.seen), len(r.got), events)
		}
		for id, n := range r.seen {
			if n != 1 {
				t.Errorf("%s sent %d times", id, n)
			}
		}
	})
}

// TestPrivateAddressesRefused: without WEBHOOK_ALLOW_PRIVATE the worker does
// not send to http URLs, to literal private addresses, nor to a name that
// resolves to one when dialled, even if it resolved to a public address
// before (DNS rebinding): the check is on the address dialled.
func TestPrivateAddressesRefused(t *testing.T) {
	e := newEnv(t, store.SQLite)
	e.worker = webhooks.NewWorker(e.st, e.key, false, e.clock.Now, slog.New(slog.DiscardHandler))
	plain := webhooks.NewSecret()
	r := newReceiver(t, plain)
	port := r.srv.Listener.Addr().(*net.TCPAddr).Port
	var lookups atomic.Int64
	// A rebinding name: public at its first lookup, loopback afterwards.
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host != "rebind.example.com" {
			return nil, errors.New("no such host")
		}
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	e.worker.Client = webhooks.NewClient(false, resolve)
	rebind := "https://rebind.example.com:" + strconv.Itoa(port) + "/hook"
	// The admin API's check passes, and a lookup then (say, a check at
	// creation) finds a public address.
	testdb.Must(t, webhooks.CheckURL(rebind, false))
	if addrs, _ := resolve(context.Background(), "rebind.example.com"); !webhooks.IsPublic(addrs[0]) {
		t.Fatal("first lookup not public")
	}

	cases := map[string]string{
		// Literal addresses and http are refused before dialling (CheckURL)…
		r.srv.URL: "must be an https URL",
		"https://127.0.0.1:" + strconv.Itoa(port):          "must not point to a private",
		"https://[::ffff:127.0.0.1]:" + strconv.Itoa(port): "must not point to a private",
		// …a name when dialled, on the address it resolves to then.
		rebind: "address is not public: 127.0.0.1",
	}
	hooks := map[uuid.UUID]string{}
	for u, want := range cases {
		hooks[addWebhook(t, e.st, e.key, u, "*", plain)] = want
	}
	e.enqueue(t, "user.login")
	if n := e.runOnce(t); n != len(cases) {
		t.Fatalf("tried %d", n)
	}
	for hook, want := range hooks {
		dl := e.only(t, hook)
		if dl.Status != models.DeliveryPending || !strings.Contains(dl.LastError, want) {
			t.Errorf("%+v, want error %q", dl, want)
		}
	}
	if got := r.deliveries(); len(got) != 0 {
		t.Fatalf("a private address received %d deliveries", len(got))
	}
	if lookups.Load() != 2 {
		t.Errorf("the rebinding name was not resolved at dial time (%d lookups)", lookups.Load())
	}
}
