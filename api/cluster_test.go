package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing/api"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// fullLifecycle is twenty events of one workspace over two months, in the
// order Stripe created them: checkout, first invoice, a credits purchase, a
// renewal that fails then succeeds, a partial refund, a declined payment,
// and either a cancellation or a second renewal.
func fullLifecycle(ws string, cancel bool) [][]byte {
	day := 24 * time.Hour
	in2 := map[string]any{"data.object.id": "in_Second_" + ws, "data.object.billing_reason": "subscription_cycle",
		"data.object.number": "0002", "data.object.lines.data.0.period.start": 1769904000, "data.object.lines.data.0.period.end": 1772323200}
	in3 := map[string]any{"data.object.id": "in_Third_" + ws, "data.object.billing_reason": "subscription_cycle",
		"data.object.number": "0003", "data.object.lines.data.0.period.start": 1772323200, "data.object.lines.data.0.period.end": 1775001600}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := merge(m)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	period := func(start, end int64, kv ...any) map[string]any {
		return with(map[string]any{"data.object.items.data.0.current_period_start": start, "data.object.items.data.0.current_period_end": end}, kv...)
	}
	steps := []struct {
		typ     string
		variant string
		d       time.Duration
		set     map[string]any
	}{
		{"customer.created", "", 0, nil},
		{"checkout.session.completed", "", time.Second, nil},
		{"customer.subscription.created", "", 2 * time.Second, map[string]any{"data.object.status": "incomplete"}},
		{"invoice.finalized", "", 3 * time.Second, nil},
		{"invoice.payment_succeeded", "", 4 * time.Second, nil},
		{"invoice.paid", "", 4 * time.Second, nil},
		{"customer.subscription.updated", "", 5 * time.Second, nil},
		{"checkout.session.completed", "payment", day, nil},
		{"payment_intent.succeeded", "", day + time.Second, nil},
		{"invoice.finalized", "", 31 * day, with(in2, "data.object.status", "open", "data.object.amount_paid", 0)},
		{"invoice.payment_failed", "", 31*day + time.Second, with(in2, "data.object.lines.data.0.period.start", 1769904000)},
		{"customer.subscription.updated", "", 31*day + 2*time.Second, period(1769904000, 1772323200, "data.object.status", "past_due")},
		{"invoice.paid", "", 33 * day, in2},
		{"invoice.payment_succeeded", "", 33 * day, in2},
		{"customer.subscription.updated", "", 33*day + time.Second, period(1769904000, 1772323200)},
		{"charge.refunded", "", 34 * day, nil},
		{"payment_intent.payment_failed", "", 35 * day, map[string]any{"data.object.id": "pi_Declined_" + ws}},
		{"customer.subscription.updated", "", 40 * day, period(1769904000, 1772323200, "data.object.cancel_at_period_end", cancel)},
		{"customer.subscription.deleted", "", 59 * day, period(1769904000, 1772323200, "data.object.ended_at", t0.Add(59*day).Unix())},
		{"customer.updated", "", 60 * day, map[string]any{"data.object.name": "Renamed " + ws}},
	}
	if !cancel {
		steps[18] = steps[12]
		steps[18].d, steps[18].set = 59*day, in3
	}
	var out [][]byte
	for i, s := range steps {
		p, err := trigger.Build(trigger.Options{Type: s.typ, Variant: s.variant, Workspace: ws, PriceID: proPrice,
			Created: at(s.d), Set: s.set, EventID: fmt.Sprintf("evt_%s_%02d", ws, i)})
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

// clusterEvents is the life cycles of n workspaces, in creation order.
func clusterEvents(n int) (events [][]byte, workspaces []string) {
	for i := 0; i < n; i++ {
		ws := fmt.Sprintf("ws_%03d", i)
		workspaces = append(workspaces, ws)
		events = append(events, fullLifecycle(ws, i%2 == 0)...)
	}
	return events, workspaces
}

// post signs and posts one event; safe from any goroutine.
func post(client *http.Client, baseURL string, payload []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, baseURL+api.WebhookPath, bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", webhook.Sign(payload, testSecret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// stateOf is everything the read API shows of a workspace, with the ledger
// as a sorted set (its ids and times depend on the order of application).
func stateOf(h *harness, ws string) string {
	var w, invoices, payments any
	h.get("/api/billing/workspaces/"+ws, &w)
	h.get("/api/billing/workspaces/"+ws+"/invoices", &invoices)
	h.get("/api/billing/workspaces/"+ws+"/payments", &payments)
	var ledger []string
	for _, e := range h.ledger(ws) {
		ledger = append(ledger, fmt.Sprintf("%s %s %d %q", e.IdempotencyKey, e.Bucket, e.Amount, e.Reason))
	}
	slices.Sort(ledger)
	b, _ := json.MarshalIndent(map[string]any{"workspace": w, "invoices": invoices, "payments": payments, "ledger": ledger}, "", " ")
	return string(b)
}

// reference applies events once, in order, on a fresh database.
func reference(t *testing.T, events [][]byte, workspaces []string) map[string]string {
	logs := &syncBuffer{}
	h := serve(t, storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.NewJSONHandler(logs, nil))), logs)
	for _, p := range events {
		if r := h.send(p); r.Code != http.StatusOK {
			t.Fatalf("reference: %d %+v", r.Code, r.Error)
		}
	}
	out := map[string]string{}
	for _, ws := range workspaces {
		out[ws] = stateOf(h, ws)
	}
	return out
}

// checkReference makes sure the reference is what the life cycles mean, so
// that comparing with it proves something.
func checkReference(t *testing.T, want map[string]string) {
	t.Helper()
	for ws, cancel := range map[string]bool{"ws_000": true, "ws_001": false} {
		var st struct {
			Workspace workspaceView    `json:"workspace"`
			Invoices  []map[string]any `json:"invoices"`
			Payments  []map[string]any `json:"payments"`
			Ledger    []string         `json:"ledger"`
		}
		if err := json.Unmarshal([]byte(want[ws]), &st); err != nil {
			t.Fatal(err)
		}
		w := st.Workspace
		wantStatus, wantSub, wantInvoices := "canceled", int64(0), 2
		if !cancel {
			wantStatus, wantSub, wantInvoices = "active", 1000, 3
		}
		if w.Subscription == nil || w.Subscription.Status != wantStatus || w.Credits.Subscription != wantSub ||
			w.Credits.Purchased != 250 || len(st.Invoices) != wantInvoices || len(st.Payments) != 2 {
			t.Fatalf("reference state of %s is not what its events say:\n%s", ws, want[ws])
		}
	}
}

// TestClusterTwoInstancesOnePostgres: two instances on one PostgreSQL
// database receive 2,000 events (30 % of them twice) shuffled, from 32
// concurrent senders split across both, and end in the state one instance
// reaches applying each event once, in order.
func TestClusterTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	events, workspaces := clusterEvents(100)
	want := reference(t, events, workspaces)
	checkReference(t, want)

	url := storetest.PostgresURL(t)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	a := serve(t, storetest.OpenURL(t, url, logger), logs)
	b := serve(t, storetest.OpenURL(t, url, logger), logs)

	rng := rand.New(rand.NewPCG(7, 11))
	deliveries := slices.Clone(events)
	for _, i := range rng.Perm(len(events))[:len(events)*3/10] {
		deliveries = append(deliveries, events[i])
	}
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	queue := make(chan []byte)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for s := 0; s < 32; s++ {
		base := []*harness{a, b}[s%2].srv.URL
		client := &http.Client{Timeout: 30 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				code, err := post(client, base, p)
				if err != nil {
					code = -1
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for _, p := range deliveries {
		queue <- p
	}
	close(queue)
	wg.Wait()
	t.Logf("%d deliveries in %v: %v", len(deliveries), time.Since(start), codes)
	if codes[http.StatusOK] != len(deliveries) {
		t.Fatalf("answers %v, want %d × 200", codes, len(deliveries))
	}
	for _, ws := range workspaces {
		for _, h := range []*harness{a, b} {
			if got := stateOf(h, ws); got != want[ws] {
				t.Fatalf("%s differs from one instance applying in order:\n got %s\nwant %s", ws, got, want[ws])
			}
		}
	}
	var n int
	if err := a.sqlDB().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != len(events) {
		t.Errorf("%d events stored (%v), want %d", n, err, len(events))
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged")
	}
}

// eventID reads an event payload's id.
func eventID(payload []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &e)
	return e.ID
}
