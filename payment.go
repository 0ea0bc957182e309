package billing

import (
	"context"
	"fmt"
	"math/bits"
	"time"
)

// PurposeCredits marks a payment that buys credits (metadata.purpose).
const PurposeCredits = "credits"

// Payment mirrors a Stripe payment intent.
type Payment struct {
	ID              string // pi_…
	CustomerID      string
	WorkspaceID     string
	InvoiceID       string
	Status          string // Stripe's value: succeeded, requires_payment_method, …
	Amount          int64
	AmountRefunded  int64
	Currency        string
	Purpose         string
	Credits         int64 // credits this payment buys
	CreditsRefunded int64 // credits already taken back for refunds
	// RefundsTotal is the sum of its refunds seen (Refund.counted).
	RefundsTotal int64
	// DisputeLost: a dispute of it was lost, so its purchase's credits
	// are all taken back.
	DisputeLost  bool
	ErrorMessage string
	CreatedAt    time.Time
	LastEventAt  time.Time
	Metadata     map[string]string // from the payload; not stored
}

// payment applies payment_intent.* events; a succeeded credits purchase
// grants its credits.
func (a *applier) payment(ctx context.Context, p *Payment) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{p.Metadata[MetadataWorkspaceID]}, p.CustomerID, "")
	if err != nil {
		return "", err
	}
	if p.Metadata["purpose"] == PurposeCredits {
		p.Purpose = PurposeCredits
		if a.e.Type == "payment_intent.succeeded" {
			p.Credits = a.metadataCredits(p.Metadata, "payment_intent", p.ID)
		} else {
			p.Credits, _ = parseCredits(p.Metadata["credits"]) // nothing to grant yet: no WARN
		}
	}
	cur, err := a.tx.Payment(ctx, p.ID)
	switch {
	case isNotFound(err):
		cur = &Payment{}
	case err != nil:
		return "", err
	}
	row, stale := cur, a.stale(cur.LastEventAt)
	if !stale {
		next := *p
		next.WorkspaceID = coalesce(cur.WorkspaceID, ws)
		next.AmountRefunded, next.CreditsRefunded = max(cur.AmountRefunded, p.AmountRefunded), cur.CreditsRefunded
		next.RefundsTotal, next.DisputeLost = cur.RefundsTotal, cur.DisputeLost
		next.InvoiceID = coalesce(p.InvoiceID, cur.InvoiceID) // since 2025-03-31 only invoice_payment.paid tells it
		next.LastEventAt = a.e.Created
		if cur.Status == "succeeded" || cur.Status == "canceled" {
			next.Status, next.ErrorMessage = cur.Status, cur.ErrorMessage // final in Stripe
		}
		if err := a.tx.SavePayment(ctx, &next); err != nil {
			return "", err
		}
		row = &next
		if a.e.ID != "" && (a.e.Type == "payment_intent.payment_failed" || a.e.Type == aliasPaymentIntentFailed) &&
			next.Status != "succeeded" && next.Status != "canceled" {
			// Each failed attempt is its own event: a replay of it says nothing new.
			a.ask(MsgPaymentFailed, joinKey(MsgPaymentFailed, p.ID, a.e.ID), p.ID)
		}
	}
	if a.e.Type == "payment_intent.succeeded" && p.Purpose == PurposeCredits && p.Credits > 0 {
		row.Purpose, row.Credits = PurposeCredits, p.Credits
		row.WorkspaceID = coalesce(row.WorkspaceID, ws)
		return outcome(stale), a.grantPurchase(ctx, row, purchaseKey(p.ID))
	}
	return outcome(stale), nil
}

