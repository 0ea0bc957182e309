package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/trigger"
)

// t0 is when the fixtures' first period starts (2026-01-01).
var t0 = time.Unix(1767225600, 0).UTC()

// at returns the time d after t0, for event created times.
func at(d time.Duration) time.Time { return t0.Add(d) }

// forEachVersion runs a test once per API version with fixtures.
func forEachVersion(t *testing.T, fn func(t *testing.T, version string)) {
	for _, v := range trigger.APIVersions() {
		t.Run(v, func(t *testing.T) { fn(t, v) })
	}
}

// ev builds options for an event of a workspace and version, with the
// legacy shape for old versions.
func ev(typ, ws, version string, created time.Duration, set ...map[string]any) trigger.Options {
	return trigger.Options{Type: typ, Workspace: ws, APIVersion: version, Created: at(created),
		Set: merge(append([]map[string]any{legacy(version, typ)}, set...)...)}
}

func TestSubscriptionLifecycle(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_life"
		sub, cus := trigger.ID("sub_TestSub1", ws), trigger.ID("cus_TestCustomer1", ws)

		h.deliver(ev("checkout.session.completed", ws, v, 0), billing.StatusProcessed)
		w := h.workspace(ws)
		if w.StripeCustomerID == nil || *w.StripeCustomerID != cus {
			t.Fatalf("customer not linked: %+v", w.StripeCustomerID)
		}
		if w.Subscription == nil || w.Subscription.ID != sub || w.Subscription.Status != "active" {
			t.Fatalf("paid checkout did not activate the subscription: %+v", w.Subscription)
		}
		if w.Credits.Balance != 0 {
			t.Fatalf("credits granted before the plan is known: %d", w.Credits.Balance)
		}

		h.deliver(ev("customer.subscription.created", ws, v, time.Second), billing.StatusProcessed)
		w = h.workspace(ws)
		if got := *w.Subscription.Plan; got != "pro" {
			t.Errorf("plan = %q, want pro", got)
		}
		if *w.Subscription.CurrentPeriodStart != "2026-01-01T00:00:00Z" || *w.Subscription.CurrentPeriodEnd != "2026-02-01T00:00:00Z" {
			t.Errorf("period = %s .. %s", *w.Subscription.CurrentPeriodStart, *w.Subscription.CurrentPeriodEnd)
		}
		if w.Credits.Subscription != 1000 || w.Credits.Balance != 1000 {
			t.Errorf("first period credits = %+v, want 1000", w.Credits)
		}

		// The first invoice's two events pay the same period as the checkout.
		h.deliver(ev("invoice.payment_succeeded", ws, v, 2*time.Second), billing.StatusProcessed)
		h.deliver(ev("invoice.paid", ws, v, 2*time.Second), billing.StatusProcessed)
		if l := h.ledger(ws); len(l) != 1 || l[0].Amount != 1000 || l[0].Bucket != "subscription" {
			t.Errorf("ledger after first invoice = %+v, want one grant of 1000", l)
		}

		h.deliver(ev("customer.subscription.updated", ws, v, 3*time.Second,
			map[string]any{"data.object.cancel_at_period_end": true}), billing.StatusProcessed)
		if w = h.workspace(ws); !w.Subscription.CancelAtPeriodEnd || w.Subscription.Status != "active" {
			t.Errorf("after update: %+v", w.Subscription)
		}

		h.deliver(ev("customer.subscription.deleted", ws, v, 4*time.Second), billing.StatusProcessed)
		w = h.workspace(ws)
		if w.Subscription.Status != "canceled" || w.Credits.Subscription != 0 {
			t.Errorf("after delete: status %s, credits %+v", w.Subscription.Status, w.Credits)
		}
		if !strings.Contains(h.logs.String(), "Updated subscription "+sub+" to CANCELED") {
			t.Error("no status log line")
		}
	})
}

func TestRenewalResetsSubscriptionCredits(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_renew"
		h.deliver(ev("customer.subscription.created", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("invoice.paid", ws, v, time.Second), billing.StatusProcessed)
		h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: ws, APIVersion: v, Created: at(time.Second)}, billing.StatusProcessed)

		renewal := map[string]any{
			"data.object.id": "in_RenewalFeb", "data.object.billing_reason": "subscription_cycle",
			"data.object.lines.data.0.period.start": 1769904000, "data.object.lines.data.0.period.end": 1772323200,
		}
		for _, typ := range []string{"invoice.payment_succeeded", "invoice.paid"} {
			h.deliver(ev(typ, ws, v, 31*24*time.Hour, renewal), billing.StatusProcessed)
		}
		w := h.workspace(ws)
		if w.Credits.Subscription != 1000 || w.Credits.Purchased != 500 {
			t.Errorf("credits after renewal = %+v, want 1000 subscription + 500 purchased", w.Credits)
		}
		if *w.Subscription.CurrentPeriodEnd != "2026-03-01T00:00:00Z" {
			t.Errorf("renewal did not start the new period: ends %s", *w.Subscription.CurrentPeriodEnd)
		}
		var sum int64
		keys := map[string]bool{}
		for _, e := range h.ledger(ws) {
			sum += e.Amount
			keys[e.IdempotencyKey] = true
		}
		firstPeriod := "sub:" + trigger.ID("sub_TestSub1", ws) + ":first_period"
		if sum != 1500 || !keys["invoice:in_RenewalFeb"] || !keys[firstPeriod+":expire"] {
			t.Errorf("ledger sum %d, keys %v", sum, keys)
		}
	})
}

