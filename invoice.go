package billing

import (
	"context"
	"fmt"
	"time"
)

// Stripe invoice billing reasons that grant credits.
const (
	ReasonSubscriptionCreate = "subscription_create"
	ReasonSubscriptionCycle  = "subscription_cycle"
	ReasonSubscriptionUpdate = "subscription_update"
)

// Invoice mirrors a Stripe invoice.
type Invoice struct {
	ID                 string
	CustomerID         string
	SubscriptionID     string
	WorkspaceID        string
	Status             string // draft, open, paid, uncollectible, void
	BillingReason      string
	AmountDue          int64
	AmountPaid         int64
	AmountRemaining    int64
	Currency           string
	AttemptCount       int64
	NextPaymentAttempt time.Time
	Number             string
	HostedInvoiceURL   string
	InvoicePDF         string
	DueDate            time.Time
	PeriodStart        time.Time
	PeriodEnd          time.Time
	PaidAt             time.Time
	CreatedAt          time.Time
	LastEventAt        time.Time
	// ActionRequiredAt is when its payment began to wait for the customer
	// (3-D Secure: invoice.payment_action_required); zero once it does not.
	ActionRequiredAt time.Time

	// From the payload, not stored: where the workspace and plan are found,
	// and whether Stripe collects it (charge_automatically) or the customer
	// pays it (send_invoice).
	CollectionMethod     string
	Metadata             map[string]string
	SubscriptionMetadata map[string]string
	LinePriceID          string
	LinePeriodStart      time.Time
	LinePeriodEnd        time.Time
}

// settled reports whether an invoice in this status asks nothing more of
// the customer: paid, void, or written off as uncollectible.
func settled(status string) bool {
	return status == "paid" || status == "void" || status == "uncollectible"
}

// invoiceStatusCanChange keeps a paid or void invoice from being reopened by a
// late event of the same second.
func invoiceStatusCanChange(from, to string) bool {
	return from == "" || from == to || (from != "paid" && from != "void")
}

// invoice applies invoice.* events: it records the invoice, then a paid
// first or renewal invoice pays a period and a failed one marks the
// subscription past due and owes the workspace a notification.
func (a *applier) invoice(ctx context.Context, inv *Invoice) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{inv.Metadata[MetadataWorkspaceID], inv.SubscriptionMetadata[MetadataWorkspaceID]},
		inv.CustomerID, inv.SubscriptionID)
	if err != nil {
		return "", err
	}
	stored, stale, err := a.recordInvoice(ctx, inv, ws)
	if err != nil {
		return "", err
	}
	switch a.e.Type {
	case "invoice.paid", "invoice.payment_succeeded":
		err = a.invoicePaid(ctx, inv, ws)
	case "invoice.payment_failed":
		err = a.invoiceFailed(ctx, inv, stored, ws)
	case "invoice.payment_action_required":
		err = a.invoiceActionRequired(ctx, inv, stored, ws)
	}
	if err == nil && settled(stored.Status) {
		err = a.invoiceSettled(ctx, stored, ws)
	}
	return outcome(stale), err
}

// recordInvoice saves inv unless a newer event did, and returns the invoice
// as stored now. When it becomes paid, a failure email not sent yet is moot:
// it is discarded then, once, rather than on every paid event (Stripe sends
// invoice.paid and invoice.payment_succeeded for each payment).
func (a *applier) recordInvoice(ctx context.Context, inv *Invoice, ws string) (stored *Invoice, stale bool, err error) {
	cur, err := a.tx.Invoice(ctx, inv.ID)
	switch {
	case isNotFound(err):
		cur = &Invoice{}
	case err != nil:
		return nil, false, err
	case a.stale(cur.LastEventAt):
		return cur, true, nil
	}
	next := *inv
	next.WorkspaceID = coalesce(cur.WorkspaceID, ws)
	next.LastEventAt = a.e.Created
	if !invoiceStatusCanChange(cur.Status, inv.Status) {
		next.Status, next.AmountPaid, next.AmountRemaining, next.PaidAt = cur.Status, cur.AmountPaid, cur.AmountRemaining, cur.PaidAt
	}
	next.ActionRequiredAt = cur.ActionRequiredAt
	switch {
	case settled(next.Status):
		next.ActionRequiredAt = time.Time{}
	case a.e.Type == "invoice.payment_action_required" && next.ActionRequiredAt.IsZero():
		next.ActionRequiredAt = a.e.Created
	}
	if settled(next.Status) && next.Status != cur.Status {
		why := map[string]string{"paid": "paid", "void": "voided", "uncollectible": "marked uncollectible"}[next.Status]
		if err := a.tx.DiscardNotifications(ctx, inv.ID, "the invoice was "+why+" before it was sent"); err != nil {
			return nil, false, err
		}
	}
	return &next, false, a.tx.SaveInvoice(ctx, &next)
}

// invoiceActionRequired shows on the subscription that its invoice's
// payment waits for the customer (3-D Secure), with the hosted invoice
// page where they confirm it, and emails them that link once per invoice.
func (a *applier) invoiceActionRequired(ctx context.Context, inv, stored *Invoice, ws string) error {
	if stored.ActionRequiredAt.IsZero() {
		return nil // settled since
	}
	if inv.SubscriptionID != "" {
		sub, err := a.subscriptionOrStub(ctx, inv.SubscriptionID, inv.CustomerID, ws)
		if err != nil {
			return err
		}
		if sub.Status != SubCanceled && sub.Status != SubIncompleteExpired {
			sub.ActionInvoiceID, sub.ActionURL = inv.ID, coalesce(inv.HostedInvoiceURL, stored.HostedInvoiceURL)
			if err := a.tx.SaveSubscription(ctx, sub); err != nil {
				return err
			}
		}
	}
	return a.notifyActionRequired(ctx, stored, ws)
}

