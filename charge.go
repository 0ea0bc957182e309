package billing

import (
	"context"
	"fmt"
	"time"
)

// Charge is the part of a Stripe charge that refunds need.
type Charge struct {
	ID              string
	PaymentIntentID string
	CustomerID      string
	Amount          int64
	AmountRefunded  int64 // cumulative, as Stripe reports it
	Currency        string
	Status          string // succeeded, pending, failed
	Captured        bool
	Created         time.Time
	Metadata        map[string]string
}

// paymentStatus is what a refunded charge proves of its payment intent, in
// the intent's words, for a refund that arrives before the intent's own
// events: a captured, succeeded charge was a succeeded payment; refunding
// an uncaptured one releases it, which cancels the intent; a pending
// charge's intent is processing.
func (ch *Charge) paymentStatus() string {
	switch {
	case !ch.Captured:
		return "canceled"
	case ch.Status == "succeeded":
		return "succeeded"
	case ch.Status == "pending":
		return "processing"
	}
	return "requires_payment_method" // a failed charge
}

// refund applies charge.refunded: a refunded credits purchase gives back the
// refunded share of its credits (rounded down), in as many steps as Stripe
// refunds it, never more than the purchased credits left.
func (a *applier) refund(ctx context.Context, ch *Charge) (EventStatus, error) {
	id := coalesce(ch.PaymentIntentID, ch.ID)
	p, err := a.tx.Payment(ctx, id)
	switch {
	case isNotFound(err):
		p = &Payment{ID: id, CustomerID: ch.CustomerID, Amount: ch.Amount, Currency: ch.Currency,
			Status: ch.paymentStatus(), CreatedAt: ch.Created}
		if p.CreatedAt.IsZero() {
			p.CreatedAt = a.e.Created
		}
	case err != nil:
		return "", err
	}
	ws, err := a.resolve(ctx, []string{p.WorkspaceID, ch.Metadata[MetadataWorkspaceID]}, coalesce(p.CustomerID, ch.CustomerID), "")
	if err != nil {
		return "", err
	}
	p.WorkspaceID = ws
	if p.Purpose == "" && ch.Metadata["purpose"] == PurposeCredits {
		p.Purpose = PurposeCredits
		p.Credits = a.metadataCredits(ch.Metadata, "charge", ch.ID)
	}
	p.Amount = coalesceInt(p.Amount, ch.Amount)
	p.AmountRefunded = max(p.AmountRefunded, ch.AmountRefunded)
	return StatusProcessed, a.refunded(ctx, p)
}

// refunded saves a payment whose refunded amount a refund's event moved,
// and takes back what it owes of a purchase already granted; a refund
// reported before its purchase is taken back by the grant.
func (a *applier) refunded(ctx context.Context, p *Payment) error {
	granted, err := a.tx.HasLedgerKey(ctx, purchaseKey(p.ID))
	switch {
	case err != nil:
		return err
	case granted:
		return a.takeBackRefund(ctx, p)
	}
	return a.tx.SavePayment(ctx, p)
}

// takeBackRefund takes back the refunded share of a credits purchase not
// taken back yet, and saves the payment.
func (a *applier) takeBackRefund(ctx context.Context, p *Payment) error {
	delta := refundShare(p) - p.CreditsRefunded
	if p.Purpose != PurposeCredits || delta <= 0 {
		return a.tx.SavePayment(ctx, p)
	}
	key, reason := refundKey(p.ID, p.AmountRefunded), fmt.Sprintf("refund of %d %s: %d credits taken back", p.AmountRefunded, p.Currency, delta)
	if p.DisputeLost {
		key, reason = disputeKey(p.ID), fmt.Sprintf("dispute lost: %d credits taken back", delta)
	}
	err := a.grant(ctx, &Grant{
		Key: key, Kind: GrantAdd, Bucket: BucketPurchased, Amount: -delta,
		WorkspaceID: p.WorkspaceID, CustomerID: p.CustomerID, Reason: reason,
	})
	if err != nil {
		return err
	}
	p.CreditsRefunded += delta
	return a.tx.SavePayment(ctx, p)
}

func coalesceInt(v ...int64) int64 {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}
