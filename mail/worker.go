package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/poller"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/tracing"
)

// Outbox is the queue the Worker drains; *store.Store implements it.
type Outbox interface {
	// ClaimMail leases up to limit due, unsent mails to the caller until now+lease.
	ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]models.OutboxMail, error)
	// MarkMailSent records delivery and wipes the payload.
	MarkMailSent(ctx context.Context, id uuid.UUID, now time.Time) error
	// MarkMailFailed records an attempt, schedules the next and ends the lease.
	MarkMailFailed(ctx context.Context, id uuid.UUID, attempts int, next time.Time, lastErr string) error
	// MarkMailGivenUp ends a mail unsent for good and wipes the payload.
	MarkMailGivenUp(ctx context.Context, id uuid.UUID, attempts int, now time.Time, reason string) error
	// DeleteFinishedMail deletes up to limit mails sent or given up before the given time.
	DeleteFinishedMail(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Worker delivers queued mail. Several workers, in one process or many, may
// drain the same outbox: a claimed mail is leased to one of them.
//
// The exported fields are set by NewWorker and may be changed before Run.
type Worker struct {
	PollInterval time.Duration // how often to look for due mail without a Wake
	BatchSize    int           // mails claimed at once
	Lease        time.Duration // how long a claim keeps other workers off a mail
	SendTimeout  time.Duration // the most one delivery may take; must be below Lease
	MinBackoff   time.Duration // delay after the first failure, doubling per failure…
	MaxBackoff   time.Duration // …up to this
	UnsealDelay  time.Duration // retry delay for a mail that cannot be unsealed
	Retention    time.Duration // how long sent and given-up mails are kept; 0 keeps them
	CleanupEvery time.Duration // how often Run deletes the mails past Retention
	// Tracing makes a "mail.send" span of each delivery (nil: none).
	Tracing trace.TracerProvider

	outbox Outbox
	sender Sender
	key    *secret.Key
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}
}

// Attempts from which a failure is logged as an error rather than a warning:
// with the default back-off, delivery has then been failing for over half an hour.
const alarmAttempts = 10

// maxErrorLen bounds the error kept on the row.
const maxErrorLen = 1000

// cleanupBatch bounds the rows one DELETE of the clean-up removes.
const cleanupBatch = 1000

// NewWorker returns a worker with the defaults: poll every 2s, 20 mails a
// batch, a 1m lease, back-off from 5s doubling to 30m, sent and given-up mails
// deleted hourly once 7 days old. now is the clock for everything stored and
// for the clean-up's schedule; polling itself runs on real time.
func NewWorker(ob Outbox, s Sender, key *secret.Key, now func() time.Time, log *slog.Logger) *Worker {
	return &Worker{
		PollInterval: 2 * time.Second,
		BatchSize:    20,
		Lease:        time.Minute,
		SendTimeout:  30 * time.Second,
		MinBackoff:   5 * time.Second,
		MaxBackoff:   30 * time.Minute,
		// A payload that does not open was sealed under another SECRET_KEY; it
		// will not open on the next try either, but may if the key is restored.
		UnsealDelay:  24 * time.Hour,
		Retention:    7 * 24 * time.Hour,
		CleanupEvery: time.Hour,

		outbox: ob,
		sender: s,
		key:    key,
		now:    now,
		log:    log,
		wake:   make(chan struct{}, 1),
	}
}

// Wake makes Run look for mail now rather than at the next poll; call it after
// queueing a mail. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run delivers mail, and deletes finished mail past Retention every
// CleanupEvery, until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	poller.Run(ctx, w.wake, poller.Loop{
		Name: "mail outbox", Interval: w.PollInterval, CleanupEvery: w.CleanupEvery, BatchSize: w.BatchSize,
		Now: w.now, Log: w.log, Once: w.RunOnce, Cleanup: w.Cleanup,
	})
}

// RunOnce claims the due mails and tries each once. sent counts deliveries;
// err reports trouble with the outbox itself, while failed deliveries are
// recorded on their rows and logged.
func (w *Worker) RunOnce(ctx context.Context) (sent int, err error) {
	if w.SendTimeout >= w.Lease || w.BatchSize < 1 {
		return 0, fmt.Errorf("mail worker: need SendTimeout (%v) below Lease (%v) and BatchSize (%d) of at least 1",
			w.SendTimeout, w.Lease, w.BatchSize)
	}
	claimedAt := w.now()
	mails, err := w.outbox.ClaimMail(ctx, claimedAt, w.BatchSize, w.Lease)
	if err != nil {
		return 0, fmt.Errorf("claim mail: %w", err)
	}
	leaseEnd := claimedAt.Add(w.Lease)
	var errs []error
	for i, om := range mails {
		// Only send while the lease outlasts the send: once it has expired
		// another worker may claim the mail and send it as well.
		if ctx.Err() != nil || w.now().Add(w.SendTimeout).After(leaseEnd) {
			errs = append(errs, w.release(ctx, mails[i:]))
			break
		}
		ok, err := w.deliver(ctx, om)
		if ok {
			sent++
		}
		errs = append(errs, err)
	}
	return sent, errors.Join(errs...)
}

