package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/poller"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/tracing"
)

// Outbox is the queue of deliveries the Worker drains; *store.Store implements it.
type Outbox interface {
	// ClaimDeliveries leases up to limit due deliveries to the caller until now+lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.ClaimedDelivery, error)
	// DeliverySucceeded records a 2xx answer.
	DeliverySucceeded(ctx context.Context, id uuid.UUID, statusCode int, now time.Time) error
	// DeliveryFailed records a failed attempt; a zero next ends the delivery failed.
	DeliveryFailed(ctx context.Context, id uuid.UUID, statusCode int, errText string, next time.Time, now time.Time) error
	// ReleaseDelivery ends a lease without counting an attempt.
	ReleaseDelivery(ctx context.Context, id uuid.UUID) error
	// DeleteFinishedDeliveries deletes up to limit finished deliveries created before the given time.
	DeleteFinishedDeliveries(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Worker delivers the queued webhook events, signed as Standard Webhooks
// says. Several workers, in one process or many, may drain the same outbox:
// a claimed delivery is leased to one of them. Delivery is at least once: an
// event sent just before its worker died is sent again after the lease.
//
// The exported fields are set by NewWorker and may be changed before Run.
type Worker struct {
	PollInterval time.Duration // how often to look for due deliveries without a Wake
	BatchSize    int           // deliveries claimed at once
	Lease        time.Duration // how long a claim keeps other workers off a delivery
	Timeout      time.Duration // the most one attempt may take; must be below Lease
	MinBackoff   time.Duration // delay after the first failure, doubling per failure…
	MaxBackoff   time.Duration // …up to this
	RetryFor     time.Duration // from the event on; a delivery not made by then fails
	Retention    time.Duration // how long finished deliveries are kept; 0 keeps them
	CleanupEvery time.Duration // how often Run deletes the deliveries past Retention
	// Client sends the requests; NewWorker's refuses private addresses unless
	// allowPrivate (NewClient). Tests may replace it.
	Client *http.Client
	// Tracing makes a "webhook.send" span of each attempt (nil: none).
	Tracing trace.TracerProvider

	outbox       Outbox
	key          *secret.Key
	allowPrivate bool
	now          func() time.Time
	log          *slog.Logger
	wake         chan struct{}
}

// maxErrorLen bounds the error kept on a delivery; maxBodyLen the part of an
// answer's body kept in it.
const (
	maxErrorLen = 300
	maxBodyLen  = 200
)

// NewWorker returns a worker with the defaults: poll every 2s, 20 deliveries
// a batch, a 1m lease, a 10s timeout, back-off from 5s doubling to 1h, for
// 24h, finished deliveries deleted hourly once 7 days old. now is the clock for due times, the give-up and the
// webhook-timestamp header; polling itself runs on real time.
func NewWorker(ob Outbox, key *secret.Key, allowPrivate bool, now func() time.Time, log *slog.Logger) *Worker {
	return &Worker{
		PollInterval: 2 * time.Second,
		BatchSize:    20,
		Lease:        time.Minute,
		Timeout:      10 * time.Second,
		MinBackoff:   5 * time.Second,
		MaxBackoff:   time.Hour,
		RetryFor:     24 * time.Hour,
		Retention:    7 * 24 * time.Hour,
		CleanupEvery: time.Hour,
		Client:       NewClient(allowPrivate, nil),

		outbox:       ob,
		key:          key,
		allowPrivate: allowPrivate,
		now:          now,
		log:          log,
		wake:         make(chan struct{}, 1),
	}
}

// Wake makes Run look for deliveries now rather than at the next poll. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers events, and deletes finished deliveries past Retention every
// CleanupEvery, until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	poller.Run(ctx, w.wake, poller.Loop{
		Name: "webhook outbox", Interval: w.PollInterval, CleanupEvery: w.CleanupEvery, BatchSize: w.BatchSize,
		Now: w.now, Log: w.log, Once: w.RunOnce, Cleanup: w.Cleanup,
	})
}

// RunOnce claims the due deliveries and tries each once. It returns how many
// it tried; err reports trouble with the outbox itself, while failed
// deliveries are recorded on their rows and logged.
func (w *Worker) RunOnce(ctx context.Context) (tried int, err error) {
	if w.Timeout >= w.Lease || w.BatchSize < 1 {
		return 0, fmt.Errorf("webhook worker: need Timeout (%v) below Lease (%v) and BatchSize (%d) of at least 1",
			w.Timeout, w.Lease, w.BatchSize)
	}
	claimedAt := w.now()
	ds, err := w.outbox.ClaimDeliveries(ctx, claimedAt, w.Lease, w.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	leaseEnd := claimedAt.Add(w.Lease)
	var errs []error
	for i, d := range ds {
		// Only send while the lease outlasts the attempt: once it has expired
		// another worker may claim the delivery and send it as well.
		if ctx.Err() != nil || w.now().Add(w.Timeout).After(leaseEnd) {
			errs = append(errs, w.release(ctx, ds[i:]))
			break
		}
		tried++
		errs = append(errs, w.deliver(ctx, d))
	}
	return tried, errors.Join(errs...)
}

// cleanupBatch bounds the rows one DELETE of the clean-up removes.
const cleanupBatch = 1000

// Cleanup deletes the deliveries delivered or failed more than Retention
// ago, in batches, and reports how many it deleted.
func (w *Worker) Cleanup(ctx context.Context) (deleted int64, err error) {
	if w.Retention <= 0 {
		return 0, nil
	}
	before := w.now().Add(-w.Retention)
	for ctx.Err() == nil {
		n, err := w.outbox.DeleteFinishedDeliveries(ctx, before, cleanupBatch)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("delete finished webhook deliveries: %w", err)
		}
		if n < cleanupBatch {
			break
		}
	}
	if deleted > 0 {
		w.log.Info("webhook outbox cleaned up", "deleted", deleted, "created_before", before)
	}
	return deleted, nil
}

