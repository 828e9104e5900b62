package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Webhooks across instances: every instance runs a delivery worker on the one
// outbox, so an event made on any instance is delivered by one of them, at
// least once, signed as Standard Webhooks say. With a receiver that always
// answers 2xx it must arrive exactly once (a claim leases it to one worker);
// with one that fails the first attempt, it arrives after a retry.

// webhookVars is clusterVars with private (http://127.0.0.1) receivers allowed.
func webhookVars(t testing.TB) map[string]string {
	vars := clusterVars(t)
	vars["WEBHOOK_ALLOW_PRIVATE"] = "true"
	return vars
}

// delivery is one request the receiver accepted as correctly signed.
type delivery struct {
	id, typ, userID string
	status          int // what the receiver answered
}

// receiver is a webhook endpoint in the test process that verifies every
// request's signature and records it.
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	hook    *standardwebhooks.Webhook
	got     []delivery
	bad     []string       // requests that failed verification or parsing
	seen    map[string]int // webhook-id → requests for it
	failFor int            // answer 500 to the first failFor requests of each webhook-id
}

func newReceiver(t testing.TB, failFor int) *receiver {
	rv := &receiver{t: t, seen: map[string]int{}, failFor: failFor}
	rv.srv = httptest.NewServer(http.HandlerFunc(rv.serve))
	t.Cleanup(rv.srv.Close)
	return rv
}

// setSecret arms the receiver with the webhook's signing secret; until then
// it answers 503 (nothing may arrive before the webhook is made).
func (rv *receiver) setSecret(secret string) {
	hook, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		rv.t.Fatalf("standardwebhooks.NewWebhook(%q…): %v", secret[:min(len(secret), 10)], err)
	}
	rv.mu.Lock()
	rv.hook = hook
	rv.mu.Unlock()
}

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	payload, err := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	fail := func(format string, args ...any) {
		rv.bad = append(rv.bad, fmt.Sprintf(format, args...))
		w.WriteHeader(http.StatusBadRequest)
	}
	switch {
	case err != nil:
		fail("reading the body: %v", err)
		return
	case rv.hook == nil:
		fail("a request before the webhook was created: %s", payload)
		return
	case r.Method != http.MethodPost:
		fail("method %s", r.Method)
		return
	}
	// The full verification: signature and the timestamp's tolerance (the
	// instances use the real clock).
	if err := rv.hook.Verify(payload, r.Header); err != nil {
		fail("Verify: %v (webhook-id %q)", err, r.Header.Get("webhook-id"))
		return
	}
	var ev struct {
		ID        string         `json:"id"`
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		fail("body is not JSON: %v: %s", err, payload)
		return
	}
	id := r.Header.Get("webhook-id")
	if ev.ID != id {
		fail("body id %q differs from webhook-id %q", ev.ID, id)
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil {
		fail("event %s: timestamp %q: %v", id, ev.Timestamp, err)
		return
	}
	rv.seen[id]++
	status := http.StatusNoContent
	if rv.seen[id] <= rv.failFor {
		status = http.StatusInternalServerError
	}
	uid, _ := ev.Data["user_id"].(string)
	rv.got = append(rv.got, delivery{id: id, typ: ev.Type, userID: uid, status: status})
	w.WriteHeader(status)
}

// snapshot is the deliveries answered 2xx, the requests per webhook-id, and
// the requests refused.
func (rv *receiver) snapshot() (accepted []delivery, attempts map[string]int, bad []string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	attempts = map[string]int{}
	for _, d := range rv.got {
		attempts[d.id]++
		if d.status < 300 {
			accepted = append(accepted, d)
		}
	}
	return accepted, attempts, append([]string(nil), rv.bad...)
}

// createWebhook has the admin create a webhook for url on instance i; it
// returns its id and arms rv with its secret.
func (c *cluster) createWebhook(t *testing.T, i int, rv *receiver, events []string) string {
	t.Helper()
	r := c.must(t, c.node(i), c.ip(), "POST", "/v1/webhooks", c.admin(t), map[string]any{
		"url": rv.srv.URL + "/hook", "events": events, "description": "cluster test " + c.run,
	})
	wh, _ := r.body["webhook"].(map[string]any)
	id, _ := wh["id"].(string)
	secret := r.str("secret")
	if r.status != http.StatusCreated || id == "" || len(secret) < len("whsec_")+16 || secret[:6] != "whsec_" {
		t.Fatalf("POST /v1/webhooks on %s: %v; want 201 with a webhook and a whsec_ secret", c.node(i).name, r)
	}
	rv.setSecret(secret)
	return id
}

// wantKey is one expected event: its type and user.
type wantKey struct{ typ, userID string }