// Cleanup deletes the mails sent or given up more than Retention ago, in
// batches, and reports how many it deleted. Queued mails are never deleted.
func (w *Worker) Cleanup(ctx context.Context) (deleted int64, err error) {
	if w.Retention <= 0 {
		return 0, nil
	}
	before := w.now().Add(-w.Retention)
	for ctx.Err() == nil {
		n, err := w.outbox.DeleteFinishedMail(ctx, before, cleanupBatch)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("delete finished mail: %w", err)
		}
		if n < cleanupBatch {
			break
		}
	}
	if deleted > 0 {
		w.log.Info("mail outbox cleaned up", "deleted", deleted, "finished_before", before)
	}
	return deleted, nil
}

// deliver sends one claimed mail and records the outcome. Recording uses a
// context that outlives ctx: a mail sent just before shutdown must still be
// marked sent, or it would go out again.
func (w *Worker) deliver(ctx context.Context, om models.OutboxMail) (sent bool, err error) {
	// The mail's id and attempt only: never its address or its content.
	ctx, span := tracing.StartWith(ctx, w.Tracing, "mail.send", trace.SpanKindClient,
		attribute.String("mail.id", om.ID.String()), attribute.Int("mail.attempt", om.Attempts+1))
	defer func() {
		span.SetAttributes(attribute.Bool("mail.sent", sent))
		if err != nil || !sent {
			span.SetStatus(codes.Error, "mail not sent")
		}
		span.End()
	}()
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	attempts := om.Attempts + 1

	if expired(om, w.now()) {
		return false, w.giveUp(record, om, om.Attempts, "not sent: the link in it expired at "+om.ExpiresAt.UTC().Format(time.RFC3339))
	}

	m, err := Open(w.key, om.ID, om.PayloadSealed)
	if err != nil {
		lastErr := "cannot unseal payload (SECRET_KEY changed?): " + err.Error()
		next := w.now().Add(w.UnsealDelay)
		if expired(om, next) {
			return false, w.giveUp(record, om, attempts, lastErr+"; the link expires before the next attempt")
		}
		w.log.ErrorContext(ctx, "queued mail cannot be unsealed; was SECRET_KEY changed? retrying much later",
			"mail_id", om.ID, "attempts", attempts, "next_attempt_at", next, "error", err)
		return false, w.markFailed(record, om.ID, attempts, next, lastErr)
	}

	sendCtx, cancelSend := context.WithTimeout(ctx, w.SendTimeout)
	sendErr := w.sender.Send(sendCtx, m)
	cancelSend()
	if sendErr == nil {
		if err := w.outbox.MarkMailSent(record, om.ID, w.now()); err != nil {
			// It went out but may go out again once the lease expires.
			return true, fmt.Errorf("mark mail %s sent: %w", om.ID, err)
		}
		w.log.InfoContext(ctx, "mail sent", "mail_id", om.ID, "attempts", attempts)
		return true, nil
	}

	if ctx.Err() != nil {
		// Shutting down: this attempt says nothing about the mail, so hand it
		// back unchanged for another worker to pick up at once.
		return false, w.release(ctx, []models.OutboxMail{om})
	}
	next := w.now().Add(w.backoff(attempts))
	if expired(om, next) {
		return false, w.giveUp(record, om, attempts, sendErr.Error()+"; the link expires before the next attempt")
	}
	level := slog.LevelWarn
	if attempts >= alarmAttempts {
		level = slog.LevelError
	}
	w.log.Log(ctx, level, "mail not sent; will retry",
		"mail_id", om.ID, "attempts", attempts, "next_attempt_at", next, "error", sendErr)
	return false, w.markFailed(record, om.ID, attempts, next, sendErr.Error())
}

// release ends the lease on mails without counting an attempt.
func (w *Worker) release(ctx context.Context, mails []models.OutboxMail) error {
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, om := range mails {
		errs = append(errs, w.markFailed(record, om.ID, om.Attempts, om.NextAttemptAt, om.LastError))
	}
	return errors.Join(errs...)
}

// expired tells whether om's link no longer works at t.
func expired(om models.OutboxMail, t time.Time) bool {
	return om.ExpiresAt != nil && !t.Before(*om.ExpiresAt)
}

// giveUp ends om unsent, after attempts delivery attempts, because its link
// has expired or will have by the next attempt.
func (w *Worker) giveUp(ctx context.Context, om models.OutboxMail, attempts int, reason string) error {
	reason = cleanError(reason)
	w.log.WarnContext(ctx, "mail given up unsent: its link has expired",
		"mail_id", om.ID, "attempts", attempts, "expires_at", om.ExpiresAt, "reason", reason)
	if err := w.outbox.MarkMailGivenUp(ctx, om.ID, attempts, w.now(), reason); err != nil {
		return fmt.Errorf("mark mail %s given up: %w", om.ID, err)
	}
	return nil
}

func (w *Worker) markFailed(ctx context.Context, id uuid.UUID, attempts int, next time.Time, lastErr string) error {
	if err := w.outbox.MarkMailFailed(ctx, id, attempts, next, cleanError(lastErr)); err != nil {
		return fmt.Errorf("mark mail %s failed: %w", id, err)
	}
	return nil
}

// cleanError makes an error fit the row: PostgreSQL text takes neither invalid
// UTF-8 nor NUL, and a server's reply may hold both.
func cleanError(s string) string {
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "?"), "\x00", "?")
}

// backoff is the delay after the given number of failed attempts: MinBackoff
// doubling up to MaxBackoff, less up to a fifth at random so that mails which
// failed together (an SMTP outage) do not all retry in the same instant. It is
// whole milliseconds, which both databases store exactly.
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
