package api_test

import (
	"cmp"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

// outbox returns the queued notifications, oldest first.
func (h *harness) outbox() []billing.Notification {
	h.t.Helper()
	ns, err := h.db.Notifications(context.Background(), false, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(ns)-1; i < j; i, j = i+1, j-1 {
		ns[i], ns[j] = ns[j], ns[i]
	}
	return ns
}

// Failed payments and ending trials queue an email in the event's own
// transaction: once, whatever the redeliveries, and not when a newer state
// makes it wrong.
func TestEventsQueueNotifications(t *testing.T) {
	const hosted = "https://invoice.stripe.com/i/acct_1TestAccount0001/"
	inAWhile := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	cases := []struct {
		name   string
		events []trigger.Options          // for workspace ws_n, delivered in order
		kind   string                     // "" when nothing is queued
		want   []string                   // in the subject or body
		status billing.NotificationStatus // default pending
	}{
		{"payment failed, Stripe will retry",
			[]trigger.Options{{Type: "invoice.payment_failed"}},
			billing.KindPaymentFailed, []string{"Payment of 29.00 USD failed (invoice 7C2B9E41-0002)", "We will try again on 4 February 2026", hosted}, ""},
		{"last attempt failed",
			[]trigger.Options{{Type: "invoice.payment_failed", Set: map[string]any{"data.object.next_payment_attempt": nil, "data.object.attempt_count": 4}}},
			billing.KindFinalPaymentFailed, []string{"Final notice: payment of 29.00 USD failed", "last automatic attempt", hosted}, ""},
		{"first invoice failed at checkout is not a final failure",
			[]trigger.Options{{Type: "invoice.payment_failed", Set: map[string]any{"data.object.next_payment_attempt": nil, "data.object.billing_reason": "subscription_create"}}},
			billing.KindPaymentFailed, []string{"Payment of 29.00 USD failed", hosted}, ""},
		{"a proration invoice that is not retried ends no subscription",
			[]trigger.Options{{Type: "invoice.payment_failed", Set: map[string]any{"data.object.next_payment_attempt": nil, "data.object.billing_reason": "subscription_update"}}},
			billing.KindPaymentFailed, []string{"Payment of 29.00 USD failed", hosted}, ""},
		{"paid before the email went out: it is not sent",
			[]trigger.Options{{Type: "invoice.payment_failed", Created: at(time.Second)}, {Type: "invoice.paid", Created: at(2 * time.Second)}},
			billing.KindPaymentFailed, nil, billing.NotifyDiscarded},
		{"an invoice the customer pays is never retried, so never final",
			[]trigger.Options{{Type: "invoice.payment_failed", Set: map[string]any{"data.object.next_payment_attempt": nil, "data.object.collection_method": "send_invoice"}}},
			billing.KindPaymentFailed, []string{"Payment of 29.00 USD failed", hosted}, ""},
		{"a late failure of an invoice since paid tells nothing",
			[]trigger.Options{{Type: "invoice.paid", Created: at(2 * time.Second)}, {Type: "invoice.payment_failed", Created: at(time.Second)}},
			"", nil, ""},
		{"a late failure of an invoice since voided tells nothing",
			[]trigger.Options{{Type: "invoice.finalized", Created: at(2 * time.Second), Set: map[string]any{"data.object.status": "void"}},
				{Type: "invoice.payment_failed", Created: at(time.Second)}},
			"", nil, ""},
		{"trial ends in three days",
			[]trigger.Options{{Type: "customer.subscription.trial_will_end", Set: map[string]any{"data.object.trial_end": inAWhile.Unix()}}},
			billing.KindTrialWillEnd, []string{"Your trial ends on " + inAWhile.UTC().Format("2 January 2006")}, ""},
		{"a trial already over gets no reminder",
			[]trigger.Options{{Type: "customer.subscription.trial_will_end"}},
			"", nil, ""},
		{"a trial set to cancel gets no reminder",
			[]trigger.Options{{Type: "customer.subscription.trial_will_end", Set: map[string]any{"data.object.trial_end": inAWhile.Unix(), "data.object.cancel_at_period_end": true}}},
			"", nil, ""},
		{"a late reminder of a trial since moved is not queued",
			[]trigger.Options{
				{Type: "customer.subscription.updated", Created: at(2 * time.Second), Set: map[string]any{"data.object.status": "trialing", "data.object.trial_end": inAWhile.Add(240 * time.Hour).Unix()}},
				{Type: "customer.subscription.trial_will_end", Created: at(time.Second), Set: map[string]any{"data.object.trial_end": inAWhile.Unix()}}},
			"", nil, ""},
		{"a late reminder of a trial since converted (active) is not queued",
			[]trigger.Options{
				{Type: "customer.subscription.updated", Created: at(2 * time.Second), Set: map[string]any{"data.object.status": "active", "data.object.trial_end": inAWhile.Unix()}},
				{Type: "customer.subscription.trial_will_end", Created: at(time.Second), Set: map[string]any{"data.object.trial_end": inAWhile.Unix()}}},
			"", nil, ""},
		{"a subscription deleted before its reminder went out: it is not sent",
			[]trigger.Options{
				{Type: "customer.subscription.trial_will_end", Created: at(time.Second), Set: map[string]any{"data.object.trial_end": inAWhile.Unix()}},
				{Type: "customer.subscription.deleted", Created: at(2 * time.Second)}},
			billing.KindTrialWillEnd, nil, billing.NotifyDiscarded},
	}
	forEachVersion(t, func(t *testing.T, v string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t)
				ws := "ws_n"
				if _, _, err := h.svc.CreateWorkspace(context.Background(), billing.Workspace{ID: ws, Name: "N", Email: "owner@n.test"}); err != nil {
					t.Fatal(err)
				}
				for _, o := range c.events {
					o.Workspace, o.APIVersion = ws, v
					o.Set = merge(legacy(v, o.Type), o.Set)
					payload := h.build(o)
					for range 2 { // Stripe's redelivery changes nothing
						if r := h.send(payload); r.Code != 200 {
							t.Fatalf("%s: %d %+v", o.Type, r.Code, r.Error)
						}
					}
				}
				got := h.outbox()
				if c.kind == "" {
					if len(got) != 0 {
						t.Fatalf("queued %+v, want nothing", got)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("queued %d notifications, want 1: %+v", len(got), got)
				}
				n, status := got[0], cmp.Or(c.status, billing.NotifyPending)
				if n.Kind != c.kind || n.Status != status || n.WorkspaceID != ws || n.Recipient != "owner@n.test" {
					t.Errorf("notification = %+v, want a %s %s to owner@n.test", n, status, c.kind)
				}
				for _, w := range c.want {
					if !strings.Contains(n.Subject+"\n"+n.Body, w) {
						t.Errorf("%q not in\n%s\n%s", w, n.Subject, n.Body)
					}
				}
			})
		}
	})
}

func TestFormatAmount(t *testing.T) {
	for _, c := range []struct {
		amount   int64
		currency string
		want     string
	}{{2900, "usd", "29.00 USD"}, {5, "eur", "0.05 EUR"}, {-1999, "gbp", "-19.99 GBP"}, {1200, "jpy", "1200 JPY"},
		{1000, "kwd", "1.000 KWD"}, {5, "bhd", "0.005 BHD"}, {0, "usd", "0.00 USD"}} {
		if got := billing.FormatAmount(c.amount, c.currency); got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
}