func TestInvoiceRecorded(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_inv"
		h.deliver(ev("invoice.finalized", ws, v, 0), billing.StatusProcessed)
		var invs []map[string]any
		h.get("/api/billing/workspaces/"+ws+"/invoices", &invs)
		if len(invs) != 1 {
			t.Fatalf("invoices = %v", invs)
		}
		in := invs[0]
		want := map[string]any{
			"stripe_invoice_id": trigger.ID("in_TestInvoice1", ws), "status": "open", "billing_reason": "subscription_create",
			"amount_due": 2900.0, "amount_paid": 0.0, "currency": "usd", "attempt_count": 0.0, "number": "7C2B9E41-0001",
			"stripe_subscription_id": trigger.ID("sub_TestSub1", ws),
		}
		for k, wv := range want {
			if in[k] != wv {
				t.Errorf("%s = %v, want %v", k, in[k], wv)
			}
		}
		for _, k := range []string{"hosted_invoice_url", "invoice_pdf", "period_start", "period_end"} {
			if s, _ := in[k].(string); s == "" {
				t.Errorf("%s is empty", k)
			}
		}

		h.deliver(ev("invoice.paid", ws, v, time.Second), billing.StatusProcessed)
		h.get("/api/billing/workspaces/"+ws+"/invoices", &invs)
		if invs[0]["status"] != "paid" || invs[0]["amount_paid"] != 2900.0 {
			t.Errorf("after invoice.paid: %v", invs[0])
		}
	})
}

func TestInvoicePaymentFailed(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_fail"
		h.deliver(ev("customer.subscription.created", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("invoice.payment_failed", ws, v, 31*24*time.Hour), billing.StatusProcessed)
		w := h.workspace(ws)
		if w.Subscription.Status != "past_due" {
			t.Errorf("status = %s, want past_due", w.Subscription.Status)
		}
		var invs []map[string]any
		h.get("/api/billing/workspaces/"+ws+"/invoices", &invs)
		if len(invs) != 1 || invs[0]["attempt_count"] != 1.0 || invs[0]["next_payment_attempt"] == nil || invs[0]["status"] != "open" {
			t.Errorf("invoice = %v", invs)
		}
		var n int
		if err := h.sqlDB().QueryRow(`SELECT COUNT(*) FROM notifications WHERE workspace_id = $1 AND kind = 'invoice.payment_failed' AND status = 'pending'`, ws).Scan(&n); err != nil || n != 1 {
			t.Errorf("pending notifications = %d (%v), want 1", n, err)
		}
		if !strings.Contains(h.logs.String(), "to PAST_DUE") {
			t.Error("no PAST_DUE log line")
		}
	})
}

func TestCreditPurchase(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		for _, order := range [][]string{{"checkout", "payment_intent"}, {"payment_intent", "checkout"}} {
			t.Run(strings.Join(order, "_then_"), func(t *testing.T) {
				h := setup(t)
				ws := "ws_buy"
				for i, which := range order {
					o := trigger.Options{Type: "payment_intent.succeeded", Workspace: ws, APIVersion: v, Created: at(time.Duration(i) * time.Second)}
					if which == "checkout" {
						o.Type, o.Variant = "checkout.session.completed", "payment"
					}
					h.deliver(o, billing.StatusProcessed)
				}
				w := h.workspace(ws)
				if w.Credits.Purchased != 500 || w.Credits.Subscription != 0 {
					t.Errorf("credits = %+v, want 500 purchased once", w.Credits)
				}
				var pays []map[string]any
				h.get("/api/billing/workspaces/"+ws+"/payments", &pays)
				if len(pays) != 1 || pays[0]["status"] != "succeeded" || pays[0]["amount"] != 5000.0 || pays[0]["credits"] != 500.0 || pays[0]["currency"] != "usd" {
					t.Errorf("payments = %v", pays)
				}
			})
		}
	})
}

