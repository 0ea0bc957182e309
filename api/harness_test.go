package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

const (
	testSecret = "whsec_test_secret_for_the_suite"
	testAPIKey = "test-api-key-0123456789"
	proPrice   = "price_TestPro"
)

var testPlans = func() *billing.Plans {
	p, err := billing.NewPlans([]billing.Plan{
		{ID: "pro", Name: "Pro", StripePriceIDs: []string{proPrice}, MonthlyCredits: 1000,
			Features: map[string]billing.Feature{"exports": {}, "seats": billing.FeatureLimit(5)}},
		{ID: "team", Name: "Team", StripePriceIDs: []string{"price_TestTeam"}, MonthlyCredits: 5000,
			Features: map[string]billing.Feature{"exports": {}, "seats": billing.FeatureLimit(50), "sso": {}}},
	})
	if err != nil {
		panic(err)
	}
	return p
}()

// harness is the real HTTP handler on a real SQLite file.
type harness struct {
	t    testing.TB
	srv  *httptest.Server
	db   *store.DB
	svc  *billing.Service
	logs *billingtest.Buffer
}

func setup(t *testing.T) *harness {
	t.Helper()
	t.Parallel()
	logs := &billingtest.Buffer{}
	return serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs)
}

// serve starts the real handler on db, logging to logs. t is a *testing.F
// for a fuzz target, which shares one database across its inputs.
func serve(t testing.TB, db *store.DB, logs *billingtest.Buffer, opts ...func(*billing.Service)) *harness {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	svc := &billing.Service{Store: db, Decoder: webhook.Decoder{}, Plans: testPlans, Logger: logger}
	for _, o := range opts {
		o(svc)
	}
	// The production path: concurrent events share group commits.
	t.Cleanup(svc.StartBatching(db.Writers(), 64))
	srv := httptest.NewServer((&api.Server{
		Service:  svc,
		Verifier: &webhook.Verifier{Secrets: []string{"whsec_old_rotated_out", testSecret}, Tolerance: 300 * time.Second, Mode: billing.ModeTest},
		APIKey:   testAPIKey,
		Logger:   logger,
		Ready:    db.Ready,
	}).Handler())
	// Every answer the suite reads is held to api/openapi.json.
	srv.Client().Transport = contract{srv.Client().Transport}
	h := &harness{t: t, srv: srv, db: db, svc: svc, logs: logs}
	t.Cleanup(func() {
		srv.Close()
		h.checkBalances()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return h
}

// checkBalances asserts the invariant every test must keep: each cached
// balance equals its ledger's sum.
func (h *harness) checkBalances() {
	bad, err := h.db.CheckBalances(context.Background())
	if err != nil {
		h.t.Errorf("check balances: %v", err)
	}
	if len(bad) > 0 {
		h.t.Errorf("cached balance differs from the ledger sum for %v", bad)
	}
}

// build builds an event payload; ws "" keeps the fixtures' ws_1.
func (h *harness) build(o trigger.Options) []byte {
	h.t.Helper()
	if o.PriceID == "" {
		o.PriceID = proPrice
	}
	p, err := trigger.Build(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

type webhookResponse struct {
	Code     int
	Received bool   `json:"received"`
	Event    string `json:"event"`
	Status   string `json:"status"`
	Error    struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Header http.Header
}

// post sends payload to the webhook endpoint with a header.
func (h *harness) post(payload []byte, signature string) webhookResponse {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+api.WebhookPath, bytes.NewReader(payload))
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) webhookResponse {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := webhookResponse{Code: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatalf("answer is not JSON (%d): %q", resp.StatusCode, body)
	}
	return out
}

// send signs payload as Stripe does and posts it.
func (h *harness) send(payload []byte) webhookResponse {
	h.t.Helper()
	return h.post(payload, webhook.Sign(payload, testSecret, time.Now()))
}

// deliver builds, sends and expects 200 with the given status.
func (h *harness) deliver(o trigger.Options, want billing.EventStatus) webhookResponse {
	h.t.Helper()
	r := h.send(h.build(o))
	if r.Code != http.StatusOK || r.Status != string(want) {
		h.t.Fatalf("%s: got %d %q %+v, want 200 %q", o.Type, r.Code, r.Status, r.Error, want)
	}
	return r
}

// get calls the read API and decodes the JSON answer into v.
func (h *harness) get(path string, v any) int {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		h.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

type workspaceView struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Email            string  `json:"email"`
	StripeCustomerID *string `json:"stripe_customer_id"`
	Subscription     *struct {
		ID                 string  `json:"stripe_subscription_id"`
		Status             string  `json:"status"`
		Plan               *string `json:"plan"`
		CurrentPeriodStart *string `json:"current_period_start"`
		CurrentPeriodEnd   *string `json:"current_period_end"`
		CancelAtPeriodEnd  bool    `json:"cancel_at_period_end"`
	} `json:"subscription"`
	Credits struct {
		Balance      int64 `json:"balance"`
		Subscription int64 `json:"subscription"`
		Purchased    int64 `json:"purchased"`
	} `json:"credits"`
}

func (h *harness) workspace(id string) workspaceView {
	h.t.Helper()
	var w workspaceView
	if code := h.get("/api/billing/workspaces/"+id, &w); code != http.StatusOK {
		h.t.Fatalf("GET workspace %s: %d", id, code)
	}
	return w
}

type ledgerView struct {
	Amount         int64  `json:"amount"`
	Bucket         string `json:"bucket"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
	CreatedAt      string `json:"created_at"`
}

func (h *harness) ledger(ws string) []ledgerView {
	h.t.Helper()
	var l []ledgerView
	if code := h.get("/api/billing/workspaces/"+ws+"/credits/ledger", &l); code != http.StatusOK {
		h.t.Fatalf("GET ledger %s: %d", ws, code)
	}
	return l
}

type eventView struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"`
	Status    string  `json:"status"`
	Attempts  int     `json:"attempts"`
	LastError *string `json:"last_error"`
}

func (h *harness) event(id string) (eventView, int) {
	h.t.Helper()
	var e eventView
	code := h.get("/api/billing/events/"+id, &e)
	return e, code
}

// payload is the stored body of an event.
func (h *harness) payload(id string) string {
	h.t.Helper()
	var p []byte
	if err := h.sqlDB().QueryRow(`SELECT payload FROM events WHERE id = $1`, id).Scan(&p); err != nil {
		h.t.Fatalf("payload of %s: %v", id, err)
	}
	return string(p)
}

// sqlDB is the service's own database, for assertions and for breaking it
// on purpose.
func (h *harness) sqlDB() *sql.DB { return h.db.SQL() }

// count returns the number of rows of a table.
func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.sqlDB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// billingTables are every table the service writes.
var billingTables = []string{"events", "workspaces", "customers", "subscriptions", "invoices", "payments", "checkout_sessions",
	"credit_ledger", "pending_grants", "notifications"}

// legacy strips from an old-version event what Stripe added to every version
// after 2023, so the old field names alone must carry it: the shape such
// events had when they were sent and stored.
func legacy(version, eventType string) map[string]any {
	if version == trigger.LatestAPIVersion {
		return nil
	}
	switch {
	case strings.HasPrefix(eventType, "invoice."):
		return map[string]any{
			"data.object.parent": nil, "data.object.subscription_details": nil,
			"data.object.lines.data.0.pricing": nil, "data.object.lines.data.0.parent": nil,
		}
	case strings.HasPrefix(eventType, "customer.subscription."):
		return map[string]any{
			"data.object.items.data.0.current_period_start": nil, "data.object.items.data.0.current_period_end": nil,
		}
	}
	return nil
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
