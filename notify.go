package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Notification is an email owed to a workspace, queued in the outbox in the
// transaction of the event that caused it and sent later by the outbox's
// sender (package email). Its text is composed when it is queued, so the
// outbox holds exactly what will be sent.
type Notification struct {
	ID          int64
	Key         string // unique: what caused it, so an event applied twice queues it once
	WorkspaceID string
	CustomerID  string
	Kind        string
	ObjectID    string
	// To is the address, when the email is not the workspace's (the
	// operator's); "" resolves it when claimed.
	To        string
	Subject   string
	Body      string
	CreatedAt time.Time

	// Delivery, kept by the sender.
	Status        NotificationStatus
	Recipient     string // resolved when claimed: the workspace's email, else the customer's
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	SentAt        time.Time
	// Claim numbers the claims: only the sender holding the latest settles.
	Claim     int64
	ClaimedAt time.Time
}

// Interrupted reports whether a notification claimed for sending has been
// so for longer than any SMTP exchange lasts: its sender stopped mid-send.
func (n *Notification) Interrupted(now time.Time) bool {
	return n.Status == NotifySending && now.Sub(n.ClaimedAt) > InterruptedAfter
}

// CanRetry reports whether an operator may send a notification again:
// it failed, or its sender stopped mid-send. One being sent right now may
// still succeed, so it is left alone.
func (n *Notification) CanRetry(now time.Time) bool {
	return n.Status == NotifyFailed || n.Interrupted(now)
}

// CanDiscard reports whether an operator may keep a notification from
// being sent: one that can be retried, or one still waiting.
func (n *Notification) CanDiscard(now time.Time) bool {
	return n.CanRetry(now) || n.Status == NotifyPending
}

// InterruptedAfter is how long a send may be under way, far beyond the
// sender's SMTP timeout.
const InterruptedAfter = 10 * time.Minute

// NotificationStatus is where a notification is in its delivery.
type NotificationStatus string

const (
	NotifyPending NotificationStatus = "pending" // waiting for its next attempt
	// NotifySending is claimed by a sender. A sender that stops during the
	// SMTP exchange leaves it so: whether the server took the message is
	// unknown, and sending it again could send it twice, so it waits for an
	// operator (the dashboard lists it as unsent).
	NotifySending NotificationStatus = "sending"
	NotifySent    NotificationStatus = "sent"
	NotifyFailed  NotificationStatus = "failed" // refused for good, or out of attempts
	// NotifyDiscarded is not to be sent: what it said stopped being true
	// before it went out (the invoice was paid), or an operator said so.
	NotifyDiscarded NotificationStatus = "discarded"
)

// Kinds of notification.
const (
	KindPaymentFailed      = "invoice.payment_failed"
	KindFinalPaymentFailed = "invoice.final_payment_failed"
	KindTrialWillEnd       = "customer.subscription.trial_will_end"
	KindCheckoutFailed     = "checkout.session.async_payment_failed"
	KindActionRequired     = "invoice.payment_action_required"
)

// Outbox is the store's side of sending notifications.
type Outbox interface {
	// ClaimNotification marks the oldest pending notification due at now as
	// sending and returns it, or returns nil when none is due. Two senders
	// never claim the same one.
	ClaimNotification(ctx context.Context, now time.Time) (*Notification, error)
	// SettleNotification stores the outcome of a claimed notification's
	// attempt: Status, LastError, NextAttemptAt and SentAt.
	SettleNotification(ctx context.Context, n *Notification) error
}

// notifyPaymentFailed queues the email for a failed invoice payment. When
// Stripe will not try again (no next_payment_attempt) on a renewal it
// collects itself, its retries are over: the final failure says so. (An
// invoice the customer pays, send_invoice, is never retried by Stripe, and
// other subscription invoices, such as prorations, end no subscription.)
//
// stored is the invoice as recorded: a late failure of an invoice since paid
// or voided tells nothing.
func (a *applier) notifyPaymentFailed(ctx context.Context, inv, stored *Invoice, ws string) error {
	if settled(stored.Status) {
		return nil
	}
	a.ask(MsgInvoicePaymentFailed, attemptKey(MsgInvoicePaymentFailed, inv.ID, inv.AttemptCount), inv.ID)
	amount := FormatAmount(inv.AmountDue, inv.Currency)
	number := coalesce(inv.Number, inv.ID)
	n := &Notification{
		Key:         joinKey(KindPaymentFailed, inv.ID, strconv.FormatInt(inv.AttemptCount, 10)),
		WorkspaceID: ws, CustomerID: inv.CustomerID, Kind: KindPaymentFailed, ObjectID: inv.ID, CreatedAt: a.now(),
		Subject: fmt.Sprintf("Payment of %s failed (invoice %s)", amount, number),
	}
	var b strings.Builder
	fmt.Fprintf(&b, "We could not collect the payment of %s for invoice %s.\n\n", amount, number)
	switch {
	case !inv.NextPaymentAttempt.IsZero():
		fmt.Fprintf(&b, "We will try again on %s.\n", inv.NextPaymentAttempt.UTC().Format("2 January 2006"))
	case inv.BillingReason == ReasonSubscriptionCycle && inv.CollectionMethod != "send_invoice":
		n.Kind = KindFinalPaymentFailed
		n.Key = joinKey(KindFinalPaymentFailed, inv.ID)
		n.Subject = fmt.Sprintf("Final notice: payment of %s failed (invoice %s)", amount, number)
		b.WriteString("This was the last automatic attempt: no further attempts will be made, and your subscription may be canceled.\n")
	}
	if inv.HostedInvoiceURL != "" {
		fmt.Fprintf(&b, "\nPay the invoice or update your payment method here:\n%s\n", inv.HostedInvoiceURL)
	}
	n.Body = b.String()
	return a.tx.AddNotification(ctx, n)
}

