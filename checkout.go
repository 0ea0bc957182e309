package billing

import (
	"context"
	"fmt"
)

// CheckoutSession is the part of a completed Stripe Checkout Session the rules need.
type CheckoutSession struct {
	ID                string
	Mode              string // subscription, payment, setup
	Status            string
	PaymentStatus     string // paid, unpaid, no_payment_required
	CustomerID        string
	SubscriptionID    string
	PaymentIntentID   string
	ClientReferenceID string
	AmountTotal       int64
	Currency          string
	Metadata          map[string]string
}

// checkout links the session's customer and subscription to its workspace;
// a paid subscription checkout activates the subscription and pays its first
// period, a paid credits checkout grants the credits bought.
func (a *applier) checkout(ctx context.Context, cs *CheckoutSession) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{cs.Metadata[MetadataWorkspaceID], cs.ClientReferenceID}, cs.CustomerID, cs.SubscriptionID)
	if err != nil {
		return "", err
	}
	paid := cs.PaymentStatus == "paid"
	switch {
	case cs.Mode == "subscription" && cs.SubscriptionID != "":
		sub, err := a.subscriptionOrStub(ctx, cs.SubscriptionID, cs.CustomerID, ws)
		if err != nil {
			return "", err
		}
		if paid {
			sub.FirstPeriodPaid = true
			sub.notePaidFirstPeriod()
			a.activate(sub)
		}
		if err := a.tx.SaveSubscription(ctx, sub); err != nil {
			return "", err
		}
		return StatusProcessed, a.grantFirstPeriod(ctx, sub)
	case cs.Mode == "payment" && paid && cs.Metadata["purpose"] == PurposeCredits:
		credits := a.metadataCredits(cs.Metadata, "session", cs.ID)
		if credits == 0 {
			return StatusProcessed, nil
		}
		if cs.PaymentIntentID != "" {
			p, err := a.notePurchase(ctx, cs, ws, credits)
			if err != nil {
				return "", err
			}
			return StatusProcessed, a.grantPurchase(ctx, p, purchaseKey(cs.PaymentIntentID))
		}
		return StatusProcessed, a.grant(ctx, &Grant{
			Key: purchaseKey(cs.ID), Kind: GrantAdd, Bucket: BucketPurchased, Amount: credits,
			WorkspaceID: ws, CustomerID: cs.CustomerID, Reason: fmt.Sprintf("purchased %d credits", credits),
		})
	}
	return StatusProcessed, nil
}

// notePurchase records what a credits checkout bought on its payment intent,
// so that a refund of it knows the credits even before the intent's own event.
func (a *applier) notePurchase(ctx context.Context, cs *CheckoutSession, ws string, credits int64) (*Payment, error) {
	p, err := a.tx.Payment(ctx, cs.PaymentIntentID)
	switch {
	case isNotFound(err):
		p = &Payment{ID: cs.PaymentIntentID, Status: "succeeded", Amount: cs.AmountTotal, Currency: cs.Currency, CreatedAt: a.e.Created}
	case err != nil:
		return nil, err
	}
	p.WorkspaceID = coalesce(p.WorkspaceID, ws)
	p.CustomerID = coalesce(p.CustomerID, cs.CustomerID)
	p.Purpose, p.Credits = PurposeCredits, credits
	return p, a.tx.SavePayment(ctx, p)
}