// deliver makes one attempt and records its outcome, on a context that
// outlives ctx: a delivery made just before shutdown must be recorded.
func (w *Worker) deliver(ctx context.Context, d store.ClaimedDelivery) error {
	attempt := d.Attempts + 1
	// Ids, the event type and the status only: never the URL (its query may
	// hold a token), the payload or the secret.
	sendCtx, span := tracing.StartWith(ctx, w.Tracing, "webhook.send", trace.SpanKindClient,
		attribute.String("webhook.delivery_id", d.ID.String()), attribute.String("webhook.id", d.WebhookID.String()),
		attribute.String("webhook.event", d.EventType), attribute.Int("webhook.attempt", attempt))
	record, cancel := context.WithTimeout(context.WithoutCancel(sendCtx), 10*time.Second)
	defer cancel()
	// The span covers the outcome's recording too, and names the trace in
	// the log lines below.
	defer span.End()
	code, attemptErr := w.send(sendCtx, d)
	if code != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", code))
	}
	if attemptErr != nil {
		span.SetStatus(codes.Error, "webhook not delivered")
	}
	now := w.now()
	if attemptErr == nil {
		err := w.outbox.DeliverySucceeded(record, d.ID, code, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil // its webhook was deleted meanwhile
		}
		if err != nil {
			// It went out, and will again once the lease expires.
			return fmt.Errorf("mark webhook delivery %s delivered: %w", d.ID, err)
		}
		// Debug: every login may make one.
		w.log.DebugContext(sendCtx, "webhook delivered", "delivery_id", d.ID, "webhook_id", d.WebhookID, "event", d.EventType,
			"status", code, "attempts", attempt)
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: this attempt says nothing about the endpoint.
		return w.release(ctx, []store.ClaimedDelivery{d})
	}
	next := now.Add(w.backoff(attempt))
	msg := "webhook not delivered; will retry"
	if next.After(d.CreatedAt.Add(w.RetryFor)) {
		next, msg = time.Time{}, "webhook not delivered; giving up"
	}
	errText := cleanError(attemptErr.Error())
	w.log.WarnContext(sendCtx, msg, "delivery_id", d.ID, "webhook_id", d.WebhookID, "event", d.EventType,
		"status", code, "attempts", attempt, "next_attempt_at", next, "error", errText)
	if err := w.outbox.DeliveryFailed(record, d.ID, code, errText, next, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("mark webhook delivery %s failed: %w", d.ID, err)
	}
	return nil
}

// send POSTs the event, signed, and returns the answer's status (0 for none)
// and, unless it was a 2xx, why the attempt failed.
func (w *Worker) send(ctx context.Context, d store.ClaimedDelivery) (int, error) {
	plain, err := OpenSecret(w.key, d.WebhookID, d.SecretSealed)
	if err != nil {
		return 0, errors.New("cannot unseal the webhook's secret (SECRET_KEY changed?)")
	}
	signer, err := standardwebhooks.NewWebhook(plain)
	if err != nil {
		return 0, errors.New("the webhook's secret is malformed")
	}
	if err := CheckURL(d.URL, w.allowPrivate); err != nil {
		return 0, fmt.Errorf("URL refused: %w", err)
	}
	payload := []byte(d.Payload)
	msgID := d.EventID.String()
	ts := w.now()
	sig, err := signer.Sign(msgID, ts, payload)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(sendCtx, http.MethodPost, d.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authsvc-webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, msgID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := w.Client.Do(req)
	if err != nil {
		if sendCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return 0, fmt.Errorf("timed out after %v", w.Timeout)
		}
		// Not the *url.Error's text: it repeats the URL, whose query may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyLen+1))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	text := "HTTP " + strconv.Itoa(resp.StatusCode)
	if b := strings.TrimSpace(string(body)); b != "" {
		if len(b) > maxBodyLen {
			b = b[:maxBodyLen] + "…"
		}
		text += ": " + b
	}
	return resp.StatusCode, errors.New(text)
}

// release ends the lease on deliveries without counting an attempt.
func (w *Worker) release(ctx context.Context, ds []store.ClaimedDelivery) error {
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, d := range ds {
		if err := w.outbox.ReleaseDelivery(record, d.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("release webhook delivery %s: %w", d.ID, err))
		}
	}
	return errors.Join(errs...)
}

// cleanError makes an error fit the row: short, valid UTF-8 without NUL.
func cleanError(s string) string {
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "?"), "\x00", "?")
}

// backoff is the delay after the given number of failed attempts: MinBackoff
// doubling up to MaxBackoff, less up to a fifth at random, in whole milliseconds.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.MinBackoff
	for i := 1; i < attempts && d < w.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.MaxBackoff)
	if jitter := d / 5; jitter > 0 {
		d -= rand.N(jitter)
	}
	return d.Truncate(time.Millisecond)
}
