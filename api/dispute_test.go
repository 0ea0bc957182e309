package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

type disputeView struct {
	ID     string `json:"stripe_dispute_id"`
	Status string `json:"status"`
	Open   bool   `json:"open"`
}

func (h *harness) disputes(ws string) []disputeView {
	h.t.Helper()
	var out []disputeView
	h.get("/api/billing/workspaces/"+ws+"/disputes", &out)
	return out
}

// A dispute is recorded on its payment and emails the operator when it
// opens; lost, it takes back what remains of the purchase's credits, once
// and never below zero; won, it takes and gives back nothing.
func TestDisputes(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setupWith(t, func(s *billing.Service) { s.OperatorEmail = "ops@acme.example" })
		open := func() int64 {
			t.Helper()
			n, err := h.db.OpenDisputes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		// Bought 500, refunded half, spent 200: 50 left to take back.
		ws := "ws_lost"
		h.deliver(ev("payment_intent.succeeded", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("charge.refunded", ws, v, time.Hour), billing.StatusProcessed)
		h.mustConsume(ws, `{"amount":200,"idempotency_key":"job-1"}`, 200)
		created := ev("charge.dispute.created", ws, v, 20*24*time.Hour)
		created.EventID = "evt_dispute_open_" + v
		h.deliver(created, billing.StatusProcessed)
		h.deliver(created, billing.StatusDuplicate)
		h.deliver(ev("charge.dispute.funds_withdrawn", ws, v, 20*24*time.Hour+time.Second), billing.StatusProcessed)
		if d := h.disputes(ws); len(d) != 1 || d[0].Status != "needs_response" || !d[0].Open || open() != 1 {
			t.Errorf("an open dispute: %+v, %d open", d, open())
		}
		mails := h.mails(ws, billing.KindDisputeOpened)
		if len(mails) != 1 || mails[0].Recipient != "ops@acme.example" || mails[0].Subject != "Dispute of 50.00 USD opened (fraudulent)" ||
			!strings.Contains(mails[0].Body, "dashboard.stripe.com/test/disputes/dp_T") {
			t.Fatalf("operator emails: %+v, want one to ops@acme.example", mails)
		}
		if c := h.workspace(ws).Credits.Purchased; c != 50 {
			t.Errorf("an open dispute took credits: %d purchased, want 50", c)
		}
		closed := ev("charge.dispute.closed", ws, v, 50*24*time.Hour)
		closed.EventID = "evt_dispute_lost_" + v
		h.deliver(closed, billing.StatusProcessed)
		if _, err := h.svc.Replay(t.Context(), closed.EventID); err != nil {
			t.Fatal(err)
		}
		h.deliver(ev("charge.dispute.updated", ws, v, 21*24*time.Hour), billing.StatusStale)
		h.deliver(ev("charge.refunded", ws, v, 51*24*time.Hour, map[string]any{"data.object.amount_refunded": 5000}), billing.StatusProcessed)
		var taken []ledgerView
		for _, e := range h.ledger(ws) {
			if strings.HasPrefix(e.IdempotencyKey, "dispute:") {
				taken = append(taken, e)
			}
		}
		if c := h.workspace(ws).Credits.Purchased; c != 0 || len(taken) != 1 || taken[0].Amount != -50 {
			t.Errorf("after the lost dispute (replayed, then a full refund): %d purchased, dispute entries %+v; want 0 and one of -50", c, taken)
		}
		if d := h.disputes(ws); len(d) != 1 || d[0].Status != "lost" || d[0].Open || open() != 0 {
			t.Errorf("a lost dispute: %+v, %d open", d, open())
		}

		// Won: nothing taken, nothing given back.
		ws = "ws_won"
		h.deliver(ev("payment_intent.succeeded", ws, v, 0), billing.StatusProcessed)
		h.deliver(ev("charge.dispute.created", ws, v, 20*24*time.Hour), billing.StatusProcessed)
		h.deliver(ev("charge.dispute.closed", ws, v, 50*24*time.Hour, map[string]any{"data.object.status": "won"}), billing.StatusProcessed)
		h.deliver(ev("charge.dispute.funds_reinstated", ws, v, 50*24*time.Hour+time.Second), billing.StatusProcessed)
		if c, d := h.workspace(ws).Credits.Purchased, h.disputes(ws); c != 500 || len(d) != 1 || d[0].Status != "won" {
			t.Errorf("a won dispute: %d purchased, %+v", c, d)
		}

		// Lost before the purchase was seen: the grant takes it all back.
		ws = "ws_late"
		h.deliver(ev("charge.dispute.closed", ws, v, 50*24*time.Hour), billing.StatusProcessed)
		h.deliver(ev("payment_intent.succeeded", ws, v, 0), billing.StatusProcessed)
		if c := h.workspace(ws).Credits.Purchased; c != 0 {
			t.Errorf("a purchase whose dispute was lost first: %d purchased, want 0", c)
		}
		if n := len(h.mails(ws, billing.KindDisputeOpened)); n != 0 {
			t.Errorf("a dispute first seen closed emailed the operator %d times", n)
		}
	})
}

// Without BILLING_OPERATOR_EMAIL a dispute is recorded and logged, and no
// email is queued.
func TestDisputeWithoutOperatorEmail(t *testing.T) {
	h := setup(t)
	h.deliver(ev("payment_intent.succeeded", "ws_d", trigger.LatestAPIVersion, 0), billing.StatusProcessed)
	h.deliver(ev("charge.dispute.created", "ws_d", trigger.LatestAPIVersion, time.Hour), billing.StatusProcessed)
	if n := len(h.outbox()); n != 0 || len(h.disputes("ws_d")) != 1 {
		t.Errorf("%d emails queued, disputes %+v", n, h.disputes("ws_d"))
	}
	if !strings.Contains(h.logs.String(), `"msg":"Dispute opened: respond in the Stripe Dashboard before evidence is due"`) {
		t.Errorf("the dispute was not logged:\n%s", h.logs)
	}
}
