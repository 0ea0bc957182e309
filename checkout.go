package billing

import (
	"context"
	"fmt"
	"time"
)

// CheckoutSession mirrors a Stripe Checkout Session, as its events
// (completed, async_payment_succeeded/_failed, expired) tell it.
type CheckoutSession struct {
	ID                string
	WorkspaceID       string
	Mode              string // subscription, payment, setup
	Status            string // open, complete, expired
	PaymentStatus     string // paid, unpaid, no_payment_required
	CustomerID        string
	SubscriptionID    string
	PaymentIntentID   string
	ClientReferenceID string // from the payload; not stored
	AmountTotal       int64
	Currency          string
	Purpose           string // metadata.purpose
	CreatedAt         time.Time
	ExpiresAt         time.Time
	// PaymentFailedAt is when its delayed payment (a bank debit) failed.
	PaymentFailedAt time.Time
	LastEventAt     time.Time
	Metadata        map[string]string // from the payload; not stored
}

// Checkout session events: a delayed payment method (a bank debit) completes
// the session unpaid, and one of the first two tells later how it ended.
const (
	eventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	eventAsyncPaymentFailed    = "checkout.session.async_payment_failed"
)

// checkout records the session and links its customer and subscription to
// its workspace. Paid (payment_status=paid: at completion, or when a delayed
// payment succeeded), a subscription checkout activates the subscription and
// pays its first period, a credits checkout grants the credits bought; the
// grants are keyed, so whichever of its events says paid grants once. An
// unpaid session grants nothing: completed awaiting a bank debit, failed,
// or expired.
func (a *applier) checkout(ctx context.Context, cs *CheckoutSession) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{cs.Metadata[MetadataWorkspaceID], cs.ClientReferenceID}, cs.CustomerID, cs.SubscriptionID)
	if err != nil {
		return "", err
	}
	stale, err := a.recordCheckout(ctx, cs, ws)
	if err != nil {
		return "", err
	}
	if err := a.checkoutPaid(ctx, cs, ws); err != nil {
		return "", err
	}
	if a.e.Type == eventAsyncPaymentFailed && !stale {
		if err := a.notifyCheckoutPaymentFailed(ctx, cs, ws); err != nil {
			return "", err
		}
	}
	return outcome(stale), nil
}

// checkoutPaid links a subscription checkout's subscription and, once the
// session is paid, activates it and pays its first period, or grants the
// credits a credits checkout bought.
func (a *applier) checkoutPaid(ctx context.Context, cs *CheckoutSession, ws string) error {
	paid := cs.PaymentStatus == "paid"
	switch {
	case cs.Mode == "subscription" && cs.SubscriptionID != "":
		sub, err := a.subscriptionOrStub(ctx, cs.SubscriptionID, cs.CustomerID, ws)
		if err != nil {
			return err
		}
		if paid {
			sub.FirstPeriodPaid = true
			sub.notePaidFirstPeriod()
			a.activate(sub)
		}
		if err := a.tx.SaveSubscription(ctx, sub); err != nil {
			return err
		}
		return a.grantFirstPeriod(ctx, sub)
	case cs.Mode == "payment" && paid && cs.Metadata["purpose"] == PurposeCredits:
		credits := a.metadataCredits(cs.Metadata, "session", cs.ID)
		if credits == 0 {
			return nil
		}
		if cs.PaymentIntentID != "" {
			p, err := a.notePurchase(ctx, cs, ws, credits)
			if err != nil {
				return err
			}
			return a.grantPurchase(ctx, p, purchaseKey(cs.PaymentIntentID))
		}
		return a.grant(ctx, &Grant{
			Key: purchaseKey(cs.ID), Kind: GrantAdd, Bucket: BucketPurchased, Amount: credits,
			WorkspaceID: ws, CustomerID: cs.CustomerID, Reason: fmt.Sprintf("purchased %d credits", credits),
		})
	}
	return nil
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

// recordCheckout stores the session as the event tells it, unless a later
// event of it was applied (then it reports stale). What Stripe never
// undoes is kept: a complete or expired session stays so, a paid one paid,
// and the time a delayed payment failed.
func (a *applier) recordCheckout(ctx context.Context, cs *CheckoutSession, ws string) (stale bool, err error) {
	cur, err := a.tx.CheckoutSession(ctx, cs.ID)
	switch {
	case isNotFound(err):
		cur = &CheckoutSession{}
	case err != nil:
		return false, err
	}
	if a.stale(cur.LastEventAt) {
		return true, nil
	}
	next := *cs
	next.WorkspaceID = coalesce(cur.WorkspaceID, ws)
	next.Purpose = cs.Metadata["purpose"]
	next.LastEventAt = a.e.Created
	if cur.Status == "complete" || cur.Status == "expired" {
		next.Status = cur.Status
	}
	if cur.PaymentStatus == "paid" || cur.PaymentStatus == "no_payment_required" {
		next.PaymentStatus = cur.PaymentStatus
	}
	next.PaymentFailedAt = cur.PaymentFailedAt
	if a.e.Type == eventAsyncPaymentFailed && next.PaymentStatus != "paid" && next.PaymentFailedAt.IsZero() {
		next.PaymentFailedAt = a.e.Created
	}
	return false, a.tx.SaveCheckoutSession(ctx, &next)
}
