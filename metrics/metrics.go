// Package metrics is authsvc's Prometheus instrumentation on a registry of its
// own: HTTP traffic by route, login and refresh outcomes, rate-limit refusals,
// the password hashing queue, the mail outbox, the database pool, and the Go
// runtime and process. Values owned elsewhere (queue depth, outbox counts) are
// read at scrape time through small interfaces and functions, so this package
// imports none of the packages it observes.
package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "authsvc"

// Login outcomes, the values Login accepts.
const (
	LoginSuccess     = "success"
	LoginInvalid     = "invalid"
	LoginLocked      = "locked"
	LoginRateLimited = "rate_limited"
	LoginMFARequired = "mfa_required"
	LoginOverloaded  = "overloaded"
)

// Refresh outcomes, the values Refresh accepts.
const (
	RefreshSuccess = "success"
	RefreshInvalid = "invalid"
	RefreshReused  = "reused"
)

// otherOutcome counts an outcome the lists above do not name, so a typo shows
// up as a series to look at instead of a new label value per caller.
const otherOutcome = "other"

var (
	loginOutcomes   = []string{LoginSuccess, LoginInvalid, LoginLocked, LoginRateLimited, LoginMFARequired, LoginOverloaded}
	refreshOutcomes = []string{RefreshSuccess, RefreshInvalid, RefreshReused}
)

// sourceTimeout bounds one read of a Sources function during a scrape.
const sourceTimeout = 2 * time.Second

// HashQueue is what is read from the password hashing pool (*hashpool.Pool).
type HashQueue interface {
	Depth() int
	Rejected() uint64
}

// Sources are read at each scrape. Any of them may be nil: its metrics are then absent.
type Sources struct {
	HashQueue HashQueue
	DB        *sql.DB // connection pool stats, as go_sql_* with db_name="authsvc"
	// OutboxBacklog counts mails queued and not yet sent.
	OutboxBacklog func(context.Context) (int64, error)
	// OutboxFailing counts unsent mails whose last delivery attempt failed.
	OutboxFailing func(context.Context) (int64, error)
	// WebhookBacklog counts webhook deliveries not yet made (pending).
	WebhookBacklog func(context.Context) (int64, error)
	// WebhookFailing counts pending deliveries whose last attempt failed.
	WebhookFailing func(context.Context) (int64, error)
}

// Metrics holds the registry and the metrics the service updates itself.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger
	now func() time.Time

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	hookCalls   *prometheus.CounterVec
	hookTime    *prometheus.HistogramVec
}

// New registers every metric on a new registry. log receives scrape errors
// (a Sources function failing); now times requests.
func New(log *slog.Logger, now func() time.Time, src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		now: now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "logins_total",
			Help: "Login attempts by outcome.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_refreshes_total",
			Help: "Refresh token uses by outcome.",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limited_total",
			Help: "Requests refused by a rate limit, by scope.",
		}, []string{"scope"}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "hook_calls_total",
			Help: "Calls of the token and signup hooks, by hook and outcome (ok, failed).",
		}, []string{"hook", "outcome"}),
		hookTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "hook_duration_seconds",
			Help:    "Time a hook took to answer (or to fail), by hook.",
			Buckets: prometheus.DefBuckets,
		}, []string{"hook"}),
	}
	// Known outcomes start at 0, so rate() and alerts see them before the first event.
	for _, o := range loginOutcomes {
		m.logins.WithLabelValues(o)
	}
	for _, o := range refreshOutcomes {
		m.refreshes.WithLabelValues(o)
	}
	m.reg.MustRegister(m.requests, m.duration, m.logins, m.refreshes, m.rateLimited, m.hookCalls, m.hookTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	if q := src.HashQueue; q != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: namespace, Name: "password_hash_queue_depth",
				Help: "Logins waiting for a password hashing worker.",
			}, func() float64 { return float64(q.Depth()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: namespace, Name: "password_hash_rejected_total",
				Help: "Requests turned away because the password hashing queue was full.",
			}, func() float64 { return float64(q.Rejected()) }),
		)
	}
	if src.DB != nil {
		m.reg.MustRegister(collectors.NewDBStatsCollector(src.DB, namespace))
	}
	if src.OutboxBacklog != nil {
		m.reg.MustRegister(newFuncGauge("mail_outbox_backlog", "Mails queued and not yet sent.", src.OutboxBacklog))
	}
	if src.OutboxFailing != nil {
		m.reg.MustRegister(newFuncGauge("mail_outbox_failing", "Unsent mails whose last delivery attempt failed.", src.OutboxFailing))
	}
	if src.WebhookBacklog != nil {
		m.reg.MustRegister(newFuncGauge("webhook_deliveries_backlog", "Webhook deliveries not yet made.", src.WebhookBacklog))
	}
	if src.WebhookFailing != nil {
		m.reg.MustRegister(newFuncGauge("webhook_deliveries_failing", "Pending webhook deliveries whose last attempt failed.", src.WebhookFailing))
	}
	return m
}

// Hook outcomes.
const (
	HookOK     = "ok"
	HookFailed = "failed"
)

// HookCall counts one call of a hook ("token" or "signup") and how long it
// took. outcome is HookOK (an answer, whatever it said) or HookFailed.
func (m *Metrics) HookCall(hook, outcome string, took time.Duration) {
	m.hookCalls.WithLabelValues(hook, known(outcome, []string{HookOK, HookFailed})).Inc()
	m.hookTime.WithLabelValues(hook).Observe(took.Seconds())
}

// Login counts one login attempt. outcome is one of the Login* constants.
func (m *Metrics) Login(outcome string) {
	m.logins.WithLabelValues(known(outcome, loginOutcomes)).Inc()
}

// Refresh counts one refresh token use. outcome is one of the Refresh* constants.
func (m *Metrics) Refresh(outcome string) {
	m.refreshes.WithLabelValues(known(outcome, refreshOutcomes)).Inc()
}

// RateLimited counts one refusal. scope is the limiter's scope, a constant of
// the code ("login_ip"), never a value from the request.
func (m *Metrics) RateLimited(scope string) { m.rateLimited.WithLabelValues(scope).Inc() }

// Handler serves the registry in Prometheus's formats. A failing source is
// logged and left out; the other metrics are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg, // counts its own errors as promhttp_metric_handler_errors_total
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      errorLog{m.log},
	})
}

func known(outcome string, outcomes []string) string {
	for _, o := range outcomes {
		if o == outcome {
			return o
		}
	}
	return otherOutcome
}

// funcGauge is a gauge read through a function that takes a context and may
// fail, which prometheus.GaugeFunc does not allow.
type funcGauge struct {
	desc *prometheus.Desc
	read func(context.Context) (int64, error)
}

func newFuncGauge(name, help string, read func(context.Context) (int64, error)) funcGauge {
	return funcGauge{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil), read: read}
}

func (g funcGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g funcGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	v, err := g.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v))
}

// errorLog is promhttp's logger on slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) { e.log.Error("metrics: " + fmt.Sprintln(v...)) }