// grantPurchase grants what a credits purchase bought and, when Stripe
// reported a refund of it first, takes the refunded share back as the
// refund's own event would have.
func (a *applier) grantPurchase(ctx context.Context, p *Payment, key string) error {
	if done, err := a.tx.HasLedgerKey(ctx, key); err != nil || done {
		return err
	}
	err := a.grant(ctx, &Grant{
		Key: key, Kind: GrantAdd, Bucket: BucketPurchased, Amount: p.Credits,
		WorkspaceID: p.WorkspaceID, CustomerID: p.CustomerID,
		Reason: fmt.Sprintf("purchased %d credits", p.Credits),
	})
	if err != nil {
		return err
	}
	return a.takeBackRefund(ctx, p)
}

// refundShare is the part of a purchase's credits its refunds pay back,
// rounded down. Credits times an amount can pass 64 bits (10^9 credits for
// a 12-digit amount), so the product is taken in 128.
func refundShare(p *Payment) int64 {
	switch {
	case p.Credits <= 0:
		return 0
	case p.DisputeLost:
		return p.Credits
	case p.Amount <= 0 || p.AmountRefunded <= 0:
		return 0
	case p.AmountRefunded >= p.Amount:
		return p.Credits
	}
	// AmountRefunded < Amount keeps the quotient below Credits, so Div64
	// cannot overflow.
	hi, lo := bits.Mul64(uint64(p.Credits), uint64(p.AmountRefunded))
	q, _ := bits.Div64(hi, lo, uint64(p.Amount))
	return int64(q)
}

// InvoicePayment links a payment to the invoice it paid
// (invoice_payment.paid): since API version 2025-03-31 the invoice no
// longer names its payment intent.
type InvoicePayment struct {
	ID              string
	InvoiceID       string
	PaymentIntentID string // "" for a charge or a payment record
	AmountPaid      int64
	Currency        string
	Status          string // open, paid, canceled
	PaidAt          time.Time
}

// invoicePayment records which invoice a payment intent paid, and gives
// the payment its invoice's workspace and customer when it has none.
func (a *applier) invoicePayment(ctx context.Context, ip *InvoicePayment) (EventStatus, error) {
	if ip.PaymentIntentID == "" || ip.InvoiceID == "" || a.outOfRange("invoice payment", ip.ID, ip.AmountPaid) {
		return StatusIgnored, nil
	}
	inv, err := a.tx.Invoice(ctx, ip.InvoiceID)
	switch {
	case isNotFound(err):
		inv = &Invoice{}
	case err != nil:
		return "", err
	}
	p, err := a.paymentOf(ctx, &Payment{ID: ip.PaymentIntentID, Amount: ip.AmountPaid, Currency: ip.Currency,
		Status: "succeeded", CreatedAt: ip.PaidAt})
	if err != nil {
		return "", err
	}
	ws, err := a.resolve(ctx, []string{p.WorkspaceID, inv.WorkspaceID}, coalesce(p.CustomerID, inv.CustomerID), inv.SubscriptionID)
	if err != nil {
		return "", err
	}
	p.InvoiceID, p.WorkspaceID, p.CustomerID = coalesce(p.InvoiceID, ip.InvoiceID), ws, coalesce(p.CustomerID, inv.CustomerID)
	return StatusProcessed, a.tx.SavePayment(ctx, p)
}

// outOfRange reports whether the amount of a refund or dispute is one
// Stripe never sends, and notes why the event is left unapplied.
func (a *applier) outOfRange(kind, id string, amount int64) bool {
	if amount >= 0 && amount <= MaxStripeAmount {
		return false
	}
	a.e.Note = fmt.Sprintf("%s %s: amount %d is outside 0 to %d", kind, id, amount, int64(MaxStripeAmount))
	a.log.Warn("Event not applied", kind, id, "reason", a.e.Note)
	return true
}

// paymentOf is the stored payment a refund or dispute is of, else stub (a
// payment not seen yet); nil when Stripe named none.
func (a *applier) paymentOf(ctx context.Context, stub *Payment) (*Payment, error) {
	if stub.ID == "" {
		return nil, nil
	}
	p, err := a.tx.Payment(ctx, stub.ID)
	if isNotFound(err) {
		return stub, nil
	}
	return p, err
}
