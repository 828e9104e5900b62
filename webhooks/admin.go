package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// Errors of the administration of webhooks.
var ErrNotFound = errors.New("webhooks: no such webhook")

// InvalidError is a field of a webhook that is not acceptable: a URL that is
// not https or not public, an unknown event type, a long description.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return "webhooks: " + e.Field + " " + e.Message }

// Limits of a webhook's fields.
const (
	MaxDescription = 200
	MaxURL         = 2048
	MaxEvents      = 50
	// MaxDeliveries is how many deliveries Deliveries lists, newest first.
	MaxDeliveries = 100
)

// AllEvents subscribes an endpoint to every event type.
const AllEvents = "*"

// Admin manages webhook endpoints: what an administrator asks of
// /v1/webhooks. Every change is audited in its own transaction.
type Admin struct {
	store        *store.Store
	secret       *secret.Key
	rules        policy.Rules
	allowPrivate bool
	wake         func() // the worker, to deliver a test event at once; nil: at its next poll
	now          func() time.Time
}

// AdminConfig is what Admin is built from.
type AdminConfig struct {
	Store  *store.Store
	Secret *secret.Key // seals the endpoints' signing secrets
	Rules  policy.Rules
	// AllowPrivate (WEBHOOK_ALLOW_PRIVATE) accepts http and private addresses.
	AllowPrivate bool
	// Wake has the delivery worker look at once (Worker.Wake); nil: it polls.
	Wake func()
	Now  func() time.Time
}

// NewAdmin builds the administration of webhooks.
func NewAdmin(c AdminConfig) *Admin {
	return &Admin{store: c.Store, secret: c.Secret, rules: c.Rules, allowPrivate: c.AllowPrivate, wake: c.Wake, now: c.Now}
}

// Input defines an endpoint, or changes one (nil fields stay as they are).
type Input struct {
	URL         *string
	Events      *[]string
	Description *string
	Disabled    *bool
}

// fields names the fields the input sets.
func (in Input) fields() []string {
	out := []string{}
	for _, f := range []struct {
		name string
		set  bool
	}{{"url", in.URL != nil}, {"events", in.Events != nil}, {"description", in.Description != nil}, {"disabled", in.Disabled != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// EventList is a webhook's event types as a list.
func EventList(w *models.Webhook) []string { return strings.Fields(w.Events) }

// Create defines an endpoint and returns it with its signing secret
// ("whsec_…"), shown only now; the database keeps it sealed.
func (a *Admin) Create(ctx context.Context, actor accounts.Actor, in Input) (*models.Webhook, string, error) {
	if err := a.rules.Allow(actor.Principal, policy.CreateWebhook); err != nil {
		return nil, "", err
	}
	if in.URL == nil {
		return nil, "", &InvalidError{Field: "url", Message: "is required"}
	}
	if in.Events == nil {
		return nil, "", &InvalidError{Field: "events", Message: "is required: at least one event type, or \"*\" for all"}
	}
	now := a.now()
	w := &models.Webhook{ID: uuid.Must(uuid.NewV7()), CreatedAt: now, UpdatedAt: now}
	if err := a.apply(w, in); err != nil {
		return nil, "", err
	}
	plain := NewSecret()
	w.SecretSealed = SealSecret(a.secret, w.ID, plain)
	err := a.store.InTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateWebhook(ctx, w); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.WebhookCreated, now, actor.ID(), uuid.Nil, actor.Client, details(actor, w)))
	})
	if err != nil {
		return nil, "", err
	}
	return w, plain, nil
}

// List lists every endpoint, oldest first.
func (a *Admin) List(ctx context.Context, actor accounts.Actor) ([]models.Webhook, error) {
	if err := a.rules.Allow(actor.Principal, policy.ListWebhooks); err != nil {
		return nil, err
	}
	return a.store.Webhooks(ctx)
}

// Get reads an endpoint.
func (a *Admin) Get(ctx context.Context, actor accounts.Actor, id uuid.UUID) (*models.Webhook, error) {
	if err := a.rules.Allow(actor.Principal, policy.ReadWebhook); err != nil {
		return nil, err
	}
	w, err := a.store.WebhookByID(ctx, id)
	return w, notFound(err)
}

