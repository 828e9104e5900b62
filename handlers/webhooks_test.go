package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/apitest"
)

// The helpers of this file are prefixed wh, so that the file stands on its own.

// whCreate makes a webhook as tok (201) and returns it with its secret.
func whCreate(t *testing.T, e *apitest.Env, tok string, body map[string]any) (map[string]any, string) {
	t.Helper()
	var out struct {
		Webhook map[string]any `json:"webhook"`
		Secret  string         `json:"secret"`
	}
	e.WithT(t).As(tok, "POST", "/v1/webhooks", body).Expect(http.StatusCreated).Decode(&out)
	if !strings.HasPrefix(out.Secret, "whsec_") || len(out.Secret) < len("whsec_")+43 {
		t.Fatalf("secret %q: want whsec_ and at least 256 bits", out.Secret)
	}
	return out.Webhook, out.Secret
}

// whFieldError checks a 400 validation_failed naming field.
func whFieldError(t *testing.T, r *apitest.Response, field string) {
	t.Helper()
	r.ExpectProblem(http.StatusBadRequest, "validation_failed")
	var p struct {
		Errors []struct{ Field, Message string } `json:"errors"`
	}
	r.Decode(&p)
	if len(p.Errors) == 0 || p.Errors[0].Field != field || p.Errors[0].Message == "" {
		t.Fatalf("field errors %+v, want one for %s: %s", p.Errors, field, r.Body)
	}
}

// whDeliveries lists a webhook's deliveries as tok.
func whDeliveries(t *testing.T, e *apitest.Env, tok, id string) []map[string]any {
	t.Helper()
	var out struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	e.WithT(t).As(tok, "GET", "/v1/webhooks/"+id+"/deliveries", nil).Expect(http.StatusOK).Decode(&out)
	return out.Deliveries
}

// whRoleUser makes a user holding only the permissions and logs them in.
func whRoleUser(t *testing.T, e *apitest.Env, admin, name string, perms ...string) string {
	t.Helper()
	e = e.WithT(t)
	e.As(admin, "POST", "/v1/roles", map[string]any{"name": name, "permissions": perms}).Expect(http.StatusCreated)
	e.As(admin, "POST", "/v1/users", map[string]any{
		"email": name + "@example.com", "username": name, "password": apitest.StrongPassword, "roles": []string{name},
	}).Expect(http.StatusCreated)
	return e.Login(name, apitest.StrongPassword).AccessToken
}

