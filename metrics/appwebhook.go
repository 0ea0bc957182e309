package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/store"
)

var _ appwebhook.Observer = (*Metrics)(nil)

// appMetrics are the app webhooks' metrics the sender reports.
type appMetrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	lag        prometheus.Histogram
}

func newAppMetrics() appMetrics {
	return appMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_app_deliveries_total",
			Help: "Attempts to deliver a message to an app webhook endpoint, by endpoint (without user info or query values) and outcome (delivered, retried, failed, disabled).",
		}, []string{"endpoint", "outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "billing_app_delivery_duration_seconds",
			Help:    "Time of one HTTP attempt to an app webhook endpoint (at most 15 s).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "billing_app_delivery_lag_seconds",
			Help:    "Time from a message's writing to its delivery, retries included.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 21600, 86400, 259200},
		}),
	}
}

func (a appMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.deliveries, a.duration, a.lag}
}

// Attempted implements appwebhook.Observer.
func (m *Metrics) Attempted(endpoint, outcome string, took time.Duration) {
	m.app.deliveries.WithLabelValues(appwebhook.Redact(endpoint), outcome).Inc()
	m.app.duration.Observe(took.Seconds())
}

// Delivered implements appwebhook.Observer.
func (m *Metrics) Delivered(lag time.Duration) { m.app.lag.Observe(lag.Seconds()) }

// WatchAppWebhooks exports the deliveries' backlog and the endpoints
// disabled, read from s at each scrape; call it when app webhooks are
// configured.
func (m *Metrics) WatchAppWebhooks(s appwebhook.Store) { m.registry.MustRegister(&backlog{s: s}) }

var (
	pendingDesc = prometheus.NewDesc("billing_app_deliveries_pending",
		"App webhook deliveries waiting for an attempt or being attempted (-1: database unreadable).", nil, nil)
	failedDesc = prometheus.NewDesc("billing_app_deliveries_failed",
		"App webhook deliveries out of attempts, waiting for an operator's Send again (-1: database unreadable).", nil, nil)
	disabledDesc = prometheus.NewDesc("billing_app_endpoints_disabled",
		"Configured app webhook endpoints disabled after a 410 Gone, until an operator enables them (-1: database unreadable).", nil, nil)
	messagesDesc = prometheus.NewDesc("billing_app_messages_total",
		"Messages to the app ever written, by type (database-wide; pruning does not lower it).", []string{"type"}, nil)
)

// backlog reads the deliveries' counts at scrape time.
type backlog struct{ s appwebhook.Store }

func (b *backlog) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- failedDesc
	ch <- disabledDesc
}

func (b *backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, failed, err := b.s.Backlog(ctx)
	if err != nil {
		pending, failed = -1, -1
	}
	disabled := int64(-1)
	if endpoints, err := b.s.Endpoints(ctx); err == nil {
		disabled = 0
		for _, e := range endpoints {
			if e.Disabled() {
				disabled++
			}
		}
	}
	for desc, n := range map[*prometheus.Desc]int64{pendingDesc: pending, failedDesc: failed, disabledDesc: disabled} {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n))
	}
}

// messages counts the app's messages by type at scrape time, from the
// database: every instance sees the same database-wide count, whichever
// instance wrote a message, and a restart loses nothing.
type messages struct{ db *store.DB }

func (c *messages) Describe(ch chan<- *prometheus.Desc) { ch <- messagesDesc }

func (c *messages) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.db.MessageCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(messagesDesc, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(n.N), n.Type)
	}
}
