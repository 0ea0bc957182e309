package billing

import (
	"context"
	"fmt"
	"time"
)

// Dispute mirrors a Stripe dispute (dp_…) of a payment: a chargeback or an
// inquiry, as charge.dispute.* tell it.
type Dispute struct {
	ID              string
	PaymentIntentID string
	ChargeID        string
	Amount          int64
	Currency        string
	// Status is Stripe's: warning_needs_response, warning_under_review,
	// warning_closed (inquiries), needs_response, under_review, won, lost,
	// prevented.
	Status        string
	Reason        string
	EvidenceDueBy time.Time
	CreatedAt     time.Time
	LastEventAt   time.Time
}

// Open reports whether a dispute waits for an answer or a decision.
func (d *Dispute) Open() bool {
	switch d.Status {
	case "warning_needs_response", "warning_under_review", "needs_response", "under_review":
		return true
	}
	return false
}

// closed reports whether Stripe decided a dispute: it never reopens.
func (d *Dispute) closed() bool {
	switch d.Status {
	case "won", "lost", "warning_closed", "prevented":
		return true
	}
	return false
}

// KindDisputeOpened is the operator's email when a dispute opens.
const KindDisputeOpened = "charge.dispute.created"

// dispute records a dispute on its payment. The first event of one that is
// open emails the operator (Service.OperatorEmail) with when evidence is
// due. Lost, it takes back what remains of a credit purchase's credits,
// once (never below zero; won or lost, nothing is given back).
func (a *applier) dispute(ctx context.Context, d *Dispute) (EventStatus, error) {
	if a.outOfRange("dispute", d.ID, d.Amount) {
		return StatusIgnored, nil
	}
	cur, err := a.tx.Dispute(ctx, d.ID)
	switch {
	case isNotFound(err):
		cur = nil
	case err != nil:
		return "", err
	}
	if cur != nil && a.stale(cur.LastEventAt) {
		return StatusStale, nil
	}
	id := coalesce(d.PaymentIntentID, d.ChargeID)
	p, err := a.paymentOf(ctx, &Payment{ID: id, Currency: d.Currency, Status: "succeeded", Amount: d.Amount, CreatedAt: d.CreatedAt})
	if err != nil || p == nil {
		return StatusIgnored, err
	}
	ws, err := a.resolve(ctx, []string{p.WorkspaceID}, p.CustomerID, "")
	if err != nil {
		return "", err
	}
	p.WorkspaceID = ws
	next := *d
	next.LastEventAt = a.e.Created
	if cur != nil && cur.closed() {
		next.Status = cur.Status
	}
	if err := a.tx.SaveDispute(ctx, &next); err != nil {
		return "", err
	}
	if cur == nil && next.Open() {
		a.log.Warn("Dispute opened: respond in the Stripe Dashboard before evidence is due", "dispute", d.ID,
			"payment", id, "workspace", ws, "amount", FormatAmount(d.Amount, d.Currency), "reason", d.Reason,
			"evidence_due_by", d.EvidenceDueBy)
		if err := a.notifyDisputeOpened(ctx, &next, ws); err != nil {
			return "", err
		}
	}
	if next.Status != "lost" || p.DisputeLost {
		return StatusProcessed, a.tx.SavePayment(ctx, p)
	}
	p.DisputeLost = true
	return StatusProcessed, a.refunded(ctx, p)
}

// notifyDisputeOpened queues the operator's email of a new dispute, when an
// operator address is configured.
func (a *applier) notifyDisputeOpened(ctx context.Context, d *Dispute, ws string) error {
	if a.OperatorEmail == "" {
		return nil
	}
	amount := FormatAmount(d.Amount, d.Currency)
	due := "no deadline given"
	if !d.EvidenceDueBy.IsZero() {
		due = "evidence due by " + d.EvidenceDueBy.UTC().Format("2 January 2006 15:04 MST")
	}
	return a.tx.AddNotification(ctx, &Notification{
		Key: joinKey(KindDisputeOpened, d.ID), To: a.OperatorEmail, WorkspaceID: ws, Kind: KindDisputeOpened,
		ObjectID: d.ID, CreatedAt: a.now(),
		Subject: fmt.Sprintf("Dispute of %s opened (%s)", amount, d.Reason),
		Body: fmt.Sprintf("A customer disputed a payment of %s (payment %s, workspace %s), reason %s: %s.\n\n"+
			"Respond in the Stripe Dashboard: https://dashboard.stripe.com/%sdisputes/%s\n",
			amount, coalesce(d.PaymentIntentID, d.ChargeID), coalesce(ws, "unknown"), d.Reason, due, testPath(a.e.Livemode), d.ID),
	})
}

// testPath is the Stripe Dashboard's prefix of test-mode pages.
func testPath(livemode bool) string {
	if livemode {
		return ""
	}
	return "test/"
}
