package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Service applies verified Stripe events to the billing state.
type Service struct {
	Store   Store
	Decoder Decoder
	Plans   *Plans
	Logger  *slog.Logger
	// Payments calls Stripe for checkout and portal sessions; nil when no
	// secret key is configured.
	Payments Payments
	// CreditPrice is the price of one purchased credit.
	CreditPrice CreditPrice
	// Thin fetches the object a thin event names; nil (no secret key)
	// stores thin events unapplied.
	Thin ThinFetcher
	// Refetch, when set, replaces a subscription or invoice event's object
	// with its current state fetched from Stripe before it is applied, so
	// that the order of delivery cannot matter (STRIPE_REFETCH=1).
	Refetch Refetcher
	// UpgradeCredits is what an upgrade mid-period grants; "" is
	// UpgradeDifference (BILLING_UPGRADE_CREDITS).
	UpgradeCredits UpgradeCredits
	// PastDueGrace is how long a past-due subscription stays entitled:
	// zero means DefaultPastDueGrace, NoGrace none (BILLING_PAST_DUE_GRACE).
	PastDueGrace time.Duration
	// CreditsLow, when above zero, is the balance under which a workspace's
	// credits are low: crossing it sends credits.low (BILLING_CREDITS_LOW).
	CreditsLow int64
	// OperatorEmail receives the emails meant for whoever runs billing
	// (a dispute opened); "" sends none (BILLING_OPERATOR_EMAIL).
	OperatorEmail string
	// ConnectAccounts are the connected accounts whose events are applied
	// (STRIPE_CONNECT_ACCOUNTS); any other account's are stored, ignored.
	ConnectAccounts []string
	// Now is the clock; tests inject one.
	Now func() time.Time
	// OnBatch, when set, is told the size of each group commit.
	OnBatch func(events int)

	batch *batcher
}

// HandledEventTypes are the Stripe event types that change billing state.
// Any other verified event is stored with status ignored.
var HandledEventTypes = []string{
	"checkout.session.completed",
	eventAsyncPaymentSucceeded,
	eventAsyncPaymentFailed,
	"checkout.session.expired",
	"customer.created",
	"customer.updated",
	"customer.deleted",
	"customer.discount.created",
	"customer.discount.updated",
	"customer.discount.deleted",
	"customer.subscription.created",
	"customer.subscription.updated",
	"customer.subscription.deleted",
	"customer.subscription.trial_will_end",
	"customer.subscription.paused",
	"customer.subscription.resumed",
	"customer.subscription.pending_update_applied",
	"customer.subscription.pending_update_expired",
	"invoice.created",
	"invoice.updated",
	"invoice.finalized",
	"invoice.voided",
	"invoice.marked_uncollectible",
	"invoice.payment_action_required",
	"invoice_payment.paid",
	"invoice.paid",
	"invoice.payment_succeeded",
	"invoice.payment_failed",
	"payment_intent.succeeded",
	"payment_intent.payment_failed",
	aliasPaymentIntentFailed,
	"charge.refunded",
	"charge.refund.updated",
	"refund.created",
	"refund.updated",
	"refund.failed",
	"charge.dispute.created",
	"charge.dispute.updated",
	"charge.dispute.closed",
	"charge.dispute.funds_withdrawn",
	"charge.dispute.funds_reinstated",
}

// aliasPaymentIntentFailed is not a Stripe event type, but some guides use
// the name; an event of that type is handled as payment_intent.payment_failed.
const aliasPaymentIntentFailed = "payment_intent.failed"

// SubscribedEventTypes are the event types a webhook endpoint should
// receive: the handled ones that Stripe really sends.
func SubscribedEventTypes() []string {
	var out []string
	for _, t := range HandledEventTypes {
		if t != aliasPaymentIntentFailed {
			out = append(out, t)
		}
	}
	return out
}

