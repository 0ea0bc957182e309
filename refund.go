package billing

import (
	"context"
	"time"
)

// MaxStripeAmount is the largest amount Stripe charges or refunds, in a
// currency's minor unit: twelve digits. A refund outside 0 to it is stored
// unapplied, so that no sum of refunds can overflow.
const MaxStripeAmount = 999_999_999_999

// Refund mirrors a Stripe refund (re_…) of a payment, as refund.created,
// refund.updated, refund.failed and charge.refund.updated tell it.
type Refund struct {
	ID              string
	PaymentIntentID string
	ChargeID        string
	Amount          int64
	Currency        string
	Status          string // pending, requires_action, succeeded, failed, canceled
	Reason          string
	CreatedAt       time.Time
	LastEventAt     time.Time
	Metadata        map[string]string // from the payload; not stored
}

// counted is the part of its payment a refund takes back: all of it while
// it may still go through or went through, nothing once failed or canceled.
func (r *Refund) counted() int64 {
	switch r.Status {
	case "pending", "requires_action", "succeeded":
		return r.Amount
	}
	return 0
}

// refundEvent records a refund and counts it into its payment's refunded
// amount: the payment's amount_refunded is the larger of what its charge
// reported and the sum of the refunds seen, so whichever of a refund's
// events and charge.refunded come first, in any order, takes the credits
// back once (keyed by the payment and the cumulative amount, as
// charge.refunded's are). A refund that fails lowers the amount, as Stripe
// lowers the charge's; once its credits were taken back, though, they stay
// so: an operator adjusts (WARN).
func (a *applier) refundEvent(ctx context.Context, r *Refund) (EventStatus, error) {
	cur, err := a.tx.Refund(ctx, r.ID)
	switch {
	case isNotFound(err):
		cur = &Refund{}
	case err != nil:
		return "", err
	}
	if a.stale(cur.LastEventAt) {
		return StatusStale, nil
	}
	if a.outOfRange("refund", r.ID, r.Amount) {
		return StatusIgnored, nil
	}
	id := coalesce(r.PaymentIntentID, r.ChargeID)
	p, err := a.paymentOf(ctx, &Payment{ID: id, Currency: r.Currency, Status: "succeeded", CreatedAt: r.CreatedAt})
	if err != nil || p == nil {
		return StatusIgnored, err
	}
	ws, err := a.resolve(ctx, []string{p.WorkspaceID, r.Metadata[MetadataWorkspaceID]}, p.CustomerID, "")
	if err != nil {
		return "", err
	}
	next := *r
	next.LastEventAt = a.e.Created
	if err := a.tx.SaveRefund(ctx, &next); err != nil {
		return "", err
	}
	if cur.counted() > 0 && next.counted() == 0 && p.CreditsRefunded > 0 {
		a.log.Warn("Refund "+r.Status+" after its credits were taken back; they stay taken back: adjust the workspace's credits by hand if it should have them",
			"refund", r.ID, "payment", id, "workspace", ws)
	}
	p.WorkspaceID = ws
	delta := next.counted() - cur.counted()
	p.RefundsTotal += delta
	// Stripe lowers a charge's amount_refunded when a refund fails.
	p.AmountRefunded = max(p.AmountRefunded+min(delta, 0), p.RefundsTotal)
	return StatusProcessed, a.refunded(ctx, p)
}