// Update changes an endpoint's url, events, description or disabled flag.
// A disabled endpoint is sent no new event; what is queued for it stays.
func (a *Admin) Update(ctx context.Context, actor accounts.Actor, id uuid.UUID, in Input) (*models.Webhook, error) {
	if err := a.rules.Allow(actor.Principal, policy.UpdateWebhook); err != nil {
		return nil, err
	}
	var out *models.Webhook
	err := a.store.InTx(ctx, func(tx *store.Store) error {
		w, err := tx.LockWebhook(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := a.apply(w, in); err != nil {
			return err
		}
		now := a.now()
		w.UpdatedAt = now
		if err := tx.UpdateWebhook(ctx, w); err != nil {
			return notFound(err)
		}
		out = w
		d := details(actor, w)
		d["changed"] = in.fields()
		return tx.AddAudit(ctx, audit.Event(audit.WebhookUpdated, now, actor.ID(), uuid.Nil, actor.Client, d))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete deletes an endpoint with its deliveries: what was queued for it is
// never sent.
func (a *Admin) Delete(ctx context.Context, actor accounts.Actor, id uuid.UUID) error {
	if err := a.rules.Allow(actor.Principal, policy.DeleteWebhook); err != nil {
		return err
	}
	return a.store.InTx(ctx, func(tx *store.Store) error {
		w, err := tx.LockWebhook(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := tx.DeleteWebhook(ctx, id); err != nil {
			return notFound(err)
		}
		return tx.AddAudit(ctx, audit.Event(audit.WebhookDeleted, a.now(), actor.ID(), uuid.Nil, actor.Client, details(actor, w)))
	})
}

// Deliveries lists the endpoint's latest deliveries (MaxDeliveries), newest first.
func (a *Admin) Deliveries(ctx context.Context, actor accounts.Actor, id uuid.UUID) ([]models.WebhookDelivery, error) {
	if err := a.rules.Allow(actor.Principal, policy.ReadWebhook); err != nil {
		return nil, err
	}
	if _, err := a.store.WebhookByID(ctx, id); err != nil {
		return nil, notFound(err)
	}
	return a.store.WebhookDeliveries(ctx, id, MaxDeliveries)
}

// Test queues a webhook.test event for this endpoint only; the worker
// delivers it as any other. For a disabled endpoint it waits, pending, until
// the endpoint is enabled again (within the retries' 24 hours).
func (a *Admin) Test(ctx context.Context, actor accounts.Actor, id uuid.UUID) (uuid.UUID, error) {
	if err := a.rules.Allow(actor.Principal, policy.TestWebhook); err != nil {
		return uuid.Nil, err
	}
	eventID := uuid.Must(uuid.NewV7())
	err := a.store.InTx(ctx, func(tx *store.Store) error {
		w, err := tx.LockWebhook(ctx, id)
		if err != nil {
			return notFound(err)
		}
		data := map[string]any{"webhook_id": w.ID}
		return notFound(tx.EnqueueEventFor(ctx, w.ID, store.EventWebhookTest, eventID, data, a.now()))
	})
	if err == nil && a.wake != nil {
		a.wake()
	}
	return eventID, err
}

// apply checks the input and writes it into w.
func (a *Admin) apply(w *models.Webhook, in Input) error {
	if in.URL != nil {
		u := strings.TrimSpace(*in.URL)
		if err := a.checkURL(u); err != nil {
			return err
		}
		w.URL = u
	}
	if in.Events != nil {
		events, err := normalizeEvents(*in.Events)
		if err != nil {
			return err
		}
		w.Events = strings.Join(events, " ")
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if utf8.RuneCountInString(d) > MaxDescription {
			return &InvalidError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", MaxDescription)}
		}
		w.Description = d
	}
	if in.Disabled != nil {
		w.Disabled = *in.Disabled
	}
	return nil
}

// checkURL applies CheckURL's rule (https, a public host unless
// AllowPrivate, no user information), with its reason as the message.
func (a *Admin) checkURL(raw string) error {
	if raw == "" {
		return &InvalidError{Field: "url", Message: "is required"}
	}
	if len(raw) > MaxURL {
		return &InvalidError{Field: "url", Message: fmt.Sprintf("must be at most %d characters", MaxURL)}
	}
	if err := CheckURL(raw, a.allowPrivate); err != nil {
		return &InvalidError{Field: "url", Message: err.Error()}
	}
	return nil
}

// normalizeEvents checks the event types (known ones, or "*"), and returns
// them without duplicates, sorted; "*" stands alone, as it covers the rest.
func normalizeEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, &InvalidError{Field: "events", Message: "must list at least one event type, or \"*\" for all"}
	}
	if len(events) > MaxEvents {
		return nil, &InvalidError{Field: "events", Message: fmt.Sprintf("must list at most %d event types", MaxEvents)}
	}
	known := store.WebhookEventTypes()
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e != AllEvents && !slices.Contains(known, e) {
			return nil, &InvalidError{Field: "events", Message: fmt.Sprintf("unknown event type %q; known: %s, or \"*\" for all", truncate(e, 64), strings.Join(known, ", "))}
		}
		out = append(out, e)
	}
	if slices.Contains(out, AllEvents) {
		return []string{AllEvents}, nil
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// details names the endpoint in an audit event: its id, where it points
// (without the query, which may carry a receiver's token), its events and state.
func details(actor accounts.Actor, w *models.Webhook) audit.Details {
	return actor.Details(audit.Details{
		"webhook_id": w.ID, "url": redactedURL(w.URL), "events": EventList(w), "disabled": w.Disabled,
	})
}

// redactedURL is the URL without its query.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.ForceQuery, u.User = "", false, nil
	return u.String()
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}
