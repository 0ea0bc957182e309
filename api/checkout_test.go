package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

type checkoutSessionView struct {
	ID              string  `json:"stripe_checkout_session_id"`
	Mode            string  `json:"mode"`
	Status          string  `json:"status"`
	PaymentStatus   string  `json:"payment_status"`
	AmountTotal     int64   `json:"amount_total"`
	Purpose         *string `json:"purpose"`
	PaymentFailedAt *string `json:"payment_failed_at"`
}

func (h *harness) checkoutSessions(ws string) []checkoutSessionView {
	h.t.Helper()
	var out []checkoutSessionView
	if code := h.get("/api/billing/workspaces/"+ws+"/checkout-sessions", &out); code != http.StatusOK {
		h.t.Fatalf("GET checkout sessions of %s: %d", ws, code)
	}
	return out
}

// unpaid is a checkout completed by a delayed payment method (a bank
// debit): complete, its money still on its way.
var unpaid = map[string]any{"data.object.payment_status": "unpaid"}

// A bank-debit checkout grants, and activates, only when its payment
// succeeds, once, in any order of its events; a failed one grants nothing,
// is recorded and queues one email; an expired one grants nothing.
func TestCheckoutWithDelayedPayment(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		credits := func(ws string) int64 { t.Helper(); return h.workspace(ws).Credits.Purchased }
		payment := func(typ, ws string, d time.Duration, set ...map[string]any) trigger.Options {
			o := ev(typ, ws, v, d, set...)
			o.Variant, o.EventID = "payment", "evt_"+strings.ReplaceAll(typ, ".", "_")+"_"+ws
			return o
		}

		// Completed unpaid, then paid: granted once, at the payment.
		h.deliver(payment("checkout.session.completed", "ws_debit", 0, unpaid), billing.StatusProcessed)
		if c := credits("ws_debit"); c != 0 {
			t.Errorf("an unpaid checkout granted %d credits", c)
		}
		if cs := h.checkoutSessions("ws_debit"); len(cs) != 1 || cs[0].Status != "complete" || cs[0].PaymentStatus != "unpaid" ||
			str(cs[0].Purpose) != "credits" || cs[0].Mode != "payment" || cs[0].AmountTotal != 5000 {
			t.Errorf("completed, awaiting the debit: %+v", cs)
		}
		ok := payment("checkout.session.async_payment_succeeded", "ws_debit", 72*time.Hour)
		h.deliver(ok, billing.StatusProcessed)
		h.deliver(ok, billing.StatusDuplicate)
		if _, err := h.svc.Replay(t.Context(), ok.EventID); err != nil {
			t.Fatal(err)
		}
		if c := credits("ws_debit"); c != 500 {
			t.Errorf("after the debit succeeded (delivered twice, replayed): %d purchased credits, want 500", c)
		}
		if cs := h.checkoutSessions("ws_debit"); len(cs) != 1 || cs[0].PaymentStatus != "paid" || cs[0].PaymentFailedAt != nil {
			t.Errorf("paid: %+v", cs)
		}

		// The same in reverse: the late completion is stale and takes nothing.
		h.deliver(payment("checkout.session.async_payment_succeeded", "ws_reverse", 72*time.Hour), billing.StatusProcessed)
		h.deliver(payment("checkout.session.completed", "ws_reverse", 0, unpaid), billing.StatusStale)
		if c, cs := credits("ws_reverse"), h.checkoutSessions("ws_reverse"); c != 500 || len(cs) != 1 || cs[0].PaymentStatus != "paid" {
			t.Errorf("succeeded before its completion: %d credits, sessions %+v", c, cs)
		}

		// Failed: nothing granted, the failure recorded, one email.
		h.deliver(payment("checkout.session.completed", "ws_bounced", 0, unpaid), billing.StatusProcessed)
		failed := payment("checkout.session.async_payment_failed", "ws_bounced", 72*time.Hour)
		h.deliver(failed, billing.StatusProcessed)
		h.deliver(failed, billing.StatusDuplicate)
		if _, err := h.svc.Replay(t.Context(), failed.EventID); err != nil {
			t.Fatal(err)
		}
		if c := credits("ws_bounced"); c != 0 {
			t.Errorf("a failed debit granted %d credits", c)
		}
		if cs := h.checkoutSessions("ws_bounced"); len(cs) != 1 || cs[0].PaymentStatus != "unpaid" ||
			str(cs[0].PaymentFailedAt) != at(72*time.Hour).Format(time.RFC3339) {
			t.Errorf("failed: %+v", cs)
		}
		var mails []billing.Notification
		for _, n := range h.outbox() {
			if n.WorkspaceID == "ws_bounced" {
				mails = append(mails, n)
			}
		}
		if len(mails) != 1 || mails[0].Kind != billing.KindCheckoutFailed || mails[0].Subject != "Payment of 50.00 USD failed" {
			t.Errorf("emails for the failed debit: %+v, want one", mails)
		}

		// Expired: recorded, nothing granted.
		expired := payment("checkout.session.expired", "ws_gone", 24*time.Hour)
		h.deliver(expired, billing.StatusProcessed)
		h.deliver(expired, billing.StatusDuplicate)
		if c, cs := credits("ws_gone"), h.checkoutSessions("ws_gone"); c != 0 || len(cs) != 1 || cs[0].Status != "expired" {
			t.Errorf("expired: %d credits, sessions %+v", c, cs)
		}

		// A subscription by bank debit: active and paid only once the debit is.
		ws := "ws_sepa"
		h.deliver(ev("customer.subscription.created", ws, v, 0, map[string]any{"data.object.status": "incomplete"}), billing.StatusProcessed)
		h.deliver(ev("checkout.session.completed", ws, v, time.Second, unpaid), billing.StatusProcessed)
		if w := h.workspace(ws); w.Subscription == nil || w.Subscription.Status != "incomplete" || w.Credits.Subscription != 0 {
			t.Errorf("a subscription checkout awaiting its debit: %+v, credits %+v", w.Subscription, w.Credits)
		}
		h.deliver(ev("checkout.session.async_payment_succeeded", ws, v, 72*time.Hour), billing.StatusProcessed)
		if w := h.workspace(ws); w.Subscription == nil || w.Subscription.Status != "active" || w.Credits.Subscription != 1000 {
			t.Errorf("after its debit succeeded: %+v, credits %+v", w.Subscription, w.Credits)
		}
	})
}
