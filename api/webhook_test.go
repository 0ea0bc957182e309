package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

func TestWebhookRefusesAndStoresNothing(t *testing.T) {
	valid := func(h *harness) []byte { return h.build(trigger.Options{Type: "invoice.paid"}) }
	tests := []struct {
		name    string
		request func(h *harness) *http.Request
		code    int
		message string // in the JSON error and the log line
	}{
		{"missing signature", func(h *harness) *http.Request {
			return req(h, http.MethodPost, valid(h), "")
		}, 400, "missing Stripe-Signature header"},
		{"wrong secret", func(h *harness) *http.Request {
			p := valid(h)
			return req(h, http.MethodPost, p, webhook.Sign(p, "whsec_attacker", time.Now()))
		}, 400, "no signature matches"},
		{"body changed after signing", func(h *harness) *http.Request {
			p := valid(h)
			sig := webhook.Sign(p, testSecret, time.Now())
			return req(h, http.MethodPost, bytes.Replace(p, []byte(`"amount_paid":2900`), []byte(`"amount_paid":1`), 1), sig)
		}, 400, "no signature matches"},
		{"malformed header", func(h *harness) *http.Request {
			return req(h, http.MethodPost, valid(h), "t=notanumber,v1=abc")
		}, 400, "malformed Stripe-Signature header"},
		{"header without timestamp", func(h *harness) *http.Request {
			return req(h, http.MethodPost, valid(h), "v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")
		}, 400, "malformed Stripe-Signature header"},
		{"timestamp too old", func(h *harness) *http.Request {
			p := valid(h)
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now().Add(-6*time.Minute)))
		}, 400, "older than the tolerance"},
		{"timestamp from the future", func(h *harness) *http.Request {
			p := valid(h)
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now().Add(6*time.Minute)))
		}, 400, "further in the future"},
		{"signed body that is not an event", func(h *harness) *http.Request {
			p := []byte(`{"object":"invoice","id":"in_123"}`)
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now()))
		}, 400, "not a Stripe event"},
		{"signed body that is not JSON", func(h *harness) *http.Request {
			p := []byte(`hello`)
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now()))
		}, 400, "not a Stripe event"},
		{"signed event without data", func(h *harness) *http.Request {
			p := []byte(`{"object":"event","id":"evt_1","type":"invoice.paid","created":1767225600}`)
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now()))
		}, 400, "not a Stripe event"},
		{"live event to a test-mode service", func(h *harness) *http.Request {
			p := h.build(trigger.Options{Type: "invoice.paid", Set: map[string]any{"livemode": true, "data.object.livemode": true}})
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now()))
		}, 400, "STRIPE_SECRET_KEY is a test key"},
		{"body over 1 MiB", func(h *harness) *http.Request {
			p := h.build(trigger.Options{Type: "invoice.paid", Set: map[string]any{"data.object.description": strings.Repeat("x", api.MaxWebhookBody)}})
			return req(h, http.MethodPost, p, webhook.Sign(p, testSecret, time.Now()))
		}, 413, "larger than"},
		{"GET", func(h *harness) *http.Request { return req(h, http.MethodGet, nil, "") }, 405, "use POST"},
		{"PUT with a valid signature", func(h *harness) *http.Request {
			p := valid(h)
			return req(h, http.MethodPut, p, webhook.Sign(p, testSecret, time.Now()))
		}, 405, "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			r := h.do(tt.request(h))
			if r.Code != tt.code || !strings.Contains(r.Error.Message, tt.message) {
				t.Errorf("got %d %+v, want %d %q", r.Code, r.Error, tt.code, tt.message)
			}
			if tt.code == 405 && r.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", r.Header.Get("Allow"))
			}
			if tt.code == 400 && !strings.Contains(h.logs.String(), tt.message) {
				t.Errorf("no log line says %q", tt.message)
			}
			for _, table := range billingTables {
				if n := h.count(table); n != 0 {
					t.Errorf("%s has %d rows", table, n)
				}
			}
		})
	}
}

func req(h *harness, method string, body []byte, signature string) *http.Request {
	r, _ := http.NewRequest(method, h.srv.URL+api.WebhookPath, bytes.NewReader(body))
	if signature != "" {
		r.Header.Set("Stripe-Signature", signature)
	}
	return r
}

