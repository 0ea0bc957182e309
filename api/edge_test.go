package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

func TestLedgerIsAppendOnly(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded"}, billing.StatusProcessed)
	db := h.sqlDB()
	for _, stmt := range []string{`UPDATE credit_ledger SET amount = 1000000`, `DELETE FROM credit_ledger`} {
		if _, err := db.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
		}
	}
}

func TestUnknownPriceGrantsNothing(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "customer.subscription.created", PriceID: "price_NotInAnyPlan"}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", PriceID: "price_NotInAnyPlan"}, billing.StatusProcessed)
	w := h.workspace("ws_1")
	if w.Subscription == nil || w.Subscription.Plan != nil || w.Credits.Balance != 0 {
		t.Errorf("workspace = %+v", w)
	}
	if !strings.Contains(h.logs.String(), "is in no plan") {
		t.Error("no WARN for the unknown price")
	}
}

func TestPlanChangeInvoiceGrantsNothing(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Hour), Set: map[string]any{
		"data.object.id": "in_Proration", "data.object.billing_reason": "subscription_update"}}, billing.StatusProcessed)
	if l := h.ledger("ws_1"); len(l) != 1 {
		t.Errorf("ledger = %+v, want only the first period", l)
	}
}

func TestRefundRedeliveredTakesBackOnce(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Created: at(0)}, billing.StatusProcessed)
	full := map[string]any{"data.object.amount_refunded": 5000, "data.object.refunded": true}
	h.deliver(trigger.Options{Type: "charge.refunded", Created: at(time.Hour), Set: full}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "charge.refunded", Created: at(time.Hour), Set: full}, billing.StatusProcessed)
	if w := h.workspace("ws_1"); w.Credits.Purchased != 0 {
		t.Errorf("credits = %+v, want 0", w.Credits)
	}
	if l := h.ledger("ws_1"); len(l) != 2 {
		t.Errorf("ledger = %+v, want the grant and one take-back", l)
	}
}

func TestRefundBeforePurchaseIsNettedOut(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		for _, purchase := range []trigger.Options{
			{Type: "payment_intent.succeeded"}, {Type: "checkout.session.completed", Variant: "payment"},
		} {
			t.Run(purchase.Type, func(t *testing.T) {
				h := setup(t)
				h.deliver(trigger.Options{Type: "charge.refunded", APIVersion: v, Created: at(time.Hour)}, billing.StatusProcessed)
				purchase.APIVersion, purchase.Created = v, at(0)
				h.deliver(purchase, billing.StatusProcessed)
				h.deliver(trigger.Options{Type: "payment_intent.succeeded", APIVersion: v, Created: at(0)}, billing.StatusProcessed)
				if w := h.workspace("ws_1"); w.Credits.Purchased != 250 {
					t.Errorf("credits = %+v, want 500 bought less 250 refunded", w.Credits)
				}
			})
		}
	})
}

func TestUndecodableEventFailsAndIsKept(t *testing.T) {
	h := setup(t)
	r := h.send(h.build(trigger.Options{Type: "invoice.paid", Set: map[string]any{"data.object.amount_due": "a lot"}}))
	if r.Code != http.StatusInternalServerError || r.Event == "" {
		t.Fatalf("got %+v, want 500", r)
	}
	e, _ := h.event(r.Event)
	if e.Status != "failed" || e.LastError == nil || !strings.Contains(*e.LastError, "decode invoice.paid") {
		t.Errorf("event = %+v", e)
	}
	for _, table := range []string{"invoices", "workspaces", "credit_ledger"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%s has %d rows", table, n)
		}
	}
}

func TestCustomerKeepsItsFirstWorkspace(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "customer.created", Workspace: "ws_a", Key: "shared"}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: "ws_b", Key: "shared"}, billing.StatusProcessed)
	if a := h.workspace("ws_a"); a.StripeCustomerID == nil || a.Credits.Purchased != 0 {
		t.Errorf("ws_a = %+v", a)
	}
	if b := h.workspace("ws_b"); b.StripeCustomerID != nil || b.Credits.Purchased != 500 {
		t.Errorf("ws_b = %+v: the payment names ws_b and goes there, the customer stays with ws_a", b)
	}
	if !strings.Contains(h.logs.String(), "linked to another workspace") {
		t.Error("no WARN")
	}
}

// An event id Stripe delivered once is answered as a duplicate whatever the
// body: the first applied payload stands. A body that really differs (not
// just pending_webhooks or request, which change between Stripe's retries)
// is logged at WARN, since it means a tool or a person reused an id.
func TestEventIDReusedWithADifferentBody(t *testing.T) {
	first := trigger.Options{Type: "payment_intent.succeeded", EventID: "evt_Reused", Created: at(0)}
	for _, tc := range []struct {
		name    string
		set     map[string]any
		version string
		warn    bool
	}{
		{"a Stripe retry", map[string]any{"pending_webhooks": 3, "request": map[string]any{"id": "req_Other"}}, "", false},
		{"rendered in another API version", nil, "2020-08-27", false},
		{"other credits", map[string]any{"data.object.metadata.credits": "99999"}, "", true},
		{"other type", map[string]any{"type": "payment_intent.payment_failed"}, "", true},
		{"a body that cannot be decoded", map[string]any{"data.object.amount": "a lot"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := setup(t)
			h.deliver(first, billing.StatusProcessed)
			stored := h.payload("evt_Reused")
			again := first
			again.Set, again.APIVersion = tc.set, tc.version
			h.deliver(again, billing.StatusDuplicate)
			if w := h.workspace("ws_1"); w.Credits.Purchased != 500 {
				t.Errorf("credits = %+v, want the first body's 500", w.Credits)
			}
			if e, _ := h.event("evt_Reused"); h.payload("evt_Reused") != stored || e.Type != "payment_intent.succeeded" {
				t.Errorf("stored event changed: %+v", e)
			}
			if got := strings.Contains(h.logs.String(), "event id reused with a different payload"); got != tc.warn {
				t.Errorf("WARN logged = %v, want %v", got, tc.warn)
			}
		})
	}
}

// A failed event retried with a corrected body is applied with, and keeps,
// the body that was applied.
func TestFailedEventRetriedWithAnotherBodyKeepsIt(t *testing.T) {
	h := setup(t)
	bad := trigger.Options{Type: "payment_intent.succeeded", EventID: "evt_Fixed", Set: map[string]any{"data.object.amount": "a lot"}}
	if r := h.send(h.build(bad)); r.Code != http.StatusInternalServerError {
		t.Fatalf("got %+v, want 500", r)
	}
	good := trigger.Options{Type: "payment_intent.succeeded", EventID: "evt_Fixed"}
	h.deliver(good, billing.StatusProcessed)
	e, _ := h.event("evt_Fixed")
	if p := h.payload("evt_Fixed"); e.Status != "processed" || e.Attempts != 2 || strings.Contains(p, "a lot") {
		t.Errorf("event = %+v %s", e, p)
	}
}
