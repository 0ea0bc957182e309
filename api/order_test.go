package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

func TestOutOfOrderSubscriptionEvents(t *testing.T) {
	type step struct {
		typ     string
		created time.Duration
		set     map[string]any
		want    billing.EventStatus
	}
	incomplete := map[string]any{"data.object.status": "incomplete"}
	tests := []struct {
		name       string
		steps      []step
		wantStatus string
		wantCancel bool
	}{
		{"updated before created makes one row; late created is stale", []step{
			{"customer.subscription.updated", 10 * time.Second, map[string]any{"data.object.cancel_at_period_end": true}, billing.StatusProcessed},
			{"customer.subscription.created", 0, incomplete, billing.StatusStale},
		}, "active", true},
		{"created in the same second as the update does not set it back", []step{
			{"customer.subscription.updated", 0, nil, billing.StatusProcessed},
			{"customer.subscription.created", 0, incomplete, billing.StatusStale},
		}, "active", false},
		{"two updates in the same second both apply", []step{
			{"customer.subscription.updated", 0, nil, billing.StatusProcessed},
			{"customer.subscription.updated", 0, map[string]any{"data.object.cancel_at_period_end": true}, billing.StatusProcessed},
		}, "active", true},
		{"an older update after a newer one is stale", []step{
			{"customer.subscription.updated", 20 * time.Second, map[string]any{"data.object.status": "past_due"}, billing.StatusProcessed},
			{"customer.subscription.updated", 10 * time.Second, map[string]any{"data.object.cancel_at_period_end": true}, billing.StatusStale},
		}, "past_due", false},
		{"an update in the same second as the deletion cannot revive it", []step{
			{"customer.subscription.deleted", 0, nil, billing.StatusProcessed},
			{"customer.subscription.updated", 0, nil, billing.StatusProcessed},
		}, "canceled", false},
		{"a failed renewal after a newer recovery is ignored", []step{
			{"customer.subscription.updated", 40 * 24 * time.Hour, nil, billing.StatusProcessed},
			// The invoice is new, so recorded; the subscription is not touched.
			{"invoice.payment_failed", 31 * 24 * time.Hour, nil, billing.StatusProcessed},
		}, "active", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachVersion(t, func(t *testing.T, v string) {
				h := setup(t)
				ws := "ws_order"
				for _, s := range tt.steps {
					h.deliver(ev(s.typ, ws, v, s.created, s.set), s.want)
				}
				w := h.workspace(ws)
				if w.Subscription == nil || w.Subscription.Status != tt.wantStatus || w.Subscription.CancelAtPeriodEnd != tt.wantCancel {
					t.Errorf("subscription = %+v, want %s cancel_at_period_end=%v", w.Subscription, tt.wantStatus, tt.wantCancel)
				}
				if n := h.count("subscriptions"); n != 1 {
					t.Errorf("%d subscription rows", n)
				}
			})
		})
	}
}

// A stale event still carries its grant: the payment happened.
func TestStaleEventStillGrantsOnce(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_stale"
		h.deliver(ev("customer.subscription.created", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("invoice.finalized", ws, v, time.Hour, map[string]any{"data.object.status": "paid"}), billing.StatusProcessed)
		h.deliver(ev("invoice.paid", ws, v, time.Minute), billing.StatusStale)
		h.deliver(ev("invoice.payment_succeeded", ws, v, time.Minute), billing.StatusStale)
		if w := h.workspace(ws); w.Credits.Subscription != 1000 {
			t.Errorf("credits = %+v, want 1000", w.Credits)
		}
	})
}

func TestUnlinkedObjectsAreAttachedWhenLinked(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_later"
		noMeta := map[string]any{"data.object.metadata": map[string]any{}}
		invoiceNoMeta := merge(noMeta, map[string]any{
			"data.object.subscription_details": nil, "data.object.parent.subscription_details.metadata": map[string]any{},
			"data.object.lines.data.0.metadata": map[string]any{},
		})
		h.deliver(ev("customer.subscription.created", ws, v, 0, noMeta), billing.StatusProcessed)
		h.deliver(ev("invoice.paid", ws, v, time.Second, invoiceNoMeta), billing.StatusProcessed)
		h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: ws, APIVersion: v, Created: at(time.Second),
			Set: map[string]any{"data.object.metadata.workspace_id": nil, "data.object.customer": trigger.ID("cus_TestCustomer1", ws)}}, billing.StatusProcessed)
		if !strings.Contains(h.logs.String(), "belongs to no workspace yet") {
			t.Error("no WARN log for the unlinked object")
		}
		if n := h.count("workspaces"); n != 0 {
			t.Fatalf("%d workspaces before any event named one", n)
		}
		if n := h.count("pending_grants"); n != 2 {
			t.Errorf("pending grants = %d, want 2 (first period, purchase)", n)
		}

		// Checkout completes last and names the workspace only by client_reference_id.
		h.deliver(ev("checkout.session.completed", ws, v, 2*time.Second,
			map[string]any{"data.object.metadata": map[string]any{}}), billing.StatusProcessed)
		w := h.workspace(ws)
		if w.Subscription == nil || *w.Subscription.Plan != "pro" || w.Subscription.Status != "active" {
			t.Errorf("subscription = %+v", w.Subscription)
		}
		if w.Credits.Subscription != 1000 || w.Credits.Purchased != 500 {
			t.Errorf("credits = %+v, want 1000 + 500", w.Credits)
		}
		var invs, pays []map[string]any
		h.get("/api/billing/workspaces/"+ws+"/invoices", &invs)
		h.get("/api/billing/workspaces/"+ws+"/payments", &pays)
		if len(invs) != 1 || len(pays) != 1 {
			t.Errorf("attached %d invoices, %d payments; want 1 and 1", len(invs), len(pays))
		}
		if n := h.count("pending_grants"); n != 0 {
			t.Errorf("%d grants still pending", n)
		}
		// Later events find the workspace through the linked customer.
		h.deliver(ev("invoice.payment_succeeded", ws, v, 3*time.Second, invoiceNoMeta), billing.StatusProcessed)
		if l := h.ledger(ws); len(l) != 2 {
			t.Errorf("ledger = %+v", l)
		}
	})
}
