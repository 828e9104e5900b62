package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

func addWebhook(t *testing.T, st *store.Store, events string, disabled bool) uuid.UUID {
	t.Helper()
	w := &models.Webhook{ID: uuid.Must(uuid.NewV7()), URL: "https://hooks.example.com/in", Events: events,
		SecretSealed: []byte("sealed"), Disabled: disabled, CreatedAt: t0(), UpdatedAt: t0()}
	testdb.Must(t, st.GORM().Create(w).Error)
	return w.ID
}

func deliveriesOf(t *testing.T, st *store.Store) []models.WebhookDelivery {
	t.Helper()
	var ds []models.WebhookDelivery
	testdb.Must(t, st.GORM().Order("created_at, id").Find(&ds).Error)
	return ds
}

// TestEnqueueEvent: one pending delivery per enabled webhook subscribed to
// the type or to "*"; none for a disabled one, none for webhook.test except
// through EnqueueEventFor.
func TestEnqueueEvent(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		ev := uuid.Must(uuid.NewV7())
		testdb.Must(t, st.EnqueueEvent(ctx, store.EventUserLogin, ev, []byte(`{}`), t0()))
		if n := len(deliveriesOf(t, st)); n != 0 {
			t.Fatalf("no webhook: %d deliveries", n)
		}
		login := addWebhook(t, st, "user.created user.login", false)
		all := addWebhook(t, st, "*", false)
		addWebhook(t, st, "*", true)
		other := addWebhook(t, st, "user.deleted", false)
		testdb.Must(t, st.EnqueueEvent(ctx, store.EventUserLogin, ev, []byte(`{"x":1}`), t0()))
		ds := deliveriesOf(t, st)
		got := map[uuid.UUID]bool{}
		for _, d := range ds {
			got[d.WebhookID] = true
			if d.Status != models.DeliveryPending || d.Attempts != 0 || !d.NextAttemptAt.Equal(t0()) || d.EventID != ev ||
				d.EventType != store.EventUserLogin || d.Payload != `{"x":1}` || d.ClaimedUntil != nil {
				t.Errorf("delivery %+v", d)
			}
		}
		if len(ds) != 2 || !got[login] || !got[all] {
			t.Fatalf("deliveries %+v, want one for %s and %s", ds, login, all)
		}
		testdb.Must(t, st.EnqueueEvent(ctx, store.EventWebhookTest, uuid.Must(uuid.NewV7()), []byte(`{}`), t0()))
		if n := len(deliveriesOf(t, st)); n != 2 {
			t.Fatalf("webhook.test went to subscribers: %d deliveries", n)
		}
		testEv := uuid.Must(uuid.NewV7())
		testdb.Must(t, st.EnqueueEventFor(ctx, other, store.EventWebhookTest, testEv, map[string]any{"webhook_id": other}, t0()))
		ds = deliveriesOf(t, st)
		if len(ds) != 3 || ds[2].WebhookID != other || ds[2].EventType != store.EventWebhookTest {
			t.Fatalf("EnqueueEventFor: %+v", ds)
		}
		var body map[string]any
		testdb.Must(t, json.Unmarshal([]byte(ds[2].Payload), &body))
		if body["id"] != testEv.String() || body["type"] != "webhook.test" || body["timestamp"] != "2026-01-02T15:04:05Z" ||
			body["data"].(map[string]any)["webhook_id"] != other.String() {
			t.Errorf("test payload %s", ds[2].Payload)
		}
		if err := st.EnqueueEventFor(ctx, uuid.New(), store.EventWebhookTest, testEv, nil, t0()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown webhook: %v", err)
		}
	})
}

