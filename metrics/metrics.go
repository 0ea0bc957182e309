// Package metrics exposes the service's Prometheus metrics: webhook events
// by type and outcome, their processing time, refused deliveries, failed
// events waiting for a retry, credits granted and spent, HTTP requests by
// route and status, client connections, the database pool, and the app's
// messages and their webhook deliveries.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acme/billing/api"
	"github.com/acme/billing/store"
)

// Metrics collects and serves the metrics. It implements api.Observer,
// api.ConnObserver and appwebhook.Observer.
type Metrics struct {
	registry    *prometheus.Registry
	events      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	refused     *prometheus.CounterVec
	requests    *prometheus.CounterVec
	conns       prometheus.Gauge
	connsClosed *prometheus.CounterVec
	batches     prometheus.Histogram
	app         appMetrics
}

var (
	_ api.Observer     = (*Metrics)(nil)
	_ api.ConnObserver = (*Metrics)(nil)
)

// New registers the metrics, reading database totals from db at each scrape.
func New(db *store.DB) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_webhook_events_total",
			Help: "Verified Stripe events by type and outcome (processed, duplicate, ignored, stale, or an error code).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "billing_webhook_processing_seconds",
			Help:    "Time to store and apply a verified event, commit included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_webhook_refused_total",
			Help: "Deliveries refused before storing, by reason (bad_signature, too_old, not_event, ...).",
		}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "billing_http_connections_open",
			Help: "Client connections open (at most BILLING_MAX_CONNS).",
		}),
		connsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_http_connections_closed_total",
			Help: "Client connections closed to make room: limit (every slot was taken), pressure (quiet for 5 s from 3/4 of BILLING_MAX_CONNS on).",
		}, []string{"reason"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "billing_batch_events",
			Help:    "Events per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		app: newAppMetrics(),
	}
	// Both reasons are exported from the start, so that alerts see a 0.
	m.connsClosed.WithLabelValues("limit")
	m.connsClosed.WithLabelValues("pressure")
	m.registry.MustRegister(m.events, m.duration, m.refused, m.requests, m.conns, m.connsClosed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "billing_webhook_failed_events",
			Help: "Stored events whose last attempt failed and that no retry or replay has applied yet (-1: database unreadable).",
		}, count(db.FailedEvents)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "billing_email_unsent",
			Help: "Notification emails not sent yet: waiting, being sent, or failed for good (-1: database unreadable).",
		}, count(db.UnsentNotifications)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "billing_disputes_open",
			Help: "Disputes waiting for an answer or Stripe's decision: respond in the Stripe Dashboard before evidence is due (-1: database unreadable).",
		}, count(db.OpenDisputes)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "billing_db_round_trips_total",
			Help: "Round trips to PostgreSQL, counted on the connections' sockets (0 on SQLite).",
		}, func() float64 { return float64(db.RoundTrips()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "billing_db_reads_missed_total",
			Help: "Reads of group commits that their first read did not cover, each one more round trip on PostgreSQL.",
		}, func() float64 { return float64(db.Misses()) }),
		m.batches,
		&credits{db: db},
		&messages{db: db},
		collectors.NewDBStatsCollector(db.SQL(), "billing"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registry.MustRegister(m.app.collectors()...)
	return m
}

// count reads a database count at scrape time; -1 when the database cannot
// be read, which is visible and easy to alert on.
func count(f func(context.Context) (int64, error)) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := f(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}
}

// WebhookHandled implements api.Observer.
func (m *Metrics) WebhookHandled(eventType, outcome string, took time.Duration) {
	m.events.WithLabelValues(eventType, outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(took.Seconds())
}

// WebhookRefused implements api.Observer.
func (m *Metrics) WebhookRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// ConnsOpen implements api.ConnObserver.
func (m *Metrics) ConnsOpen(n int) { m.conns.Set(float64(n)) }

// ConnClosed implements api.ConnObserver.
func (m *Metrics) ConnClosed(reason string) { m.connsClosed.WithLabelValues(reason).Inc() }

// Handler serves the metrics in Prometheus' text format. A metric that
// cannot be read leaves out only itself: with the database down, the
// scrape still succeeds and shows the -1 gauges alerts watch.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Middleware counts requests by the route pattern that served them (so ids
// in paths do not make a label per workspace) and status code.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

var (
	grantedDesc = prometheus.NewDesc("billing_credits_granted_total",
		"Credits ever granted, from the append-only ledger (database-wide).", nil, nil)
	spentDesc = prometheus.NewDesc("billing_credits_spent_total",
		"Credits ever spent through the consume API, from the ledger (database-wide).", nil, nil)
)

// credits reads both ledger totals with one query per scrape.
type credits struct{ db *store.DB }

func (c *credits) Describe(ch chan<- *prometheus.Desc) { ch <- grantedDesc; ch <- spentDesc }

func (c *credits) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	granted, spent, err := c.db.CreditTotals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(grantedDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(grantedDesc, prometheus.CounterValue, granted)
	ch <- prometheus.MustNewConstMetric(spentDesc, prometheus.CounterValue, spent)
}

// ObserveBatch records a group commit of n events (billing.Service.OnBatch).
func (m *Metrics) ObserveBatch(n int) { m.batches.Observe(float64(n)) }
