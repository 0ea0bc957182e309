package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

type invoiceView struct {
	ID             string `json:"stripe_invoice_id"`
	Status         string `json:"status"`
	RequiresAction bool   `json:"requires_action"`
}

// invoiceOf is one invoice of a workspace as the API lists it.
func (h *harness) invoiceOf(ws, id string) invoiceView {
	h.t.Helper()
	var all []invoiceView
	if code := h.get("/api/billing/workspaces/"+ws+"/invoices", &all); code != http.StatusOK {
		h.t.Fatalf("GET invoices of %s: %d", ws, code)
	}
	for _, inv := range all {
		if inv.ID == id {
			return inv
		}
	}
	h.t.Fatalf("invoice %s not listed for %s: %+v", id, ws, all)
	return invoiceView{}
}

// mails are the notifications of a workspace and kind, oldest first.
func (h *harness) mails(ws, kind string) []billing.Notification {
	h.t.Helper()
	var out []billing.Notification
	for _, n := range h.outbox() {
		if n.WorkspaceID == ws && n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// renewal is an event of a workspace's renewal invoice id, not its first.
func renewal(typ, ws, v, id string, d time.Duration) trigger.Options {
	return ev(typ, ws, v, d, map[string]any{"data.object.id": id, "data.object.billing_reason": "subscription_cycle"})
}

// paidUp makes a workspace's subscription active and its first period paid.
func paidUp(h *harness, ws, v string) {
	h.t.Helper()
	h.deliver(ev("checkout.session.completed", ws, v, 0), billing.StatusProcessed)
	h.deliver(ev("customer.subscription.created", ws, v, time.Second), billing.StatusProcessed)
	h.deliver(ev("invoice.paid", ws, v, 2*time.Second), billing.StatusProcessed)
}

// A payment waiting for 3-D Secure shows on the subscription and the
// invoice with the page to confirm it, emails that link once per invoice,
// and clears when the invoice is paid; a late one changes nothing.
func TestPaymentActionRequired(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		ws, inv := "ws_3ds", "in_3ds_"+strings.ReplaceAll(v, ".", "_")
		paidUp(h, ws, v)
		const hosted = "https://invoice.stripe.com/i/acct_1TestAccount0001/test_YWNjdF8xVGVzdEFjY291bnQwMDAxLF9UZXN0SW52b2ljZTEsMTU4MDAwMDAw0200TestInv1?s=ap"

		action := renewal("invoice.payment_action_required", ws, v, inv, 40*24*time.Hour)
		action.EventID = "evt_3ds_" + v
		h.deliver(action, billing.StatusProcessed)
		h.deliver(action, billing.StatusDuplicate)
		again := renewal("invoice.payment_action_required", ws, v, inv, 40*24*time.Hour+time.Minute)
		h.deliver(again, billing.StatusProcessed) // a second attempt asks again: still one email
		if s := h.subscription(ws); !s.RequiresAction || str(s.ActionURL) != hosted || s.Status != "active" {
			t.Errorf("subscription waiting for 3-D Secure: requires_action %v, action_url %s, status %s", s.RequiresAction, str(s.ActionURL), s.Status)
		}
		if i := h.invoiceOf(ws, inv); !i.RequiresAction || i.Status != "open" {
			t.Errorf("invoice waiting for 3-D Secure: %+v", i)
		}
		mails := h.mails(ws, billing.KindActionRequired)
		if len(mails) != 1 || !strings.HasPrefix(mails[0].Subject, "Confirm your payment of 29.00 USD") ||
			!strings.Contains(mails[0].Body, hosted) || mails[0].Status != billing.NotifyPending {
			t.Fatalf("emails asking to confirm: %+v, want one pending with the link", mails)
		}
		updates := h.feed(url.Values{"workspace": {ws}, "types": {billing.MsgSubscriptionUpdated}}).read()
		if len(updates) != 1 || string(updates[0].Previous) != `{"requires_action":false}` {
			t.Errorf("subscription.updated messages: %+v, want one with previous requires_action false", updates)
		}

		h.deliver(renewal("invoice.paid", ws, v, inv, 41*24*time.Hour), billing.StatusProcessed)
		if s := h.subscription(ws); s.RequiresAction || s.ActionURL != nil {
			t.Errorf("after the invoice was paid: requires_action %v, action_url %s", s.RequiresAction, str(s.ActionURL))
		}
		if i := h.invoiceOf(ws, inv); i.RequiresAction || i.Status != "paid" {
			t.Errorf("paid invoice: %+v", i)
		}
		if m := h.mails(ws, billing.KindActionRequired); len(m) != 1 || m[0].Status != billing.NotifyDiscarded {
			t.Errorf("the confirmation email once paid: %+v, want discarded", m)
		}

		// Voided while it waits: the subscription asks for nothing more.
		voided := inv + "_void"
		h.deliver(renewal("invoice.payment_action_required", ws, v, voided, 42*24*time.Hour), billing.StatusProcessed)
		if s := h.subscription(ws); !s.RequiresAction {
			t.Fatalf("a second invoice waiting for 3-D Secure: requires_action %v", s.RequiresAction)
		}
		h.deliver(renewal("invoice.voided", ws, v, voided, 43*24*time.Hour), billing.StatusProcessed)
		if s, m := h.subscription(ws), h.mails(ws, billing.KindActionRequired); s.RequiresAction || s.ActionURL != nil ||
			len(m) != 2 || m[1].Status != billing.NotifyDiscarded {
			t.Errorf("after the invoice was voided: requires_action %v, emails %+v; want none asked, its email discarded", s.RequiresAction, m)
		}

		// Paid first, the request for action late: nothing asked, nothing sent.
		ws2, inv2 := "ws_3ds_late", inv+"_late"
		paidUp(h, ws2, v)
		h.deliver(renewal("invoice.paid", ws2, v, inv2, 41*24*time.Hour), billing.StatusProcessed)
		h.deliver(renewal("invoice.payment_action_required", ws2, v, inv2, 40*24*time.Hour), billing.StatusStale)
		if s, m := h.subscription(ws2), h.mails(ws2, billing.KindActionRequired); s.RequiresAction || len(m) != 0 {
			t.Errorf("a late request for action: requires_action %v, emails %+v", s.RequiresAction, m)
		}
	})
}