// notifyCheckoutPaymentFailed queues the email for a one-time checkout whose
// delayed payment (a bank debit) failed: the customer left Checkout believing
// it done. A subscription checkout's first invoice fails with it, and
// invoice.payment_failed's email says so, so it gets none of its own.
func (a *applier) notifyCheckoutPaymentFailed(ctx context.Context, cs *CheckoutSession, ws string) error {
	if cs.Mode != "payment" {
		return nil
	}
	amount := FormatAmount(cs.AmountTotal, cs.Currency)
	return a.tx.AddNotification(ctx, &Notification{
		Key:         joinKey(KindCheckoutFailed, cs.ID),
		WorkspaceID: ws, CustomerID: cs.CustomerID, Kind: KindCheckoutFailed, ObjectID: cs.ID, CreatedAt: a.now(),
		Subject: fmt.Sprintf("Payment of %s failed", amount),
		Body: fmt.Sprintf("Your payment of %s could not be completed: your bank declined or returned it, "+
			"so what you ordered was not delivered.\n\nPlease check out again, with another payment method if you can.\n", amount),
	})
}

// notifyActionRequired queues, once per invoice, the email asking the
// customer to confirm a payment their bank holds for authentication, with
// the hosted invoice page where they do. Paying the invoice discards it.
func (a *applier) notifyActionRequired(ctx context.Context, inv *Invoice, ws string) error {
	amount := FormatAmount(inv.AmountDue, inv.Currency)
	number := coalesce(inv.Number, inv.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "Your bank asks you to confirm the payment of %s for invoice %s before it goes through.\n", amount, number)
	if inv.HostedInvoiceURL != "" {
		fmt.Fprintf(&b, "\nConfirm your payment here:\n%s\n", inv.HostedInvoiceURL)
	}
	return a.tx.AddNotification(ctx, &Notification{
		Key:         joinKey(KindActionRequired, inv.ID),
		WorkspaceID: ws, CustomerID: inv.CustomerID, Kind: KindActionRequired, ObjectID: inv.ID, CreatedAt: a.now(),
		Subject: fmt.Sprintf("Confirm your payment of %s (invoice %s)", amount, number),
		Body:    b.String(),
	})
}

// notifyTrialWillEnd queues the reminder Stripe's trial_will_end event (three
// days before a trial ends) asks for, when the stored subscription, cur,
// still says so: trialing to that end, not canceling, and not yet over.
func (a *applier) notifyTrialWillEnd(ctx context.Context, s, cur *Subscription) error {
	if !s.TrialEnd.After(a.now()) || cur.Status != "trialing" || !cur.TrialEnd.Equal(s.TrialEnd) || cur.CancelAtPeriodEnd {
		return nil
	}
	a.ask(MsgSubscriptionTrialWillEnd, trialKey(s.ID, s.TrialEnd), s.ID)
	day := s.TrialEnd.UTC().Format("2 January 2006")
	return a.tx.AddNotification(ctx, &Notification{
		Key:         joinKey(KindTrialWillEnd, s.ID, strconv.FormatInt(s.TrialEnd.Unix(), 10)),
		WorkspaceID: cur.WorkspaceID, CustomerID: s.CustomerID, Kind: KindTrialWillEnd, ObjectID: s.ID, CreatedAt: a.now(),
		Subject: "Your trial ends on " + day,
		Body: fmt.Sprintf("Your trial ends on %s.\n\n"+
			"Unless it is canceled, your subscription continues then and its first payment is collected.\n", day),
	})
}

// decimals are the currencies Stripe does not count in hundredths.
var decimals = map[string]int{
	"bif": 0, "clp": 0, "djf": 0, "gnf": 0, "jpy": 0, "kmf": 0, "krw": 0, "mga": 0,
	"pyg": 0, "rwf": 0, "ugx": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
	"bhd": 3, "jod": 3, "kwd": 3, "omr": 3, "tnd": 3,
}

// FormatAmount writes an amount in Stripe's smallest currency unit as
// people read it, e.g. 1999 usd as "19.99 USD", 1000 kwd as "1.000 KWD".
func FormatAmount(amount int64, currency string) string {
	places, ok := decimals[strings.ToLower(currency)]
	if !ok {
		places = 2
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	s := strconv.FormatInt(amount, 10)
	if places > 0 {
		s = fmt.Sprintf("%0*d", places+1, amount)
		s = s[:len(s)-places] + "." + s[len(s)-places:]
	}
	return strings.TrimSpace(sign + s + " " + strings.ToUpper(currency))
}
