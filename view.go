package billing

import "time"

// The read model: billing state as the app sees it, in the app API's
// answers and in the messages sent to the app alike, so that both always
// say the same thing in the same JSON.

// SubscriptionView is a subscription as the app sees it.
type SubscriptionView struct {
	StripeSubscriptionID string        `json:"stripe_subscription_id"`
	Status               string        `json:"status"`
	Plan                 *string       `json:"plan"`
	Price                *string       `json:"price"`
	Interval             *string       `json:"interval"`
	IntervalCount        *int64        `json:"interval_count"`
	Quantity             *int64        `json:"quantity"`
	CurrentPeriodStart   *string       `json:"current_period_start"`
	CurrentPeriodEnd     *string       `json:"current_period_end"`
	CancelAtPeriodEnd    bool          `json:"cancel_at_period_end"`
	CancelAt             *string       `json:"cancel_at"`
	CanceledAt           *string       `json:"canceled_at"`
	EndedAt              *string       `json:"ended_at"`
	TrialStart           *string       `json:"trial_start"`
	TrialEnd             *string       `json:"trial_end"`
	Discount             *DiscountView `json:"discount"`
	PauseCollection      *PauseView    `json:"pause_collection"`
	// RequiresAction is set while an invoice's payment waits for the
	// customer to confirm it (3-D Secure) at ActionURL.
	RequiresAction bool    `json:"requires_action"`
	ActionURL      *string `json:"action_url"`
	Entitled       bool    `json:"entitled"`
}

// PauseView is a paused collection: Stripe's behavior, when Stripe resumes
// it (null for never), and, for a void pause, when the service stops.
type PauseView struct {
	Behavior  string  `json:"behavior"`
	ResumesAt *string `json:"resumes_at"`
	StopsAt   *string `json:"stops_service_at"`
}

// DiscountView is a coupon applied: percent_off or amount_off (with its
// currency), whichever the coupon has; coupon is null when a payload named
// the discount by id only and nothing told its coupon yet.
type DiscountView struct {
	Coupon     *string  `json:"coupon"`
	PercentOff *float64 `json:"percent_off"`
	AmountOff  *int64   `json:"amount_off"`
	Currency   *string  `json:"currency"`
	EndsAt     *string  `json:"ends_at"`
}

// ViewSubscription shows sub; entitled is what Entitle says of it now.
func ViewSubscription(sub *Subscription, entitled bool) *SubscriptionView {
	out := &SubscriptionView{
		StripeSubscriptionID: sub.ID, Status: sub.Status, Plan: orNull(sub.PlanID), Price: orNull(sub.PriceID),
		Interval: orNull(sub.Interval), IntervalCount: positive(sub.IntervalCount), Quantity: positive(sub.Quantity),
		CurrentPeriodStart: RFC3339(sub.CurrentPeriodStart), CurrentPeriodEnd: RFC3339(sub.CurrentPeriodEnd),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd, CancelAt: RFC3339(sub.CancelAt), CanceledAt: RFC3339(sub.CanceledAt),
		EndedAt: RFC3339(sub.EndedAt), TrialStart: RFC3339(sub.TrialStart), TrialEnd: RFC3339(sub.TrialEnd),
		RequiresAction: sub.ActionInvoiceID != "", ActionURL: orNull(sub.ActionURL), Entitled: entitled,
	}
	if p := sub.Pause; p != nil {
		out.PauseCollection = &PauseView{Behavior: p.Behavior, ResumesAt: RFC3339(p.ResumesAt)}
		if p.Behavior == PauseVoid {
			out.PauseCollection.StopsAt = RFC3339(p.StartsAt)
		}
	}
	out.Discount = ViewDiscount(sub.Discount)
	return out
}

// ViewDiscount shows a discount, nil for none.
func ViewDiscount(d *Discount) *DiscountView {
	if d == nil {
		return nil
	}
	out := &DiscountView{Coupon: orNull(d.Coupon), PercentOff: positive(d.PercentOff),
		AmountOff: positive(d.AmountOff), EndsAt: RFC3339(d.EndsAt)}
	if d.AmountOff > 0 {
		out.Currency = orNull(d.Currency)
	}
	return out
}

// CreditsView is a workspace's balance.
type CreditsView struct {
	Balance      int64 `json:"balance"`
	Subscription int64 `json:"subscription"`
	Purchased    int64 `json:"purchased"`
}

// ViewCredits shows a balance.
func ViewCredits(b Balance) CreditsView {
	return CreditsView{Balance: b.Total(), Subscription: b.Subscription, Purchased: b.Purchased}
}

