package webhook_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

func decode(t *testing.T, o trigger.Options) any {
	t.Helper()
	p, err := trigger.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &billing.Event{Type: o.Type, Payload: p}
	if err := webhook.Decode(e); err != nil {
		t.Fatal(err)
	}
	return e.Object
}

// shapes are the payload shapes each version's fields must be read from:
// as sent today (Stripe adds new fields to old versions too) and, for the
// old version, as sent before those additions.
var shapes = []struct {
	name, version string
	set           map[string]any
}{
	{"2026 shape", trigger.LatestAPIVersion, nil},
	{"2020 shape as sent today", "2020-08-27", nil},
	{"2020 shape as sent in 2020", "2020-08-27", map[string]any{
		"data.object.parent": nil, "data.object.subscription_details": nil,
		"data.object.lines.data.0.pricing": nil, "data.object.lines.data.0.parent": nil,
	}},
}

func TestDecodeInvoice(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			inv := decode(t, trigger.Options{Type: "invoice.paid", APIVersion: s.version, Set: s.set}).(*billing.Invoice)
			want := billing.Invoice{
				ID: "in_TestInvoice1", CustomerID: "cus_TestCustomer1", SubscriptionID: "sub_TestSub1", Status: "paid",
				BillingReason: "subscription_create", AmountDue: 2900, AmountPaid: 2900, Currency: "usd",
				LinePriceID: "price_TestPro", LinePeriodStart: time.Unix(1767225600, 0).UTC(), LinePeriodEnd: time.Unix(1769904000, 0).UTC(),
			}
			got := *inv
			if got.ID != trigger.ID(want.ID, "ws_1") || got.CustomerID != trigger.ID(want.CustomerID, "ws_1") ||
				got.SubscriptionID != trigger.ID(want.SubscriptionID, "ws_1") || got.Status != want.Status ||
				got.BillingReason != want.BillingReason || got.AmountDue != want.AmountDue || got.AmountPaid != want.AmountPaid ||
				got.Currency != want.Currency || got.LinePriceID != want.LinePriceID ||
				!got.LinePeriodStart.Equal(want.LinePeriodStart) || !got.LinePeriodEnd.Equal(want.LinePeriodEnd) {
				t.Errorf("decoded %+v", got)
			}
			if got.SubscriptionMetadata["workspace_id"] != "ws_1" || got.Number == "" || got.HostedInvoiceURL == "" || got.InvoicePDF == "" || got.PaidAt.IsZero() {
				t.Errorf("decoded %+v", got)
			}
		})
	}
}

func TestDecodeSubscription(t *testing.T) {
	for _, s := range []struct {
		name, version string
		set           map[string]any
	}{
		{"2026 shape: period on items", trigger.LatestAPIVersion, nil},
		{"2020 shape as sent today", "2020-08-27", nil},
		{"2020 shape: period only on the subscription", "2020-08-27", map[string]any{
			"data.object.items.data.0.current_period_start": nil, "data.object.items.data.0.current_period_end": nil}},
	} {
		t.Run(s.name, func(t *testing.T) {
			sub := decode(t, trigger.Options{Type: "customer.subscription.updated", APIVersion: s.version, Set: s.set}).(*billing.Subscription)
			want := billing.SubscriptionItem{ID: trigger.ID("si_TestItem1", "ws_1"), PriceID: "price_TestPro", Quantity: 1, Interval: "month", IntervalCount: 1}
			if sub.Status != "active" || len(sub.Items) != 1 || sub.Items[0] != want ||
				sub.CurrentPeriodStart.Unix() != 1767225600 || sub.CurrentPeriodEnd.Unix() != 1769904000 ||
				sub.Metadata["workspace_id"] != "ws_1" || sub.CustomerID != trigger.ID("cus_TestCustomer1", "ws_1") {
				t.Errorf("decoded %+v", sub)
			}
		})
	}
}

func TestDecodeOthers(t *testing.T) {
	for _, v := range trigger.APIVersions() {
		t.Run(v, func(t *testing.T) {
			cs := decode(t, trigger.Options{Type: "checkout.session.completed", Variant: "payment", APIVersion: v}).(*billing.CheckoutSession)
			if cs.Mode != "payment" || cs.PaymentStatus != "paid" || cs.PaymentIntentID != trigger.ID("pi_TestCredits1", "ws_1") ||
				cs.Metadata["credits"] != "500" || cs.ClientReferenceID != "ws_1" {
				t.Errorf("checkout = %+v", cs)
			}
			pi := decode(t, trigger.Options{Type: "payment_intent.payment_failed", APIVersion: v}).(*billing.Payment)
			if pi.Status != "requires_payment_method" || pi.ErrorMessage != "Your card was declined." || pi.Amount != 5000 {
				t.Errorf("payment intent = %+v", pi)
			}
			ch := decode(t, trigger.Options{Type: "charge.refunded", APIVersion: v}).(*billing.Charge)
			if ch.AmountRefunded != 2500 || ch.Amount != 5000 || ch.PaymentIntentID != trigger.ID("pi_TestCredits1", "ws_1") {
				t.Errorf("charge = %+v", ch)
			}
			c := decode(t, trigger.Options{Type: "customer.deleted", APIVersion: v}).(*billing.Customer)
			if c.ID != trigger.ID("cus_TestCustomer1", "ws_1") {
				t.Errorf("customer = %+v", c)
			}
			if obj := decode(t, trigger.Options{Type: "invoice.upcoming", APIVersion: v}); obj != nil {
				t.Errorf("unhandled type decoded to %T", obj)
			}
		})
	}
}

func TestDecodeRejectsWrongShapes(t *testing.T) {
	for _, p := range []string{
		`{"data":{"object":{"id":"in_1","amount_due":"a lot"}}}`,
		`{"data":{"object":[]}}`,
		`{"data":`,
	} {
		e := &billing.Event{Type: "invoice.paid", Payload: []byte(p)}
		if err := webhook.Decode(e); err == nil {
			t.Errorf("Decode(%s) = nil error", p)
		}
	}
}

// A proration invoice bills the new price and credits the old one, both
// ending with the period: the price read is the one billed, whichever line
// comes last, in either API version's shape.
func TestDecodeProrationInvoicePrice(t *testing.T) {
	for _, v := range trigger.APIVersions() {
		t.Run(v, func(t *testing.T) {
			p, err := trigger.Build(trigger.Options{Type: "invoice.paid", APIVersion: v, PriceID: "price_New"})
			if err != nil {
				t.Fatal(err)
			}
			var ev map[string]any
			if err := json.Unmarshal(p, &ev); err != nil {
				t.Fatal(err)
			}
			lines := ev["data"].(map[string]any)["object"].(map[string]any)["lines"].(map[string]any)
			billed := lines["data"].([]any)[0].(map[string]any)
			var credit map[string]any
			raw, _ := json.Marshal(billed)
			_ = json.Unmarshal(bytes.ReplaceAll(raw, []byte("price_New"), []byte("price_Old")), &credit)
			credit["amount"] = -1450
			lines["data"] = []any{billed, credit}
			p, _ = json.Marshal(ev)
			e := &billing.Event{Type: "invoice.paid", Payload: p}
			if err := webhook.Decode(e); err != nil {
				t.Fatal(err)
			}
			if inv := e.Object.(*billing.Invoice); inv.LinePriceID != "price_New" {
				t.Errorf("price = %q, want the billed price_New, not the credited price_Old", inv.LinePriceID)
			}
		})
	}
}