func TestWebhooksAdministration(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		hook, secret := whCreate(t, e, admin, map[string]any{
			"url": " https://hooks.example.com/authsvc?token=abc ", "events": []string{"user.deleted", "user.created", "user.created"},
			"description": "  The CRM  ",
		})
		id := hook["id"].(string)
		want := map[string]any{
			"url": "https://hooks.example.com/authsvc?token=abc", "events": []any{"user.created", "user.deleted"},
			"description": "The CRM", "disabled": false, "created_at": "2026-01-02T15:04:05Z",
		}
		for k, v := range want {
			if got, _ := json.Marshal(hook[k]); string(got) != string(must(json.Marshal(v))) {
				t.Errorf("created webhook %s = %s, want %v", k, got, v)
			}
		}

		// The secret is shown once: neither read nor listed again.
		r := e.As(admin, "GET", "/v1/webhooks/"+id, nil).Expect(http.StatusOK)
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), "secret") {
			t.Errorf("GET shows the secret: %s", r.Body)
		}
		if got := r.JSON()["webhook"].(map[string]any)["url"]; got != want["url"] {
			t.Errorf("GET url %v", got)
		}
		r = e.As(admin, "GET", "/v1/webhooks", nil).Expect(http.StatusOK)
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("the list shows the secret: %s", r.Body)
		}
		var list struct{ Webhooks []map[string]any }
		r.Decode(&list)
		if len(list.Webhooks) != 1 || list.Webhooks[0]["id"] != id {
			t.Fatalf("list %+v, want the one webhook", list.Webhooks)
		}

		// "*" stands for all, and alone.
		all, _ := whCreate(t, e, admin, map[string]any{"url": "https://hooks.example.com/all", "events": []string{"user.created", "*"}})
		if got := all["events"].([]any); len(got) != 1 || got[0] != "*" {
			t.Errorf("events with *: %v, want [*]", got)
		}
		if all["description"] != "" {
			t.Errorf("description %v, want empty", all["description"])
		}

		// Bad URLs (no WEBHOOK_ALLOW_PRIVATE here) and events.
		for _, u := range []string{
			"http://hooks.example.com/", "https://127.0.0.1/hook", "https://[::1]/hook", "https://10.1.2.3/", "https://169.254.169.254/latest",
			"https://localhost/hook", "not a url", "hooks.example.com/x", "https://user:pass@hooks.example.com/", "ftp://hooks.example.com/",
			"https://", "https://hooks.example.com/" + strings.Repeat("a", 2048),
		} {
			whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": u, "events": []string{"*"}}), "url")
		}
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/", "events": []string{"user.created", "no.such"}}), "events")
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/", "events": []string{}}), "events")
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/"}), "events")
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"events": []string{"*"}}), "url")
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/", "events": []string{"*"},
			"description": strings.Repeat("d", 201)}), "description")
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/", "events": []string{"*"}, "secret": "mine"}), "secret")

		// PATCH each field; absent ones stay.
		path := "/v1/webhooks/" + id
		for _, c := range []struct {
			body  map[string]any
			field string
			want  any
		}{
			{map[string]any{"url": "https://other.example.com/in"}, "url", "https://other.example.com/in"},
			{map[string]any{"events": []string{"password.changed", "webhook.test"}}, "events", []any{"password.changed", "webhook.test"}},
			{map[string]any{"events": []string{"*"}}, "events", []any{"*"}},
			{map[string]any{"description": "Renamed"}, "description", "Renamed"},
			{map[string]any{"description": ""}, "description", ""},
			{map[string]any{"disabled": true}, "disabled", true},
			{map[string]any{"disabled": false}, "disabled", false},
		} {
			got := e.As(admin, "PATCH", path, c.body).Expect(http.StatusOK).JSON()["webhook"].(map[string]any)
			if a, b := must(json.Marshal(got[c.field])), must(json.Marshal(c.want)); string(a) != string(b) {
				t.Errorf("PATCH %v: %s = %s, want %s", c.body, c.field, a, b)
			}
			read := e.As(admin, "GET", path, nil).Expect(http.StatusOK).JSON()["webhook"].(map[string]any)
			if a, b := must(json.Marshal(read)), must(json.Marshal(got)); string(a) != string(b) {
				t.Errorf("after PATCH %v, GET %s differs from the answer %s", c.body, a, b)
			}
		}
		whFieldError(t, e.As(admin, "PATCH", path, map[string]any{"url": "http://other.example.com/"}), "url")
		whFieldError(t, e.As(admin, "PATCH", path, map[string]any{"url": ""}), "url")
		whFieldError(t, e.As(admin, "PATCH", path, map[string]any{"events": []string{"nope"}}), "events")
		whFieldError(t, e.As(admin, "PATCH", path, map[string]any{"events": []string{}}), "events")
		whFieldError(t, e.As(admin, "PATCH", path, map[string]any{"secret": "x"}), "secret")

		// Unknown webhooks.
		const unknown = "/v1/webhooks/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"
		for _, bad := range []string{unknown, "/v1/webhooks/not-a-uuid"} {
			e.As(admin, "GET", bad, nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
			e.As(admin, "PATCH", bad, map[string]any{"disabled": true}).ExpectProblem(http.StatusNotFound, "webhook_not_found")
			e.As(admin, "DELETE", bad, nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
			e.As(admin, "GET", bad+"/deliveries", nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
			e.As(admin, "POST", bad+"/test", nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
		}

		// The test event: 202, a pending delivery for this webhook only.
		if got := whDeliveries(t, e, admin, id); len(got) != 0 {
			t.Fatalf("deliveries before any event: %v", got)
		}
		accepted := e.As(admin, "POST", path+"/test", nil).Expect(http.StatusAccepted).JSON()
		ds := whDeliveries(t, e, admin, id)
		if len(ds) != 1 {
			t.Fatalf("deliveries after a test: %v, want one", ds)
		}
		d := ds[0]
		if d["event"] != "webhook.test" || d["status"] != "pending" || d["attempts"] != float64(0) ||
			d["last_status_code"] != nil || d["last_error"] != "" || d["delivered_at"] != nil || d["created_at"] != "2026-01-02T15:04:05Z" {
			t.Errorf("the test delivery: %v", d)
		}
		for _, k := range []string{"id", "event", "status", "attempts", "last_status_code", "last_error", "created_at", "delivered_at"} {
			if _, ok := d[k]; !ok {
				t.Errorf("a delivery lacks %s: %v", k, d)
			}
		}
		if accepted["event_id"] == nil {
			t.Errorf("the test's answer %v names no event", accepted)
		}
		if got := whDeliveries(t, e, admin, all["id"].(string)); len(got) != 0 {
			t.Errorf("the test of one webhook reached another: %v", got)
		}

		// Audit: created, updated, deleted; never the secret.
		e.As(admin, "DELETE", "/v1/webhooks/"+all["id"].(string), nil).Expect(http.StatusNoContent)
		e.As(admin, "GET", "/v1/webhooks/"+all["id"].(string), nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
		e.As(admin, "DELETE", path, nil).Expect(http.StatusNoContent)
		e.As(admin, "GET", path+"/deliveries", nil).ExpectProblem(http.StatusNotFound, "webhook_not_found")
		if got := e.As(admin, "GET", "/v1/webhooks", nil).Expect(http.StatusOK).JSON()["webhooks"].([]any); len(got) != 0 {
			t.Errorf("webhooks left after deleting both: %v", got)
		}
		for typ, n := range map[string]int{"webhook_created": 2, "webhook_updated": 7, "webhook_deleted": 2} {
			events := auditEvents(t, e, admin, "type="+typ)
			if len(events) != n {
				t.Errorf("%d %s events, want %d", len(events), typ, n)
				continue
			}
			for _, ev := range events {
				body := string(must(json.Marshal(ev)))
				det, _ := ev["details"].(map[string]any)
				if det["webhook_id"] == nil || ev["actor_id"] == nil {
					t.Errorf("%s event without webhook_id or actor: %s", typ, body)
				}
				if _, ok := det["changed"].([]any); typ == "webhook_updated" && (!ok || len(det["changed"].([]any)) != 1) {
					t.Errorf("webhook_updated event does not name the one field changed: %s", body)
				}
				if strings.Contains(body, "whsec_") || strings.Contains(body, "token=abc") {
					t.Errorf("%s event shows a secret: %s", typ, body)
				}
			}
		}
	})
}

func TestWebhooksPermissions(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		hook, _ := whCreate(t, e, admin, map[string]any{"url": "https://hooks.example.com/", "events": []string{"*"}})
		path := "/v1/webhooks/" + hook["id"].(string)
		plain := e.SignupLogin("plain").AccessToken
		reader := whRoleUser(t, e, admin, "hookreader", "webhooks:read")
		writer := whRoleUser(t, e, admin, "hookwriter", "webhooks:write")
		create := map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}}
		patch := map[string]any{"description": "x"}

		for _, tok := range []string{plain, reader} {
			e.As(tok, "POST", "/v1/webhooks", create).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "PATCH", path, patch).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "POST", path+"/test", nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "DELETE", path, nil).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		for _, tok := range []string{plain, writer} {
			e.As(tok, "GET", "/v1/webhooks", nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "GET", path, nil).ExpectProblem(http.StatusForbidden, "forbidden")
			e.As(tok, "GET", path+"/deliveries", nil).ExpectProblem(http.StatusForbidden, "forbidden")
		}
		for _, p := range []string{"/v1/webhooks", path, path + "/deliveries"} {
			e.Request("GET", p, nil).Expect(http.StatusUnauthorized)
			e.As(reader, "GET", p, nil).Expect(http.StatusOK)
		}
		e.Request("POST", "/v1/webhooks", create).Expect(http.StatusUnauthorized)
		whCreate(t, e, writer, create)
		e.As(writer, "PATCH", path, patch).Expect(http.StatusOK)
		e.As(writer, "POST", path+"/test", nil).Expect(http.StatusAccepted)
		e.As(writer, "DELETE", path, nil).Expect(http.StatusNoContent)
	})
}

