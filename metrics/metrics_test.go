package metrics_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/metrics"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

const secret = "whsec_metrics_test"

// The real server with metrics on a real database: events, refusals,
// a failure, credits and HTTP requests show in a scrape of /metrics, read
// with Prometheus' own text parser, and the sample alert rules use only
// metrics the scrape has.
func TestMetricsThroughTheRealServer(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	db := storetest.Open(t, logger)
	plans, _ := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{"price_TestPro"}, MonthlyCredits: 1000}})
	svc := &billing.Service{Store: db, Decoder: webhook.Decoder{}, Plans: plans, Logger: logger}
	m := metrics.New(db)
	m.WatchAppWebhooks(db)
	svc.OnBatch = m.ObserveBatch
	t.Cleanup(svc.StartBatching(db.Writers(), 64))
	ctx := t.Context()
	// Two endpoints: one gets the messages below, one is disabled.
	if err := db.SyncEndpoints(ctx, []string{"https://app.example/hooks", "https://gone.example/hooks"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.DisableEndpoint(ctx, "https://gone.example/hooks", "answered 410 Gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Service: svc, Logger: logger, Ready: db.Ready, APIKey: "metrics-test-api-key",
		Verifier: &webhook.Verifier{Secrets: []string{secret}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest},
		Observer: m, Metrics: m.Handler()}
	ts := httptest.NewUnstartedServer(m.Middleware(srv.Handler()))
	ts.Listener = api.LimitConns(ts.Config, ts.Listener, 64, m)
	ts.Start()
	t.Cleanup(ts.Close)

	post := func(payload []byte, signature string) int {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+api.WebhookPath, bytes.NewReader(payload))
		if signature != "" {
			req.Header.Set("Stripe-Signature", signature)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	build := func(o trigger.Options) []byte {
		p, err := trigger.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	paid := build(trigger.Options{Type: "payment_intent.succeeded"})
	for _, p := range [][]byte{paid, paid, build(trigger.Options{Type: "invoice.paid", Set: map[string]any{"data.object.amount_due": "a lot"}}),
		build(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_late_payer"})} {
		post(p, webhook.Sign(p, secret, time.Now()))
	}
	post(paid, webhook.Sign(paid, "whsec_wrong", time.Now()))
	post(paid, "")
	post(paid, webhook.Sign(paid, secret, time.Now().Add(-time.Hour)))
	post(paid, webhook.Sign(paid, secret, time.Now().Add(time.Hour)))
	spend, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/billing/workspaces/ws_1/credits/consume",
		strings.NewReader(`{"amount": 120, "idempotency_key": "metrics-test"}`))
	spend.Header.Set("Authorization", "Bearer metrics-test-api-key")
	if resp, err := http.DefaultClient.Do(spend); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("consume: %v %v", resp, err)
	}

	dispatched := storetest.Dispatch(t, db, "https://app.example/hooks", 2, time.Now()) // a delivery of each message
	// The sender's reports: an endpoint's URL may hold a token, which
	// stays out of the label.
	const endpoint = "https://hooks:pa55word@app.example/billing?token=t0ken"
	m.Attempted(endpoint, appwebhook.OutcomeRetried, 2*time.Second)
	m.Attempted(endpoint, appwebhook.OutcomeDelivered, 80*time.Millisecond)
	m.Delivered(5 * time.Second)

	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	families := parse(t, body)
	value := func(name string, labels ...string) float64 { return value(t, families, name, labels...) }
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"billing_webhook_events_total", []string{"type", "payment_intent.succeeded", "outcome", "processed"}, 1},
		{"billing_webhook_events_total", []string{"type", "payment_intent.succeeded", "outcome", "duplicate"}, 1},
		{"billing_webhook_events_total", []string{"type", "invoice.paid", "outcome", "internal"}, 1},
		{"billing_webhook_processing_seconds", []string{"outcome", "processed"}, 2},
		{"billing_webhook_refused_total", []string{"reason", "bad_signature"}, 1},
		{"billing_webhook_refused_total", []string{"reason", "no_signature"}, 1},
		{"billing_webhook_refused_total", []string{"reason", "too_old"}, 1},
		{"billing_webhook_refused_total", []string{"reason", "from_future"}, 1},
		{"billing_webhook_failed_events", nil, 1},
		{"billing_app_messages_total", []string{"type", "payment.succeeded"}, 1},
		{"billing_app_messages_total", []string{"type", "invoice.payment_failed"}, 1},
		{"billing_app_deliveries_total", []string{"endpoint", "https://app.example/billing?…", "outcome", "retried"}, 1},
		{"billing_app_deliveries_total", []string{"endpoint", "https://app.example/billing?…", "outcome", "delivered"}, 1},
		{"billing_app_delivery_duration_seconds", nil, 2},
		{"billing_app_delivery_lag_seconds", nil, 1},
		{"billing_app_deliveries_pending", nil, float64(dispatched)}, // every message, to the enabled endpoint
		{"billing_app_deliveries_failed", nil, 0},
		{"billing_app_endpoints_disabled", nil, 1},
		{"billing_email_unsent", nil, 1},
		{"billing_credits_granted_total", nil, 500},
		{"billing_credits_spent_total", nil, 120},
		{"billing_http_requests_total", []string{"route", api.WebhookPath, "code", "200"}, 3},
		{"billing_http_requests_total", []string{"route", api.WebhookPath, "code", "400"}, 4},
		{"billing_http_requests_total", []string{"route", api.WebhookPath, "code", "500"}, 1},
		{"billing_http_requests_total", []string{"route", "POST /api/billing/workspaces/{id}/credits/consume", "code", "200"}, 1},
	} {
		if got := value(tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// The scrape's own connection is open; none was closed to make room.
	if open := value("billing_http_connections_open"); open < 1 || open > 64 {
		t.Errorf("billing_http_connections_open = %v, want 1 to 64", open)
	}
	for _, reason := range []string{"limit", "pressure"} {
		if got := value("billing_http_connections_closed_total", "reason", reason); got != 0 {
			t.Errorf("billing_http_connections_closed_total{reason=%q} = %v, want 0", reason, got)
		}
	}
	// Every webhook event went through a group commit; PostgreSQL's were
	// round trips, SQLite has none.
	if n := value("billing_batch_events"); n < 3 {
		t.Errorf("billing_batch_events counts %v group commits, want at least the 3 events answered", n)
	}
	if trips := value("billing_db_round_trips_total"); (trips > 0) != storetest.Postgres() {
		t.Errorf("billing_db_round_trips_total = %v on %s", trips, db.Name())
	}
	if value("go_sql_max_open_connections", "db_name", "billing") < 1 {
		t.Error("no database pool metrics")
	}
	for _, s := range []string{secret, "pa55word", "t0ken"} {
		if strings.Contains(string(body), s) {
			t.Errorf("a secret, %s, is in the metrics", s)
		}
	}
	checkAlertRules(t, families)
}

// parse reads a scrape with Prometheus' own text parser.
func parse(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape is not Prometheus text: %v\n%s", err, body)
	}
	return families
}

// value is the value of the metric with these label pairs: a counter's or
// a gauge's, a histogram's count of samples.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Errorf("no metric %s", name)
		return -1
	}