// invoiceSettled clears the action a settled invoice's subscription showed
// for it.
func (a *applier) invoiceSettled(ctx context.Context, inv *Invoice, ws string) error {
	if inv.SubscriptionID == "" {
		return nil
	}
	sub, err := a.tx.Subscription(ctx, inv.SubscriptionID)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return err
	case sub.ActionInvoiceID != inv.ID:
		return nil
	}
	sub.ActionInvoiceID, sub.ActionURL = "", ""
	return a.tx.SaveSubscription(ctx, sub)
}

// invoicePaid starts the paid period of the invoice's subscription. Grants
// are keyed, so invoice.paid and invoice.payment_succeeded for the same
// payment, in any order and even when stale, grant once.
func (a *applier) invoicePaid(ctx context.Context, inv *Invoice, ws string) error {
	if inv.SubscriptionID == "" {
		return nil
	}
	sub, err := a.subscriptionOrStub(ctx, inv.SubscriptionID, inv.CustomerID, ws)
	if err != nil {
		return err
	}
	if sub.PriceID == "" && inv.LinePriceID != "" {
		sub.PriceID, sub.PlanID = inv.LinePriceID, a.planID(inv.LinePriceID)
	}
	if inv.LinePeriodEnd.After(sub.CurrentPeriodEnd) {
		sub.CurrentPeriodStart, sub.CurrentPeriodEnd = inv.LinePeriodStart, inv.LinePeriodEnd
	}
	// A paid invoice proves its subscription is running, whatever else is
	// still unknown about it: Stripe collects only from a live one.
	a.activate(sub)
	switch inv.BillingReason {
	case ReasonSubscriptionCreate:
		sub.FirstPeriodPaid = true
		if sub.StartDate.IsZero() || inv.LinePeriodStart.Before(sub.StartDate) {
			sub.StartDate = inv.LinePeriodStart
		}
		sub.notePaidFirstPeriod()
		if err := a.tx.SaveSubscription(ctx, sub); err != nil {
			return err
		}
		if inv.AmountDue == 0 && sub.LastEventAt.IsZero() {
			// A first invoice for nothing is a trial's, or a coupon's: the
			// subscription's own event, which always follows, tells which,
			// and the first period is granted then.
			return nil
		}
		return a.grantFirstPeriod(ctx, sub)
	case ReasonSubscriptionCycle:
		sub.notePaid(renewalKey(inv.ID), inv.LinePeriodStart)
		if err := a.tx.SaveSubscription(ctx, sub); err != nil {
			return err
		}
		return a.grantRenewal(ctx, sub, inv)
	case ReasonSubscriptionUpdate:
		// The proration of a plan change, perhaps paid before the
		// subscription's own event told the new plan.
		if err := a.tx.SaveSubscription(ctx, sub); err != nil {
			return err
		}
		return a.grantUpgrade(ctx, sub, sub.PlanID, inv.LinePriceID, sub.CurrentPeriodStart, inv.LinePeriodEnd, inv.LinePeriodStart, true)
	}
	return a.tx.SaveSubscription(ctx, sub)
}

// grantRenewal grants the plan's credits for the period a paid renewal
// invoice pays, once, and records that plan's credits as the period's when
// it is the latest paid.
func (a *applier) grantRenewal(ctx context.Context, sub *Subscription, inv *Invoice) error {
	plan, ok := a.Plans.ByPrice(inv.LinePriceID)
	if !ok {
		if plan, ok = a.Plans.ByID(sub.PlanID); !ok {
			return nil
		}
	}
	key := renewalKey(inv.ID)
	fresh, err := a.grantOnce(ctx, &Grant{
		Key: key, Kind: GrantPeriod, Bucket: BucketSubscription, Amount: plan.MonthlyCredits,
		PeriodStart: inv.LinePeriodStart,
		WorkspaceID: sub.WorkspaceID, CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
		Reason: fmt.Sprintf("plan %s: renewal", plan.ID),
	})
	if err != nil || !fresh || sub.PaidPeriodKey != key {
		return err
	}
	return a.notePeriodCredits(ctx, sub, plan.MonthlyCredits)
}

// invoiceFailed owes the workspace a notification for each failed attempt and
// moves a running subscription to past_due. A failed first invoice leaves the
// subscription incomplete, as Stripe does.
func (a *applier) invoiceFailed(ctx context.Context, inv, stored *Invoice, ws string) error {
	err := a.notifyPaymentFailed(ctx, inv, stored, ws)
	if err != nil || inv.SubscriptionID == "" || inv.BillingReason == ReasonSubscriptionCreate {
		return err
	}
	sub, err := a.subscriptionOrStub(ctx, inv.SubscriptionID, inv.CustomerID, ws)
	if err != nil {
		return err
	}
	if a.e.Created.Before(sub.LastEventAt) || !(sub.Status == "" || sub.Status == SubActive || sub.Status == "trialing") {
		return nil
	}
	sub.PastDueSince = pastDueSince(sub, SubPastDue, a.e.Created)
	sub.Status, sub.LastEventAt = SubPastDue, a.e.Created
	a.logStatus(sub)
	return a.tx.SaveSubscription(ctx, sub)
}