// Voided and uncollectible invoices are recorded with Stripe's status and
// discard their pending failure emails; drafts and updates are recorded,
// in either order.
func TestInvoiceStatuses(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		for _, tt := range []struct{ typ, status string }{
			{"invoice.voided", "void"},
			{"invoice.marked_uncollectible", "uncollectible"},
		} {
			ws, inv := "ws_"+tt.status, "in_"+tt.status
			paidUp(h, ws, v)
			h.deliver(renewal("invoice.payment_failed", ws, v, inv, 31*24*time.Hour), billing.StatusProcessed)
			if m := h.mails(ws, billing.KindPaymentFailed); len(m) != 1 || m[0].Status != billing.NotifyPending {
				t.Fatalf("%s: failure emails %+v, want one pending", tt.typ, m)
			}
			end := renewal(tt.typ, ws, v, inv, 38*24*time.Hour)
			end.EventID = "evt_" + tt.status + "_" + v
			h.deliver(end, billing.StatusProcessed)
			h.deliver(end, billing.StatusDuplicate)
			h.deliver(renewal("invoice.payment_failed", ws, v, inv, 32*24*time.Hour), billing.StatusStale)
			if i := h.invoiceOf(ws, inv); i.Status != tt.status {
				t.Errorf("%s: invoice %+v, want %s", tt.typ, i, tt.status)
			}
			if m := h.mails(ws, billing.KindPaymentFailed); len(m) != 1 || m[0].Status != billing.NotifyDiscarded {
				t.Errorf("%s: failure emails %+v, want the one discarded", tt.typ, m)
			}
		}

		ws := "ws_draft"
		paidUp(h, ws, v)
		draft := renewal("invoice.created", ws, v, "in_draft", 30*24*time.Hour)
		draft.EventID = "evt_draft_" + v
		h.deliver(draft, billing.StatusProcessed)
		h.deliver(draft, billing.StatusDuplicate)
		if i := h.invoiceOf(ws, "in_draft"); i.Status != "draft" {
			t.Errorf("invoice.created: %+v, want draft", i)
		}
		h.deliver(renewal("invoice.updated", ws, v, "in_draft", 30*24*time.Hour+time.Hour), billing.StatusProcessed)
		if i := h.invoiceOf(ws, "in_draft"); i.Status != "open" {
			t.Errorf("invoice.updated: %+v, want open", i)
		}
		h.deliver(renewal("invoice.updated", ws, v, "in_early", 30*24*time.Hour+time.Hour), billing.StatusProcessed)
		h.deliver(renewal("invoice.created", ws, v, "in_early", 30*24*time.Hour), billing.StatusStale)
		if i := h.invoiceOf(ws, "in_early"); i.Status != "open" {
			t.Errorf("a late invoice.created: %+v, want open still", i)
		}
	})
}

// invoice_payment.paid links the payment intent to the invoice it paid,
// which payloads since 2025-03-31 no longer tell; the payment's own later
// events keep the link.
func TestInvoicePaymentLinksThePayment(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		pi, inv := trigger.ID("pi_TestSubInvoice1", "ws_ip"), trigger.ID("in_TestInvoice1", "ws_ip")
		paidUp(h, "ws_ip", v)
		o := ev("invoice_payment.paid", "ws_ip", v, 3*time.Second)
		o.EventID = "evt_invoice_payment_" + v
		h.deliver(o, billing.StatusProcessed)
		h.deliver(o, billing.StatusDuplicate)
		var pays []struct {
			ID     string `json:"stripe_payment_intent_id"`
			Status string `json:"status"`
			Amount int64  `json:"amount"`
		}
		h.get("/api/billing/workspaces/ws_ip/payments", &pays)
		var linked string
		if err := h.sqlDB().QueryRow(`SELECT invoice_id FROM payments WHERE id = $1`, pi).Scan(&linked); err != nil || linked != inv {
			t.Errorf("payment %s linked to %q (%v), want %s", pi, linked, err, inv)
		}
		if len(pays) != 1 || pays[0].ID != pi || pays[0].Amount != 2900 || pays[0].Status != "succeeded" {
			t.Errorf("the workspace's payments: %+v, want the invoice's payment intent", pays)
		}

		// Before its invoice: the link is kept for the payment's own events.
		pi2, inv2 := trigger.ID("pi_TestSubInvoice1", "ws_ip2"), trigger.ID("in_TestInvoice1", "ws_ip2")
		h.deliver(ev("invoice_payment.paid", "ws_ip2", v, 3*time.Second), billing.StatusProcessed)
		paidUp(h, "ws_ip2", v)
		h.deliver(ev("payment_intent.succeeded", "ws_ip2", v, 4*time.Second, map[string]any{"data.object.id": pi2}), billing.StatusProcessed)
		if err := h.sqlDB().QueryRow(`SELECT invoice_id FROM payments WHERE id = $1`, pi2).Scan(&linked); err != nil || linked != inv2 {
			t.Errorf("payment %s, its invoice_payment first, linked to %q (%v), want %s", pi2, linked, err, inv2)
		}
	})
}
