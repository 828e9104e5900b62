package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// webhookLogin is the login scenario with a webhook subscribed to every
// event: each login writes a user.login delivery to the outbox in its own
// transaction, so the row beside the plain login's is what that write costs.
// Delivery itself is asynchronous (the service's worker, off the request
// path): the receiver's round trips are not in the latency.
const webhookLogin = "POST /v1/auth/login (webhook subscribed to every event)"

// runWebhookLogin starts a fresh service on the same database with
// WEBHOOK_ALLOW_PRIVATE=true (the receiver is on loopback), has the admin
// create a webhook for every event pointing at the receiver, and loads login
// as the plain login scenario does, when -run selects it. The webhook is
// deleted afterwards, so that the scenarios after this one write no deliveries.
func runWebhookLogin(ctx context.Context, o options, dir, addr, bin string, env map[string]string, fx *fixture, c credentials, ceilings map[string]float64) ([]row, []string, error) {
	if !o.only.MatchString(webhookLogin) {
		return nil, nil, nil
	}
	recv, got := startCounting(func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })
	defer recv.Close()
	p, err := startVariant(ctx, "authsvc-webhook", dir, addr, bin, env, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()

	a := newAPI(p.base)
	admin, err := a.login(ctx, adminUsername, c.adminPassword) // the seed's token may have expired by now
	if err != nil {
		return nil, nil, fmt.Errorf("admin login: %w", err)
	}
	var created struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
	}
	body := map[string]any{"url": recv.URL + "/webhook", "events": []string{"*"}, "description": "authbench"}
	if err := a.call(ctx, http.MethodPost, "/v1/webhooks", admin, body, http.StatusCreated, &created); err != nil {
		return nil, nil, fmt.Errorf("create the webhook: %w\n%s", err, p.logTail(20))
	}
	defer func() {
		// A fresh context: the webhook must go even when the run was interrupted.
		if err := a.call(context.WithoutCancel(ctx), http.MethodDelete, "/v1/webhooks/"+created.Webhook.ID, admin, nil, http.StatusNoContent, nil); err != nil {
			logf("%s: deleting the webhook: %v", webhookLogin, err)
		}
	}()

	out, res, broken := loadLogin(ctx, o, p, webhookLogin, fx, c, ceilings)
	// One event per login served (the admin's came before the webhook).
	// Delivery is off the request path, so it may lag behind the load: wait
	// up to 10 s for it to catch up.
	atEnd, want := got.Load(), int64(res.served)
	wait := time.Now()
	for got.Load() < want && time.Since(wait) < 10*time.Second && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	out.Note = join(out.Note, fmt.Sprintf("delivery is asynchronous: %d of %d events received when the load ended, %d after %.1f s more",
		atEnd, want, got.Load(), time.Since(wait).Seconds()))
	return []row{out}, broken, nil
}