// TestAuditEnqueuesWebhookEvents: AddAudit queues the mapped event in its
// transaction (a rolled back change sends nothing), with only whitelisted
// details; unmapped audit types queue nothing.
func TestAuditEnqueuesWebhookEvents(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		addWebhook(t, st, "*", false)
		u := addUser(t, st, "hooked", nil, nil)
		client := audit.NewClient("198.51.100.7", "Secret-Agent/1.0")
		sid := uuid.Must(uuid.NewV7())
		login := audit.Event(audit.LoginSucceeded, t0(), u.ID, u.ID, client,
			audit.Details{"session_id": sid, "amr": []string{"pwd"}, "method": "password", "remember": true, "token": "tok-secret"})

		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx *store.Store) error {
			testdb.Must(t, tx.AddAudit(ctx, login))
			return boom
		})
		if !errors.Is(err, boom) || len(deliveriesOf(t, st)) != 0 {
			t.Fatalf("rolled back: err %v, deliveries %+v", err, deliveriesOf(t, st))
		}
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error { return tx.AddAudit(ctx, login) }))
		ds := deliveriesOf(t, st)
		if len(ds) != 1 || ds[0].EventID != login.ID || ds[0].EventType != "user.login" {
			t.Fatalf("deliveries %+v", ds)
		}
		for _, leak := range []string{"198.51.100.7", "Secret-Agent", "tok-secret", `"ip"`, "user_agent"} {
			if strings.Contains(ds[0].Payload, leak) {
				t.Errorf("payload leaks %q: %s", leak, ds[0].Payload)
			}
		}
		var body struct {
			ID, Type, Timestamp string
			Data                map[string]any
		}
		testdb.Must(t, json.Unmarshal([]byte(ds[0].Payload), &body))
		if body.ID != login.ID.String() || body.Type != "user.login" || body.Timestamp != "2026-01-02T15:04:05Z" ||
			body.Data["user_id"] != u.ID.String() || body.Data["actor_id"] != u.ID.String() ||
			body.Data["session_id"] != sid.String() || body.Data["method"] != "password" || body.Data["remember"] != true {
			t.Errorf("payload %s", ds[0].Payload)
		}

		// Outside a transaction AddAudit makes one; email_verified of a new
		// address is email.changed; an unmapped type sends nothing.
		testdb.Must(t, st.AddAudit(ctx, audit.Event(audit.EmailVerified, t0(), uuid.Nil, u.ID, client, audit.Details{"changed_address": true})))
		testdb.Must(t, st.AddAudit(ctx, audit.Event(audit.EmailVerified, t0(), uuid.Nil, u.ID, client, audit.Details{"changed_address": false})))
		testdb.Must(t, st.AddAudit(ctx, audit.Event(audit.LoginFailed, t0(), uuid.Nil, u.ID, client, nil)))
		// A lockout of an unknown account is no user's event.
		testdb.Must(t, st.AddAudit(ctx, audit.Event(audit.LoginLocked, t0(), uuid.Nil, uuid.Nil, client, nil)))
		ds = deliveriesOf(t, st)
		if len(ds) != 3 || ds[1].EventType != "email.changed" || ds[2].EventType != "email.verified" {
			t.Fatalf("deliveries %+v", ds)
		}
	})
}

// TestWebhookEventTypes: the mapping only produces listed types.
func TestWebhookEventTypes(t *testing.T) {
	types := store.WebhookEventTypes()
	if len(types) != 19 || !store.IsWebhookEventType("webhook.test") || store.IsWebhookEventType("*") {
		t.Fatalf("types %v", types)
	}
}