// InvoiceView is an invoice as the app sees it.
type InvoiceView struct {
	StripeInvoiceID      string  `json:"stripe_invoice_id"`
	StripeSubscriptionID *string `json:"stripe_subscription_id"`
	Status               string  `json:"status"`
	BillingReason        string  `json:"billing_reason"`
	AmountDue            int64   `json:"amount_due"`
	AmountPaid           int64   `json:"amount_paid"`
	AmountRemaining      int64   `json:"amount_remaining"`
	Currency             string  `json:"currency"`
	AttemptCount         int64   `json:"attempt_count"`
	NextPaymentAttempt   *string `json:"next_payment_attempt"`
	Number               string  `json:"number"`
	HostedInvoiceURL     string  `json:"hosted_invoice_url"`
	InvoicePDF           string  `json:"invoice_pdf"`
	DueDate              *string `json:"due_date"`
	PeriodStart          *string `json:"period_start"`
	PeriodEnd            *string `json:"period_end"`
	PaidAt               *string `json:"paid_at"`
	CreatedAt            *string `json:"created_at"`
	// RequiresAction: its payment waits for the customer (3-D Secure).
	RequiresAction bool `json:"requires_action"`
}

// ViewInvoice shows an invoice.
func ViewInvoice(i *Invoice) InvoiceView {
	return InvoiceView{
		StripeInvoiceID: i.ID, StripeSubscriptionID: orNull(i.SubscriptionID), Status: i.Status,
		BillingReason: i.BillingReason, AmountDue: i.AmountDue, AmountPaid: i.AmountPaid,
		AmountRemaining: i.AmountRemaining, Currency: i.Currency, AttemptCount: i.AttemptCount,
		NextPaymentAttempt: RFC3339(i.NextPaymentAttempt), Number: i.Number, HostedInvoiceURL: i.HostedInvoiceURL,
		InvoicePDF: i.InvoicePDF, DueDate: RFC3339(i.DueDate), PeriodStart: RFC3339(i.PeriodStart),
		PeriodEnd: RFC3339(i.PeriodEnd), PaidAt: RFC3339(i.PaidAt), CreatedAt: RFC3339(i.CreatedAt),
		RequiresAction: !i.ActionRequiredAt.IsZero(),
	}
}

// PaymentView is a payment intent as the app sees it.
type PaymentView struct {
	StripePaymentIntentID string  `json:"stripe_payment_intent_id"`
	Status                string  `json:"status"`
	Amount                int64   `json:"amount"`
	AmountRefunded        int64   `json:"amount_refunded"`
	Currency              string  `json:"currency"`
	Purpose               string  `json:"purpose"`
	Credits               int64   `json:"credits"`
	ErrorMessage          *string `json:"error_message"`
	CreatedAt             *string `json:"created_at"`
}

// ViewPayment shows a payment.
func ViewPayment(p *Payment) PaymentView {
	return PaymentView{
		StripePaymentIntentID: p.ID, Status: p.Status, Amount: p.Amount, AmountRefunded: p.AmountRefunded,
		Currency: p.Currency, Purpose: p.Purpose, Credits: p.Credits, ErrorMessage: orNull(p.ErrorMessage),
		CreatedAt: RFC3339(p.CreatedAt),
	}
}

// CheckoutSessionView is a Checkout Session as the app sees it.
type CheckoutSessionView struct {
	StripeCheckoutSessionID string  `json:"stripe_checkout_session_id"`
	Mode                    string  `json:"mode"`
	Status                  string  `json:"status"`
	PaymentStatus           string  `json:"payment_status"`
	AmountTotal             int64   `json:"amount_total"`
	Currency                string  `json:"currency"`
	Purpose                 *string `json:"purpose"`
	StripeSubscriptionID    *string `json:"stripe_subscription_id"`
	StripePaymentIntentID   *string `json:"stripe_payment_intent_id"`
	CreatedAt               *string `json:"created_at"`
	ExpiresAt               *string `json:"expires_at"`
	PaymentFailedAt         *string `json:"payment_failed_at"`
}

// ViewCheckoutSession shows a checkout session.
func ViewCheckoutSession(cs *CheckoutSession) CheckoutSessionView {
	return CheckoutSessionView{
		StripeCheckoutSessionID: cs.ID, Mode: cs.Mode, Status: cs.Status, PaymentStatus: cs.PaymentStatus,
		AmountTotal: cs.AmountTotal, Currency: cs.Currency, Purpose: orNull(cs.Purpose),
		StripeSubscriptionID: orNull(cs.SubscriptionID), StripePaymentIntentID: orNull(cs.PaymentIntentID),
		CreatedAt: RFC3339(cs.CreatedAt), ExpiresAt: RFC3339(cs.ExpiresAt), PaymentFailedAt: RFC3339(cs.PaymentFailedAt),
	}
}