// Handles reports whether events of this type change billing state.
func Handles(eventType string) bool {
	for _, t := range HandledEventTypes {
		if t == eventType {
			return true
		}
	}
	return false
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) pastDueGrace() time.Duration {
	switch {
	case s.PastDueGrace < 0:
		return 0
	case s.PastDueGrace == 0:
		return DefaultPastDueGrace
	}
	return s.PastDueGrace
}

// Entitle says whether a workspace with sub as its current subscription is
// entitled now (see the function Entitle).
func (s *Service) Entitle(sub *Subscription) Entitlement {
	return Entitle(sub, s.now(), s.pastDueGrace())
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Process stores e and applies it in one transaction and returns its status:
// processed, ignored, stale, or duplicate when e was already applied. With
// force (a replay), an event already applied is applied again; every rule is
// idempotent, so that changes nothing that is already right.
//
// On error nothing of e's changes is kept, the event is recorded as failed
// and the error is returned, so the caller can ask Stripe to retry.
//
// With batching started (StartBatching), concurrent calls share
// transactions; each still returns only once its changes are committed.
func (s *Service) Process(ctx context.Context, e *Event, force bool) (EventStatus, error) {
	e.ReceivedAt = s.now()
	var err error
	if e.Note = s.unapplied(e); e.Note != "" {
		e.Object = nil
		s.logger().Info("Event not applied", "event_id", e.ID, "event_type", e.Type, "reason", e.Note)
	} else {
		// Decoding needs no database: do it before taking the writer.
		if err = s.Decoder.Decode(e); errors.Is(err, ErrThinEvent) {
			err = s.fetchThin(ctx, e, force)
		}
	}
	if err == nil && s.Refetch != nil && !e.Thin {
		err = s.refetch(ctx, e, force)
	}
	if err != nil {
		if prev, _ := s.Store.Event(ctx, e.ID); prev != nil && prev.Status.Done() && !force {
			// An id already applied is a duplicate, whatever its new body.
			s.warnIfReused(prev, e)
			return StatusDuplicate, nil
		}
		return s.fail(ctx, e, err)
	}
	if b := s.batch; b != nil {
		return b.process(ctx, e, force)
	}
	return s.processAlone(ctx, e, force)
}

// unapplied says why e is stored without being applied, or "" when it is
// to be applied. An event with an account is a connected account's (Stripe
// Connect): its customers and subscriptions are not the platform's, and
// applying them would give the platform's workspaces what another business
// was paid for.
func (s *Service) unapplied(e *Event) string {
	if e.Account == "" || slices.Contains(s.ConnectAccounts, e.Account) {
		return ""
	}
	return fmt.Sprintf("event of connected account %s, which STRIPE_CONNECT_ACCOUNTS does not list", e.Account)
}

// ErrThinEvent is what a Decoder answers for a thin event: its payload
// names its object, which Service.Thin fetches.
var ErrThinEvent = errors.New("a thin event carries no object")

// ThinFetcher fetches the object a thin event names (its related_object),
// as Stripe has it now: the JSON a snapshot event of its type carries as
// data.object.
type ThinFetcher interface {
	FetchRelated(ctx context.Context, e *Event) ([]byte, error)
}

// fetchThin gives a thin event the object it names and decodes it as the
// snapshot event of its type would be. Without a fetcher it is stored
// unapplied, with a WARN; a redelivery of one applied calls nobody.
func (s *Service) fetchThin(ctx context.Context, e *Event, force bool) error {
	e.Thin, e.Object = true, nil
	if s.Thin == nil {
		e.Note = "thin event: its object is fetched from Stripe, which needs STRIPE_SECRET_KEY"
		s.logger().Warn("Thin event not applied: set STRIPE_SECRET_KEY so that its object can be fetched; replay it then",
			"event_id", e.ID, "event_type", e.Type)
		return nil
	}
	if s.applied(ctx, e, force) {
		return nil
	}
	raw, err := s.Thin.FetchRelated(ctx, e)
	switch {
	case err != nil:
		return fmt.Errorf("fetch the thin event's object: %w", err)
	case raw == nil:
		e.Note = "thin event: it names no object Stripe has"
		return nil
	}
	e.ObjectJSON = raw
	return s.Decoder.Decode(e)
}

// applied reports whether e is a redelivery of an event already applied,
// which is answered duplicate without applying anything: it needs no call
// to Stripe (a replay, force, always makes it).
func (s *Service) applied(ctx context.Context, e *Event, force bool) bool {
	if force {
		return false
	}
	prev, err := s.Store.Event(ctx, e.ID)
	return err == nil && prev.Status.Done()
}

// Refetcher fetches an object's current state from Stripe: a *Subscription
// or an *Invoice, by the id of the one given.
type Refetcher interface {
	Refetch(ctx context.Context, obj any) (any, error)
}

// refetch replaces a subscription's or invoice's payload with what Stripe
// says now. The event's time is kept, so a late event is still stale, but a
// fresh one carries the newest state whatever order events came in.
func (s *Service) refetch(ctx context.Context, e *Event, force bool) error {
	switch e.Object.(type) {
	case *Subscription, *Invoice:
	default:
		return nil
	}
	if s.applied(ctx, e, force) {
		return nil
	}
	fresh, err := s.Refetch.Refetch(ctx, e.Object)
	if err != nil {
		return fmt.Errorf("refetch: %w", err)
	}
	e.Object = fresh
	return nil
}

// processAlone applies e in a transaction of its own.
func (s *Service) processAlone(ctx context.Context, e *Event, force bool) (EventStatus, error) {
	var status EventStatus
	err := s.Store.InTx(ctx, func(tx Tx) (err error) {
		status, err = s.applyIn(ctx, tx, e, force)
		return err
	})
	if err != nil {
		return s.fail(ctx, e, err)
	}
	return status, nil
}

// applyIn stores and applies a decoded event inside tx.
//
// It locks the event and its objects before it reads the event's row, as a
// group commit does (Needs.Locks), so that an event applied alone and a
// batch holding its redelivery wait for each other, never deadlock.
func (s *Service) applyIn(ctx context.Context, tx Tx, e *Event, force bool) (EventStatus, error) {
	if err := tx.Lock(ctx, append([]string{e.ID}, lockKeys(e.Object)...)...); err != nil {
		return "", err
	}
	prev, err := tx.BeginEvent(ctx, e)
	if err != nil {
		return "", err
	}
	if prev != nil && prev.Status.Done() && !force {
		s.warnIfReused(prev, e)
		return StatusDuplicate, nil
	}
	rec := s.record(tx)
	a := &applier{Service: s, tx: rec, e: e, log: s.logger().With("event_id", e.ID, "event_type", e.Type)}
	status, err := a.apply(ctx)
	if err != nil {
		return "", err
	}
	if err := rec.flush(ctx); err != nil {
		return "", fmt.Errorf("messages: %w", err)
	}
	e.ObjectID = objectID(e.Object)
	return status, tx.FinishEvent(ctx, e, status, s.now())
}

// warnIfReused logs when a duplicate's body says something else than the
// one applied, which Stripe never does: a tool or a person reused the id.
func (s *Service) warnIfReused(prev, e *Event) {
	if !SameEvent(prev, e) {
		s.logger().Warn("Stripe event id reused with a different payload: kept the one applied first",
			"event_id", e.ID, "event_type", e.Type)
	}
}

// fail records e as failed, in a transaction of its own since e's was
// rolled back, and returns the error to answer.
func (s *Service) fail(ctx context.Context, e *Event, err error) (EventStatus, error) {
	err = fmt.Errorf("apply event %s (%s): %w", e.ID, e.Type, err)
	if ferr := s.Store.RecordFailure(context.WithoutCancel(ctx), e, err.Error(), s.now()); ferr != nil {
		s.logger().Error("Could not record failed event", "event_id", e.ID, "error", ferr)
	}
	return StatusFailed, err
}

// Decoder fills Event.Object from Event.Payload (package webhook knows how).
type Decoder interface {
	Decode(e *Event) error
}

// Replay applies a stored event again, as Stripe's own resend would.
func (s *Service) Replay(ctx context.Context, id string) (EventStatus, error) {
	e, err := s.Store.Event(ctx, id)
	if err != nil {
		return "", err
	}
	return s.Process(ctx, e, true)
}

// lockKeys are the Stripe objects an event may change: the object itself
// and the customer, subscription and payment it belongs to.
func lockKeys(obj any) []string {
	switch o := obj.(type) {
	case *CheckoutSession:
		return []string{o.ID, o.CustomerID, o.SubscriptionID, o.PaymentIntentID}
	case *Subscription:
		return []string{o.ID, o.CustomerID}
	case *Invoice:
		return []string{o.ID, o.CustomerID, o.SubscriptionID}
	case *Payment:
		return []string{o.ID, o.CustomerID}
	case *Charge:
		return []string{o.PaymentIntentID, o.CustomerID}
	case *Refund:
		return []string{coalesce(o.PaymentIntentID, o.ChargeID)}
	case *Dispute:
		return []string{coalesce(o.PaymentIntentID, o.ChargeID)}
	case *Customer:
		return []string{o.ID}
	case *DiscountChange:
		return []string{o.SubscriptionID, o.CustomerID}
	case *InvoicePayment:
		return []string{o.InvoiceID, o.PaymentIntentID}
	}
	return nil
}

// applier applies one event inside its transaction.
type applier struct {
	*Service
	tx  Tx // a *recorder: see Service.record
	e   *Event
	log *slog.Logger
}

// ask queues a message a rule asks for (see recorder.ask).
func (a *applier) ask(typ, key, objectID string) {
	if r, ok := a.tx.(*recorder); ok {
		r.ask(typ, key, objectID)
	}
}

// inTx runs fn in a transaction of the store through a recorder, and
// writes the messages of what it changed before it commits.
func (s *Service) inTx(ctx context.Context, fn func(tx Tx) error) error {
	return s.Store.InTx(ctx, func(tx Tx) error {
		rec := s.record(tx)
		if err := fn(rec); err != nil {
			return err
		}
		if err := rec.flush(ctx); err != nil {
			return fmt.Errorf("messages: %w", err)
		}
		return nil
	})
}

func (a *applier) apply(ctx context.Context) (EventStatus, error) {
	switch o := a.e.Object.(type) {
	case *CheckoutSession:
		return a.checkout(ctx, o)
	case *Subscription:
		return a.subscription(ctx, o)
	case *Invoice:
		return a.invoice(ctx, o)
	case *Payment:
		return a.payment(ctx, o)
	case *Charge:
		return a.refund(ctx, o)
	case *Refund:
		return a.refundEvent(ctx, o)
	case *Dispute:
		return a.dispute(ctx, o)
	case *Customer:
		return a.customer(ctx, o)
	case *DiscountChange:
		return a.discount(ctx, o)
	case *InvoicePayment:
		return a.invoicePayment(ctx, o)
	}
	return StatusIgnored, nil
}

// stale reports whether the event is older than the last one applied to an
// object. Events of the same second both apply, since Stripe's one-second
// resolution would otherwise drop real updates; a *.created event, though,
// never overwrites what any event of its second wrote, because creation
// comes first in an object's life.
func (a *applier) stale(last time.Time) bool {
	if last.IsZero() {
		return false
	}
	if isCreatedType(a.e.Type) {
		return !a.e.Created.After(last)
	}
	return a.e.Created.Before(last)
}

func isCreatedType(t string) bool {
	return len(t) > len(".created") && t[len(t)-len(".created"):] == ".created"
}

func outcome(stale bool) EventStatus {
	if stale {
		return StatusStale
	}
	return StatusProcessed
}

func isNotFound(err error) bool { return ErrorCode(err) == ENOTFOUND }

// coalesce returns the first non-empty string.
func coalesce(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