// waitEvents polls the receiver (every 200 ms, until the deadline) until each
// expected (type, user) has been accepted as often as want says.
func waitEvents(t *testing.T, rv *receiver, want map[wantKey]int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		accepted, _, bad := rv.snapshot()
		if len(bad) > 0 {
			t.Fatalf("the receiver refused %d request(s): %v", len(bad), bad)
		}
		have := map[wantKey]int{}
		for _, d := range accepted {
			have[wantKey{d.typ, d.userID}]++
		}
		missing := 0
		for k, n := range want {
			if have[k] < n {
				missing += n - have[k]
			}
		}
		if missing == 0 {
			return accepted
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d expected event(s) not delivered (%d accepted so far: %v)", within, missing, len(accepted), have)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deliveriesOf lists the webhook's deliveries on instance i (the list names
// each delivery's event type, not its event id).
func (c *cluster) deliveriesOf(t *testing.T, i int, webhookID string) []map[string]any {
	t.Helper()
	r := c.must(t, c.node(i), c.ip(), "GET", "/v1/webhooks/"+webhookID+"/deliveries", c.admin(t), nil)
	list, ok := r.body["deliveries"].([]any)
	if r.status != http.StatusOK || !ok {
		t.Fatalf("GET /v1/webhooks/%s/deliveries on %s: %v", webhookID, c.node(i).name, r)
	}
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		m, _ := d.(map[string]any)
		out = append(out, m)
	}
	return out
}

// waitDeliveries polls the deliveries list on instance i until n of them are
// delivered with ok true for each, or the deadline passes.
func (c *cluster) waitDeliveries(t *testing.T, i int, webhookID string, n int, ok func(map[string]any) error, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		list := c.deliveriesOf(t, i, webhookID)
		delivered := 0
		var errs []string
		for _, d := range list {
			if d["status"] != "delivered" {
				continue
			}
			delivered++
			if err := ok(d); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			t.Fatalf("deliveries on %s: %v", c.node(i).name, errs)
		}
		if delivered == n && len(list) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries on %s: %d listed, %d delivered; want %d, all delivered: %v", c.node(i).name, len(list), delivered, n, list)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWebhooksAcrossInstances: 15 signups and 15 logins spread over A, B and
// C reach a receiver exactly once each, signed, with the users' ids, and the
// deliveries list of any instance shows them delivered.
func TestWebhooksAcrossInstances(t *testing.T) {
	c := startCluster(t, webhookVars(t), 3)
	rv := newReceiver(t, 0)
	whID := c.createWebhook(t, 0, rv, []string{"*"})

	const perNode = 5
	want := map[wantKey]int{}
	var users []user
	for i := range 3 * perNode {
		u := c.newUser(t, i%3) // A, B, C, A, …
		users = append(users, u)
		want[wantKey{"user.created", u.id}] = 1
	}
	for i, u := range users {
		c.login(t, i+1, u) // each on another instance than its signup
		want[wantKey{"user.login", u.id}] = 1
	}

	accepted := waitEvents(t, rv, want, 30*time.Second)
	// Whatever arrived late would be a duplicate: give the workers a poll more.
	time.Sleep(2500 * time.Millisecond)
	accepted, attempts, bad := rv.snapshot()
	if len(bad) > 0 {
		t.Fatalf("the receiver refused %d request(s): %v", len(bad), bad)
	}
	known := map[string]bool{}
	for _, u := range users {
		known[u.id] = true
	}
	have := map[wantKey]int{}
	for _, d := range accepted {
		if !known[d.userID] {
			t.Errorf("event %s (%s) for user %q, not one of this test's users", d.id, d.typ, d.userID)
		}
		have[wantKey{d.typ, d.userID}]++
	}
	for id, n := range attempts {
		if n != 1 {
			t.Errorf("event %s arrived %d times; want exactly once (the receiver always answers 204)", id, n)
		}
	}
	for k, n := range want {
		if have[k] != n {
			t.Errorf("%s for user %s arrived %d times; want %d", k.typ, k.userID, have[k], n)
		}
	}
	if len(accepted) != len(want) {
		t.Errorf("%d events arrived; want %d (15 user.created, 15 user.login)", len(accepted), len(want))
	}

	// The list is the same on every instance: each shows every delivery delivered, at the first attempt.
	for i := range 3 {
		c.waitDeliveries(t, i, whID, len(want), func(d map[string]any) error {
			if d["attempts"] != float64(1) || d["last_status_code"] != float64(204) || d["delivered_at"] == nil {
				return fmt.Errorf("delivery %v: want attempts 1, last_status_code 204, delivered_at set", d)
			}
			return nil
		}, 10*time.Second)
	}
}

// TestWebhooksRetriedAcrossInstances: the receiver answers 500 to the first
// attempt of each event, then 204: each event still arrives (the retry comes
// after the first back-off, about 5 s), and the deliveries list shows at
// least two attempts for each.
func TestWebhooksRetriedAcrossInstances(t *testing.T) {
	c := startCluster(t, webhookVars(t), 3)
	rv := newReceiver(t, 1)
	whID := c.createWebhook(t, 1, rv, []string{"user.created", "user.login"}) // on B

	want := map[wantKey]int{}
	var users []user
	for i := range 3 {
		u := c.newUser(t, i)
		users = append(users, u)
		want[wantKey{"user.created", u.id}] = 1
	}
	for i, u := range users {
		c.login(t, i+2, u)
		want[wantKey{"user.login", u.id}] = 1
	}

	accepted := waitEvents(t, rv, want, 30*time.Second)
	_, attempts, _ := rv.snapshot()
	if len(accepted) != len(want) {
		t.Errorf("%d events accepted; want %d", len(accepted), len(want))
	}
	for _, d := range accepted {
		if attempts[d.id] < 2 {
			t.Errorf("event %s (%s) accepted at attempt %d; the first was answered 500", d.id, d.typ, attempts[d.id])
		}
	}
	for i := range 3 {
		c.waitDeliveries(t, i, whID, len(want), func(d map[string]any) error {
			n, _ := d["attempts"].(float64)
			if n < 2 || d["last_status_code"] != float64(204) || d["delivered_at"] == nil {
				return fmt.Errorf("delivery %v: want attempts ≥ 2, last_status_code 204, delivered_at set", d)
			}
			return nil
		}, 10*time.Second)
	}
}