// TestClaimDeliveries: due, pending, unleased deliveries of enabled webhooks
// are leased; outcomes are recorded; the admin list is newest first.
func TestClaimDeliveries(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		on := addWebhook(t, st, "*", false)
		off := addWebhook(t, st, "*", false)
		ev := func(at time.Time) uuid.UUID {
			id := uuid.Must(uuid.NewV7())
			testdb.Must(t, st.EnqueueEvent(ctx, store.EventUserUpdated, id, []byte(`{}`), at))
			return id
		}
		ev(t0())
		ev(t0().Add(time.Minute)) // not due yet
		testdb.Must(t, st.GORM().Model(&models.Webhook{}).Where("id = ?", off).Update("disabled", true).Error)

		got, err := st.ClaimDeliveries(ctx, t0(), time.Minute, 10)
		testdb.Must(t, err)
		if len(got) != 1 || got[0].WebhookID != on || got[0].URL != "https://hooks.example.com/in" || string(got[0].SecretSealed) != "sealed" {
			t.Fatalf("claimed %+v", got)
		}
		again, err := st.ClaimDeliveries(ctx, t0().Add(30*time.Second), time.Minute, 10)
		testdb.Must(t, err)
		if len(again) != 0 {
			t.Fatalf("leased delivery claimed again: %+v", again)
		}
		// The lease ends: claimable again, with the later one now due too.
		again, err = st.ClaimDeliveries(ctx, t0().Add(time.Minute), time.Minute, 10)
		testdb.Must(t, err)
		if len(again) != 2 || again[0].ID != got[0].ID {
			t.Fatalf("after the lease: %+v", again)
		}
		first, second := again[0].ID, again[1].ID
		testdb.Must(t, st.DeliverySucceeded(ctx, first, 204, t0().Add(time.Minute)))
		if err := st.DeliverySucceeded(ctx, first, 200, t0()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delivered twice: %v", err)
		}
		next := t0().Add(time.Hour)
		testdb.Must(t, st.DeliveryFailed(ctx, second, 0, "connection refused", next, t0()))
		dl, err := st.WebhookDelivery(ctx, second)
		testdb.Must(t, err)
		if dl.Status != models.DeliveryPending || dl.Attempts != 1 || dl.LastStatusCode != nil || dl.LastError != "connection refused" ||
			!dl.NextAttemptAt.Equal(next) || dl.ClaimedUntil != nil {
			t.Errorf("after a failure: %+v", dl)
		}
		testdb.Must(t, st.DeliveryFailed(ctx, second, 500, "HTTP 500", time.Time{}, t0()))
		dl, _ = st.WebhookDelivery(ctx, second)
		if dl.Status != models.DeliveryFailed || dl.Attempts != 2 || dl.LastStatusCode == nil || *dl.LastStatusCode != 500 {
			t.Errorf("given up: %+v", dl)
		}
		list, err := st.WebhookDeliveries(ctx, on, 10)
		testdb.Must(t, err)
		if len(list) != 2 || list[0].ID != second || list[1].ID != first ||
			list[1].Status != models.DeliveryDelivered || list[1].DeliveredAt == nil || *list[1].LastStatusCode != 204 {
			t.Errorf("list %+v", list)
		}
		if later, _ := st.ClaimDeliveries(ctx, t0().Add(48*time.Hour), time.Minute, 10); len(later) != 0 {
			t.Errorf("finished deliveries claimed: %+v", later)
		}
		// The disabled webhook's delivery waits; enabled again, it is claimed.
		testdb.Must(t, st.GORM().Model(&models.Webhook{}).Where("id = ?", off).Update("disabled", false).Error)
		if later, _ := st.ClaimDeliveries(ctx, t0().Add(48*time.Hour), time.Minute, 10); len(later) != 2 || later[0].WebhookID != off {
			t.Errorf("re-enabled: %+v", later)
		}
	})
}

// TestDeleteFinishedDeliveries: delivered and failed deliveries older than
// the cut are deleted, in batches; pending ones stay.
func TestDeleteFinishedDeliveries(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		addWebhook(t, st, "*", false)
		for range 5 {
			testdb.Must(t, st.EnqueueEvent(ctx, store.EventUserLogin, uuid.Must(uuid.NewV7()), []byte(`{}`), t0()))
		}
		ds := deliveriesOf(t, st)
		testdb.Must(t, st.DeliverySucceeded(ctx, ds[0].ID, 200, t0()))
		testdb.Must(t, st.DeliverySucceeded(ctx, ds[1].ID, 200, t0()))
		testdb.Must(t, st.DeliveryFailed(ctx, ds[2].ID, 500, "x", time.Time{}, t0()))
		testdb.Must(t, st.DeliveryFailed(ctx, ds[3].ID, 500, "x", t0().Add(time.Minute), t0()))
		if n, err := st.DeleteFinishedDeliveries(ctx, t0(), 10); err != nil || n != 0 {
			t.Fatalf("created at the cut: deleted %d, %v", n, err)
		}
		// Ids are UUIDv7 of the real time; created_at is the test clock's.
		cut := time.Now().Add(time.Hour)
		if n, err := st.DeleteFinishedDeliveries(ctx, cut, 2); err != nil || n != 2 {
			t.Fatalf("first batch: deleted %d, %v", n, err)
		}
		if n, err := st.DeleteFinishedDeliveries(ctx, cut, 2); err != nil || n != 1 {
			t.Fatalf("second batch: deleted %d, %v", n, err)
		}
		left := deliveriesOf(t, st)
		if len(left) != 2 || left[0].Status != models.DeliveryPending || left[1].Status != models.DeliveryPending {
			t.Fatalf("left %+v", left)
		}
	})
}