func TestWebhookAccepts(t *testing.T) {
	h := setup(t)
	// Without the trailing slash, with a secret being rotated out, with no
	// cookie or CSRF token, and with an unknown extra signature scheme.
	p := h.build(trigger.Options{Type: "invoice.paid"})
	r := h.do(func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, h.srv.URL+strings.TrimSuffix(api.WebhookPath, "/"), bytes.NewReader(p))
		r.Header.Set("Stripe-Signature", webhook.Sign(p, "whsec_old_rotated_out", time.Now())+",v0=deadbeef")
		return r
	}())
	if r.Code != 200 || !r.Received || r.Status != "processed" || !strings.HasPrefix(r.Event, "evt_") {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(h.logs.String(), `"msg":"Received Stripe webhook: invoice.paid"`) {
		t.Error("no 'Received Stripe webhook' log line")
	}
	if strings.Contains(h.logs.String(), testSecret) || strings.Contains(h.logs.String(), "whsec_old_rotated_out") {
		t.Error("a webhook secret was logged")
	}
}

func TestDuplicateChangesNothing(t *testing.T) {
	h := setup(t)
	p := h.build(trigger.Options{Type: "payment_intent.succeeded"})
	if r := h.send(p); r.Status != "processed" {
		t.Fatalf("first delivery: %+v", r)
	}
	before := snapshot(h)
	for i := 0; i < 3; i++ {
		if r := h.send(p); r.Code != 200 || r.Status != "duplicate" {
			t.Fatalf("redelivery: %+v", r)
		}
	}
	if after := snapshot(h); after != before {
		t.Errorf("a duplicate changed the database:\n%s\n%s", before, after)
	}
}

// snapshot dumps every billing table, to compare states.
func snapshot(h *harness) string {
	h.t.Helper()
	var b strings.Builder
	db := h.sqlDB()
	for _, table := range billingTables {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			h.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				h.t.Fatal(err)
			}
			b.WriteString(table)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " | %v", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}

func TestConcurrentDuplicatesApplyOnce(t *testing.T) {
	h := setup(t)
	ws := "ws_race"
	h.deliver(trigger.Options{Type: "customer.subscription.created", Workspace: ws, Created: at(0)}, billing.StatusProcessed)
	p := h.build(trigger.Options{Type: "invoice.paid", Workspace: ws, Created: at(time.Second)})
	var wg sync.WaitGroup
	results := make(chan webhookResponse, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- h.send(p)
		}()
	}
	wg.Wait()
	close(results)
	count := map[string]int{}
	for r := range results {
		if r.Code != 200 {
			t.Errorf("got %d %+v", r.Code, r.Error)
		}
		count[r.Status]++
	}
	if count["processed"] != 1 || count["duplicate"] != 19 {
		t.Errorf("statuses = %v, want 1 processed and 19 duplicate", count)
	}
	if w := h.workspace(ws); w.Credits.Subscription != 1000 {
		t.Errorf("credits = %+v, want 1000 once", w.Credits)
	}
	if l := h.ledger(ws); len(l) != 1 {
		t.Errorf("ledger = %+v", l)
	}
}

func TestFailureMidApplyLeavesNothingAndRetries(t *testing.T) {
	h := setup(t)
	ws := "ws_boom"
	// A real database error after the subscription row is written and before
	// the credits are: the grant's insert fails.
	repair := storetest.Break(t, h.db, "credit_ledger", "disk on fire")
	p := h.build(trigger.Options{Type: "invoice.paid", Workspace: ws})
	r := h.send(p)
	if r.Code != http.StatusInternalServerError {
		t.Fatalf("got %d %+v, want 500", r.Code, r)
	}
	e, _ := h.event(r.Event)
	if e.Status != "failed" || e.Attempts != 1 || e.LastError == nil || !strings.Contains(*e.LastError, "disk on fire") {
		t.Errorf("failed event = %+v", e)
	}
	for _, table := range []string{"subscriptions", "customers", "credit_ledger", "workspaces", "invoices"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%s has %d rows after a rolled-back event", table, n)
		}
	}
	if !strings.Contains(h.logs.String(), `"msg":"Error handling webhook event"`) {
		t.Error("no error log line")
	}

	repair()
	if r := h.send(p); r.Code != 200 || r.Status != "processed" {
		t.Fatalf("retry: %+v", r)
	}
	e, _ = h.event(r.Event)
	if e.Status != "processed" || e.Attempts != 2 || e.LastError != nil {
		t.Errorf("retried event = %+v", e)
	}
}