// whReceiver is an endpoint that checks each delivery's signature with the
// Standard Webhooks library and keeps what it was sent.
type whReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []whReceived
}

type whReceived struct {
	path   string
	header http.Header
	body   map[string]any
}

func newWHReceiver(t *testing.T) *whReceiver {
	rc := &whReceiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(rc.secret)
		if err == nil {
			// The test clock is far from the real one: the timestamp's tolerance would refuse it.
			err = wh.VerifyIgnoringTimestamp(payload, r.Header)
		}
		if err != nil {
			t.Errorf("delivery to %s: signature does not verify: %v", r.URL.Path, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.Unmarshal(payload, &body); err != nil {
			t.Errorf("delivery body %s: %v", payload, err)
		}
		rc.got = append(rc.got, whReceived{path: r.URL.Path, header: r.Header.Clone(), body: body})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *whReceiver) received() []whReceived {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func TestWebhooksDelivery(t *testing.T) {
	apitest.Each(t, apitest.Vars{"WEBHOOK_ALLOW_PRIVATE": "true"}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		admin := e.AdminLogin().AccessToken
		rc := newWHReceiver(t)
		// With WEBHOOK_ALLOW_PRIVATE, http and loopback are accepted (but not userinfo).
		whFieldError(t, e.As(admin, "POST", "/v1/webhooks", map[string]any{"url": "http://u:p@127.0.0.1/", "events": []string{"*"}}), "url")
		hook, secret := whCreate(t, e, admin, map[string]any{"url": rc.srv.URL + "/live", "events": []string{"user.created"}})
		rc.mu.Lock()
		rc.secret = secret
		rc.mu.Unlock()
		id := hook["id"].(string)
		off, _ := whCreate(t, e, admin, map[string]any{"url": rc.srv.URL + "/off", "events": []string{"*"}})
		e.As(admin, "PATCH", "/v1/webhooks/"+off["id"].(string), map[string]any{"disabled": true}).Expect(http.StatusOK)

		// The test event, delivered and signed.
		e.As(admin, "POST", "/v1/webhooks/"+id+"/test", nil).Expect(http.StatusAccepted)
		if _, err := e.App.Webhooks.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got := rc.received()
		if len(got) != 1 || got[0].path != "/live" || got[0].body["type"] != "webhook.test" {
			t.Fatalf("received %+v, want the test event at /live", got)
		}
		if data, _ := got[0].body["data"].(map[string]any); data["webhook_id"] != id {
			t.Errorf("test event data %v, want webhook_id %s", got[0].body["data"], id)
		}
		if got[0].header.Get("webhook-id") == "" || got[0].body["id"] == nil || got[0].body["timestamp"] == nil {
			t.Errorf("test event without id or timestamp: %v %v", got[0].header, got[0].body)
		}
		ds := whDeliveries(t, e, admin, id)
		if len(ds) != 1 || ds[0]["status"] != "delivered" || ds[0]["attempts"] != float64(1) ||
			ds[0]["last_status_code"] != float64(204) || ds[0]["delivered_at"] == nil {
			t.Fatalf("deliveries after the test was delivered: %v", ds)
		}

		// A signup: user.created, with the user's id and no address.
		user := e.Signup("newcomer")
		if _, err := e.App.Webhooks.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got = rc.received()
		if len(got) != 2 || got[1].path != "/live" || got[1].body["type"] != "user.created" {
			t.Fatalf("received %+v, want user.created at /live", got)
		}
		data, _ := got[1].body["data"].(map[string]any)
		if data["user_id"] != idOf(user) {
			t.Errorf("user.created data %v, want user_id %s", data, idOf(user))
		}
		raw := string(must(json.Marshal(got[1].body)))
		if _, hasIP := data["ip"]; hasIP || strings.Contains(raw, "192.0.2.1") || strings.Contains(raw, "password") {
			t.Errorf("user.created shows the address or a password: %s", raw)
		}
		ds = whDeliveries(t, e, admin, id)
		if len(ds) != 2 || ds[0]["event"] != "user.created" || ds[0]["status"] != "delivered" || ds[1]["event"] != "webhook.test" {
			t.Errorf("deliveries, newest first: %v", ds)
		}

		// The disabled webhook got nothing queued by the signup; a test waits, pending.
		if ds := whDeliveries(t, e, admin, off["id"].(string)); len(ds) != 0 {
			t.Errorf("a disabled webhook has deliveries: %v", ds)
		}
		e.As(admin, "POST", "/v1/webhooks/"+off["id"].(string)+"/test", nil).Expect(http.StatusAccepted)
		if _, err := e.App.Webhooks.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if ds := whDeliveries(t, e, admin, off["id"].(string)); len(ds) != 1 || ds[0]["status"] != "pending" {
			t.Errorf("a disabled webhook's test: %v, want one pending", ds)
		}
		for _, r := range rc.received() {
			if r.path == "/off" {
				t.Errorf("the disabled webhook was sent %v", r.body)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