// RefundView is a refund as the app sees it.
type RefundView struct {
	StripeRefundID        string  `json:"stripe_refund_id"`
	StripePaymentIntentID *string `json:"stripe_payment_intent_id"`
	StripeChargeID        *string `json:"stripe_charge_id"`
	Amount                int64   `json:"amount"`
	Currency              string  `json:"currency"`
	Status                string  `json:"status"`
	Reason                *string `json:"reason"`
	CreatedAt             *string `json:"created_at"`
}

// ViewRefund shows a refund.
func ViewRefund(r *Refund) RefundView {
	return RefundView{StripeRefundID: r.ID, StripePaymentIntentID: orNull(r.PaymentIntentID), StripeChargeID: orNull(r.ChargeID),
		Amount: r.Amount, Currency: r.Currency, Status: r.Status, Reason: orNull(r.Reason), CreatedAt: RFC3339(r.CreatedAt)}
}

// DisputeView is a dispute as the app sees it.
type DisputeView struct {
	StripeDisputeID       string  `json:"stripe_dispute_id"`
	StripePaymentIntentID *string `json:"stripe_payment_intent_id"`
	StripeChargeID        *string `json:"stripe_charge_id"`
	Amount                int64   `json:"amount"`
	Currency              string  `json:"currency"`
	Status                string  `json:"status"`
	Open                  bool    `json:"open"`
	Reason                string  `json:"reason"`
	EvidenceDueBy         *string `json:"evidence_due_by"`
	CreatedAt             *string `json:"created_at"`
}

// ViewDispute shows a dispute.
func ViewDispute(d *Dispute) DisputeView {
	return DisputeView{StripeDisputeID: d.ID, StripePaymentIntentID: orNull(d.PaymentIntentID), StripeChargeID: orNull(d.ChargeID),
		Amount: d.Amount, Currency: d.Currency, Status: d.Status, Open: d.Open(), Reason: d.Reason,
		EvidenceDueBy: RFC3339(d.EvidenceDueBy), CreatedAt: RFC3339(d.CreatedAt)}
}

// LedgerEntryView is one ledger entry as the app sees it.
type LedgerEntryView struct {
	Amount         int64   `json:"amount"`
	Bucket         string  `json:"bucket"`
	Reason         string  `json:"reason"`
	IdempotencyKey string  `json:"idempotency_key"`
	EventID        *string `json:"event_id"`
	CreatedAt      *string `json:"created_at"`
	// PeriodStart: the subscription period a grant pays for began then.
	PeriodStart *string `json:"period_start"`
}

// ViewLedgerEntry shows a ledger entry.
func ViewLedgerEntry(e *LedgerEntry) LedgerEntryView {
	return LedgerEntryView{
		Amount: e.Amount, Bucket: string(e.Bucket), Reason: e.Reason, IdempotencyKey: e.IdempotencyKey,
		EventID: orNull(e.EventID), CreatedAt: RFC3339(e.CreatedAt), PeriodStart: RFC3339(e.PeriodStart),
	}
}

// EntitlementView is what a workspace may use now.
type EntitlementView struct {
	Entitled bool                   `json:"entitled"`
	Reason   string                 `json:"reason"`
	Plan     *string                `json:"plan"`
	Features map[string]Feature     `json:"features"`
	Credits  EntitlementCreditsView `json:"credits"`
	Until    *string                `json:"until"`
}

// EntitlementCreditsView is the balance with what may be spent of it now.
type EntitlementCreditsView struct {
	CreditsView
	Spendable int64 `json:"spendable"`
}

// ViewEntitlement shows an entitlement answer.
func ViewEntitlement(we *WorkspaceEntitlement) EntitlementView {
	return EntitlementView{
		Entitled: we.Entitled, Reason: we.Reason, Plan: orNull(we.PlanID), Features: we.Features,
		Credits: EntitlementCreditsView{CreditsView: ViewCredits(we.Credits), Spendable: we.Spendable},
		Until:   RFC3339(we.Until),
	}
}

// RFC3339 writes a time as the app reads it: UTC to the second, null for
// a time not known.
func RFC3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// positive is n, or null for 0: a count no event has told yet.
func positive[T int64 | float64](n T) *T {
	if n <= 0 {
		return nil
	}
	return &n
}