metric:
	for _, mt := range f.Metric {
		have := map[string]string{}
		for _, l := range mt.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue metric
			}
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue()
		case mt.Gauge != nil:
			return mt.Gauge.GetValue()
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount())
		}
	}
	t.Errorf("no %s%v", name, labels)
	return -1
}

// checkAlertRules checks that every metric the sample alert rules use is
// in a scrape of the service.
func checkAlertRules(t *testing.T, families map[string]*dto.MetricFamily) {
	rules, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`billing_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) < 5 {
		t.Fatalf("rules use %v", used)
	}
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if f, ok := families[strings.TrimSuffix(name, suffix)]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				base = strings.TrimSuffix(name, suffix)
			}
		}
		if _, ok := families[base]; !ok {
			t.Errorf("alerts.yml uses %s, which the service does not export", name)
		}
	}
}

// A database that cannot be read shows as -1 in the gauges the alert
// BillingDatabaseUnreadable watches, not as a healthy 0.
func TestUnreadableDatabaseShowsMinusOne(t *testing.T) {
	db := storetest.OpenURL(t, storetest.URL(t), slog.New(slog.DiscardHandler))
	m := metrics.New(db)
	m.WatchAppWebhooks(db)
	db.Close()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape answered %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"billing_webhook_failed_events", "billing_email_unsent",
		"billing_app_deliveries_pending", "billing_app_deliveries_failed", "billing_app_endpoints_disabled"} {
		f, ok := families[name]
		if !ok || len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() != -1 {
			t.Errorf("%s = %v, want -1", name, f)
		}
	}
}
