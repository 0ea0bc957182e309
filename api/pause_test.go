package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
)

// A paused subscription is not entitled: Stripe's paused status (a trial
// that ended without a payment method), or a void pause_collection once the
// period paid runs out; a pause keeping invoices as drafts stays entitled.
// Resumed, it is entitled again; late and repeated events change nothing.
func TestSubscriptionPauses(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		clock := billingtest.NewClock(at(time.Hour)) // inside the fixtures' January period
		h := setupAt(t, clock)
		ws := "ws_pause"
		ent := func() entitlementView {
			t.Helper()
			var e entitlementView
			if code := h.get("/api/billing/workspaces/"+ws+"/entitlements", &e); code != http.StatusOK {
				t.Fatalf("GET entitlements: %d", code)
			}
			return e
		}
		h.deliver(ev("checkout.session.completed", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("customer.subscription.created", ws, v, time.Second), billing.StatusProcessed)

		resumes := at(40 * 24 * time.Hour)
		void := ev("customer.subscription.updated", ws, v, 2*time.Second, map[string]any{
			"data.object.pause_collection": map[string]any{"behavior": "void", "resumes_at": resumes.Unix()}})
		h.deliver(void, billing.StatusProcessed)
		s := h.subscription(ws)
		if p := s.PauseCollection; p == nil || p.Behavior != "void" || str(p.ResumesAt) != resumes.Format(time.RFC3339) ||
			str(p.StopsAt) != "2026-02-01T00:00:00Z" || s.Status != "active" || !s.Entitled {
			t.Fatalf("void pause in a paid period: %+v %+v", s, s.PauseCollection)
		}
		if e := ent(); !e.Entitled || e.Reason != billing.ReasonPausing || str(e.Until) != "2026-02-01T00:00:00Z" {
			t.Errorf("void pause in a paid period: %+v", e)
		}
		if last := lastEntitlementMessage(h, ws); !strings.Contains(last, `"reason":"pausing"`) {
			t.Errorf("the app was not told of the pause: last entitlements.changed %s", last)
		}
		// Stripe moves the period on (its invoice voided): the pause still
		// stops the service when the paid period ended.
		h.deliver(ev("customer.subscription.updated", ws, v, 3*time.Second, void.Set, map[string]any{
			"data.object.current_period_end": at(59 * 24 * time.Hour).Unix(), "data.object.items.data.0.current_period_end": at(59 * 24 * time.Hour).Unix(),
		}), billing.StatusProcessed)
		if p := h.subscription(ws).PauseCollection; p == nil || str(p.StopsAt) != "2026-02-01T00:00:00Z" {
			t.Errorf("a later period moved when the pause stops the service: %+v", p)
		}
		clock.Add(31 * 24 * time.Hour) // February 1st, 01:00
		if e := ent(); e.Entitled || e.Reason != billing.ReasonPaused || e.Until != nil || string(e.Features) != "{}" {
			t.Errorf("void pause after the paid period: %+v", e)
		}

		h.deliver(ev("customer.subscription.updated", ws, v, 4*time.Second, map[string]any{
			"data.object.pause_collection": map[string]any{"behavior": "keep_as_draft", "resumes_at": nil}}), billing.StatusProcessed)
		if e := ent(); !e.Entitled || e.Reason != billing.ReasonActive {
			t.Errorf("a pause keeping drafts: %+v", e)
		}
		if p := h.subscription(ws).PauseCollection; p == nil || p.Behavior != "keep_as_draft" || p.ResumesAt != nil || p.StopsAt != nil {
			t.Errorf("a pause keeping drafts shows %+v", p)
		}

		paused := ev("customer.subscription.paused", ws, v, 5*time.Second)
		paused.EventID = "evt_pause_" + v
		h.deliver(paused, billing.StatusProcessed)
		h.deliver(paused, billing.StatusDuplicate)
		if s := h.subscription(ws); s.Status != "paused" || s.Entitled || s.PauseCollection != nil {
			t.Errorf("after customer.subscription.paused: %+v", s)
		}
		if e := ent(); e.Entitled || e.Reason != billing.ReasonPaused {
			t.Errorf("paused: %+v", e)
		}
		if last := lastEntitlementMessage(h, ws); !strings.Contains(last, `"reason":"paused"`) {
			t.Errorf("the app was not told of the paused status: last entitlements.changed %s", last)
		}
		h.deliver(ev("customer.subscription.resumed", ws, v, 7*time.Second), billing.StatusProcessed)
		late := ev("customer.subscription.paused", ws, v, 6*time.Second)
		late.EventID = "evt_late_pause_" + v
		h.deliver(late, billing.StatusStale)
		if s := h.subscription(ws); s.Status != "active" || !s.Entitled {
			t.Errorf("after resumed and a late paused: %+v", s)
		}
		if e := ent(); !e.Entitled || e.Reason != billing.ReasonActive {
			t.Errorf("resumed: %+v", e)
		}

		// A pending update applied is the subscription as it is after it.
		applied := ev("customer.subscription.pending_update_applied", ws, v, 8*time.Second,
			map[string]any{"data.object.items.data.0.quantity": 3, "data.object.quantity": 3})
		applied.EventID = "evt_pending_applied_" + v
		h.deliver(applied, billing.StatusProcessed)
		h.deliver(applied, billing.StatusDuplicate)
		if s := h.subscription(ws); s.Quantity == nil || *s.Quantity != 3 {
			t.Errorf("pending update applied: quantity %v, want 3", s.Quantity)
		}
		h.deliver(ev("customer.subscription.pending_update_expired", ws, v, 9*time.Second), billing.StatusProcessed)
		h.deliver(ev("customer.subscription.pending_update_applied", ws, v, 7*time.Second,
			map[string]any{"data.object.items.data.0.quantity": 5, "data.object.quantity": 5}), billing.StatusStale)
		if s := h.subscription(ws); s.Quantity == nil || *s.Quantity != 1 {
			t.Errorf("pending update expired: quantity %v, want the subscription's 1", s.Quantity)
		}
	})
}

// lastEntitlementMessage is the data of the last entitlements.changed
// message of a workspace.
func lastEntitlementMessage(h *harness, ws string) string {
	h.t.Helper()
	msgs := h.feed(url.Values{"workspace": {ws}, "types": {billing.MsgEntitlementsChanged}}).read()
	if len(msgs) == 0 {
		return ""
	}
	return string(msgs[len(msgs)-1].Data)
}
