package api_test

import (
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

// Stored state says what the payload proves, never less: each case is an
// event whose payload leaves a field to be inferred.

// A refund of a payment intent not seen yet records the payment as its
// charge shows it: succeeded when the charge was captured and succeeded,
// canceled when refunding released an uncaptured one, created when the
// charge was (not when it was refunded).
func TestRefundBeforeItsPaymentRecordsTheCharge(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		for _, tt := range []struct {
			name   string
			set    map[string]any
			status string
		}{
			{"captured", nil, "succeeded"},
			{"uncaptured", map[string]any{"data.object.captured": false, "data.object.amount_captured": 0}, "canceled"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := setup(t)
				h.deliver(ev("charge.refunded", "ws_1", v, 30*24*time.Hour, tt.set), billing.StatusProcessed)
				p := h.payments("ws_1")
				// The fixture's charge was created 2026-01-08T00:00:55Z.
				if len(p) != 1 || p[0]["status"] != tt.status || p[0]["created_at"] != "2026-01-08T00:00:55Z" {
					t.Errorf("payment = %v, want status %q created 2026-01-08T00:00:55Z", p, tt.status)
				}
			})
		}
	})
}

// A deleted subscription is canceled and ended, whatever status its
// payload carries (older API versions and fixtures say active): ended_at
// from the payload, else canceled_at, else the event's time.
func TestDeletedSubscriptionIsCanceled(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		for _, tt := range []struct {
			name  string
			set   map[string]any
			ended time.Time
		}{
			{"ended_at", map[string]any{"data.object.status": "active"}, time.Unix(1770681600, 0)},
			{"canceled_at only", map[string]any{"data.object.status": "active", "data.object.ended_at": nil,
				"data.object.canceled_at": 1770000000}, time.Unix(1770000000, 0)},
			{"neither", map[string]any{"data.object.status": "past_due", "data.object.ended_at": nil,
				"data.object.canceled_at": nil}, at(40 * 24 * time.Hour)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := setup(t)
				h.deliver(ev("customer.subscription.created", "ws_1", v, 0), billing.StatusProcessed)
				h.deliver(ev("customer.subscription.deleted", "ws_1", v, 40*24*time.Hour, tt.set), billing.StatusProcessed)
				if w := h.workspace("ws_1"); w.Subscription == nil || w.Subscription.Status != billing.SubCanceled {
					t.Errorf("subscription = %+v, want canceled", w.Subscription)
				}
				var ended int64
				if err := h.sqlDB().QueryRow(`SELECT ended_at FROM subscriptions`).Scan(&ended); err != nil || ended != tt.ended.Unix() {
					t.Errorf("ended_at = %d (%v), want %d", ended, err, tt.ended.Unix())
				}
			})
		}
	})
}

// A subscription known only from another object's event never shows an
// empty status: a paid invoice proves it active, and one that nothing has
// told the status of (an unpaid checkout) is not shown yet.
func TestSubscriptionKnownOnlyFromOtherObjects(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		t.Run("renewal paid first", func(t *testing.T) {
			h := setup(t)
			h.deliver(ev("invoice.paid", "ws_1", v, 0, map[string]any{"data.object.billing_reason": "subscription_cycle"}), billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Subscription == nil || w.Subscription.Status != billing.SubActive {
				t.Errorf("subscription = %+v, want active", w.Subscription)
			}
			// The subscription's own event, even an older one, knows better.
			h.deliver(ev("customer.subscription.updated", "ws_1", v, -time.Hour, map[string]any{"data.object.status": "past_due"}), billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Subscription == nil || w.Subscription.Status != billing.SubPastDue {
				t.Errorf("subscription = %+v, want past_due", w.Subscription)
			}
		})
		t.Run("unpaid checkout", func(t *testing.T) {
			h := setup(t)
			h.deliver(ev("checkout.session.completed", "ws_1", v, 0, map[string]any{"data.object.payment_status": "unpaid"}), billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Subscription != nil {
				t.Errorf("subscription = %+v, want none until its status is known", w.Subscription)
			}
			h.deliver(trigger.Options{Type: "customer.subscription.created", APIVersion: v, Created: at(time.Second),
				Set: merge(legacy(v, "customer.subscription.created"), map[string]any{"data.object.status": "incomplete"})}, billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Subscription == nil || w.Subscription.Status != billing.SubIncomplete {
				t.Errorf("subscription = %+v, want incomplete", w.Subscription)
			}
		})
	})
}
