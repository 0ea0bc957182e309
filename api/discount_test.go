package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

// customer.discount.* are mirrored on the subscription they apply to, or on
// the customer (the workspace's customer_discount), in either API shape;
// deleted removes it, and a late event changes nothing.
func TestDiscountEvents(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws := "ws_coupon"
		h.deliver(ev("checkout.session.completed", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("customer.subscription.created", ws, v, time.Second), billing.StatusProcessed)

		created := ev("customer.discount.created", ws, v, time.Hour)
		created.EventID = "evt_coupon_" + v
		h.deliver(created, billing.StatusProcessed)
		h.deliver(created, billing.StatusDuplicate)
		d := h.subscription(ws).Discount
		wantPercent := v != trigger.LatestAPIVersion // new versions name the coupon by id only
		if d == nil || str(d.Coupon) != "SUMMER25" || str(d.EndsAt) != "2026-04-01T00:00:00Z" ||
			(d.PercentOff != nil) != wantPercent || (wantPercent && *d.PercentOff != 25) {
			t.Errorf("the subscription's discount: %+v", d)
		}
		h.deliver(ev("customer.discount.deleted", ws, v, 2*time.Hour), billing.StatusProcessed)
		h.deliver(ev("customer.discount.updated", ws, v, 90*time.Minute), billing.StatusStale)
		if d := h.subscription(ws).Discount; d != nil {
			t.Errorf("after customer.discount.deleted: %+v, want none", d)
		}

		// A deletion of a discount another one has replaced leaves the new one.
		h.deliver(ev("customer.discount.created", ws, v, 150*time.Minute, map[string]any{"data.object.id": "di_Replacement"}), billing.StatusProcessed)
		h.deliver(ev("customer.discount.deleted", ws, v, 160*time.Minute), billing.StatusProcessed)
		if d := h.subscription(ws).Discount; d == nil {
			t.Error("deleting the replaced discount removed its replacement")
		}
		h.deliver(ev("customer.discount.deleted", ws, v, 170*time.Minute, map[string]any{"data.object.id": "di_Replacement"}), billing.StatusProcessed)

		// A customer's discount: no subscription named.
		h.deliver(ev("customer.discount.created", ws, v, 3*time.Hour, map[string]any{"data.object.subscription": nil}), billing.StatusProcessed)
		var w struct {
			CustomerDiscount *struct {
				Coupon *string `json:"coupon"`
			} `json:"customer_discount"`
		}
		if code := h.get("/api/billing/workspaces/"+ws, &w); code != http.StatusOK || w.CustomerDiscount == nil ||
			str(w.CustomerDiscount.Coupon) != "SUMMER25" {
			t.Errorf("the customer's discount: %d %+v", code, w.CustomerDiscount)
		}
		if d := h.subscription(ws).Discount; d != nil {
			t.Errorf("a customer's discount landed on the subscription: %+v", d)
		}
		h.deliver(ev("customer.discount.deleted", ws, v, 4*time.Hour, map[string]any{"data.object.subscription": nil}), billing.StatusProcessed)
		if h.get("/api/billing/workspaces/"+ws, &w); w.CustomerDiscount != nil {
			t.Errorf("after the customer's discount was deleted: %+v", w.CustomerDiscount)
		}

		// An older subscription event, without the discount, arriving after
		// it: applied, the newer discount aside.
		h.deliver(ev("customer.discount.created", ws, v, 5*time.Hour), billing.StatusProcessed)
		h.deliver(ev("customer.subscription.updated", ws, v, 4*time.Hour, map[string]any{"data.object.status": "past_due"}), billing.StatusProcessed)
		if s := h.subscription(ws); s.Status != "past_due" || s.Discount == nil || str(s.Discount.Coupon) != "SUMMER25" {
			t.Errorf("an older subscription event after the discount: status %s, discount %+v", s.Status, s.Discount)
		}
	})
}