func TestPaymentFailed(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		for _, typ := range []string{"payment_intent.payment_failed", "payment_intent.failed"} {
			t.Run(typ, func(t *testing.T) {
				h := setup(t)
				ws := "ws_declined"
				h.deliver(trigger.Options{Type: typ, Workspace: ws, APIVersion: v}, billing.StatusProcessed)
				var pays []map[string]any
				h.get("/api/billing/workspaces/"+ws+"/payments", &pays)
				if len(pays) != 1 || pays[0]["status"] != "requires_payment_method" || pays[0]["error_message"] != "Your card was declined." {
					t.Errorf("payments = %v", pays)
				}
				if w := h.workspace(ws); w.Credits.Balance != 0 {
					t.Errorf("a failed payment granted credits: %+v", w.Credits)
				}
			})
		}
	})
}

func TestRefundTakesBackCredits(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_refund"
		h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: ws, APIVersion: v, Created: at(0)}, billing.StatusProcessed)
		h.deliver(trigger.Options{Type: "charge.refunded", Workspace: ws, APIVersion: v, Created: at(time.Hour)}, billing.StatusProcessed)
		if w := h.workspace(ws); w.Credits.Purchased != 250 {
			t.Errorf("after refunding half: %+v, want 250", w.Credits)
		}
		// The rest is refunded later; Stripe reports the cumulative amount.
		h.deliver(trigger.Options{Type: "charge.refunded", Workspace: ws, APIVersion: v, Created: at(2 * time.Hour),
			Set: map[string]any{"data.object.amount_refunded": 5000, "data.object.refunded": true}}, billing.StatusProcessed)
		if w := h.workspace(ws); w.Credits.Purchased != 0 {
			t.Errorf("after refunding all: %+v, want 0", w.Credits)
		}
		if l := h.ledger(ws); len(l) != 3 || l[0].Amount != -250 || l[1].Amount != -250 {
			t.Errorf("ledger = %+v", l)
		}
	})
}

func TestCustomerDeletedBeforeSubscriptionDeleted(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_gone"
		h.deliver(ev("customer.created", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("customer.subscription.created", ws, v, time.Second), billing.StatusProcessed)
		h.deliver(ev("customer.deleted", ws, v, 2*time.Second), billing.StatusProcessed)
		// Without metadata the subscription finds its workspace through the
		// deleted customer, which stays stored.
		h.deliver(ev("customer.subscription.deleted", ws, v, 2*time.Second,
			map[string]any{"data.object.metadata": map[string]any{}}), billing.StatusProcessed)
		if w := h.workspace(ws); w.Subscription == nil || w.Subscription.Status != "canceled" {
			t.Errorf("subscription = %+v", w.Subscription)
		}
		var deleted bool
		if err := h.sqlDB().QueryRow(`SELECT deleted FROM customers WHERE id = $1`, trigger.ID("cus_TestCustomer1", ws)).Scan(&deleted); err != nil || !deleted {
			t.Errorf("customer deleted = %v (%v)", deleted, err)
		}
	})
}

func TestUnhandledTypeIsStoredAndIgnored(t *testing.T) {
	h := setup(t)
	for _, typ := range []string{"invoice.upcoming"} {
		r := h.deliver(trigger.Options{Type: typ}, billing.StatusIgnored)
		e, code := h.event(r.Event)
		if code != http.StatusOK || e.Status != "ignored" || e.Type != typ {
			t.Errorf("stored event = %+v (%d)", e, code)
		}
	}
	for _, table := range []string{"subscriptions", "customers", "credit_ledger"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%s has %d rows after an ignored event", table, n)
		}
	}
}

// TestEveryHandledTypeInBothShapes sends each handled type of each version
// alone to a fresh database: each is accepted and answers processed.
func TestEveryHandledTypeInBothShapes(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		for i, typ := range billing.HandledEventTypes {
			ws := fmt.Sprintf("ws_%d", i)
			h.deliver(ev(typ, ws, v, 0), billing.StatusProcessed)
		}
		var n int
		if err := h.sqlDB().QueryRow(`SELECT COUNT(*) FROM events WHERE status = 'processed'`).Scan(&n); err != nil || n != len(billing.HandledEventTypes) {
			t.Errorf("processed events = %d (%v)", n, err)
		}
	})
}

// The event log lists the events received in one second in the order
// Stripe created them, newest first, whatever order they came in.
func TestEventsOfOneSecondInStripesOrder(t *testing.T) {
	h := setupAt(t, billingtest.NewClock(at(time.Hour)))
	// Ids that sort otherwise than the times: id order is no tiebreak.
	for i, e := range []struct {
		id string
		d  time.Duration
	}{{"evt_order_c", 2}, {"evt_order_b", 1}, {"evt_order_a", 3}} {
		o := ev("customer.created", fmt.Sprintf("ws_order%d", i), trigger.LatestAPIVersion, e.d*time.Second)
		o.EventID = e.id
		h.deliver(o, billing.StatusProcessed)
	}
	es, err := h.db.Events(t.Context(), billing.EventFilter{Type: "customer.created"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, " ") != "evt_order_a evt_order_c evt_order_b" {
		t.Errorf("events of one second: %v, want Stripe's order, newest first", ids)
	}
}
