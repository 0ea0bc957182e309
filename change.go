package billing

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"time"
)

// Limits of what a checkout or a change of a subscription asks for.
const (
	// MaxQuantity caps a subscription's seats.
	MaxQuantity = 10_000
	// MaxTrialDays is Stripe's own cap on a trial: two years.
	MaxTrialDays = 730
	// MaxDiscountCode caps a coupon's or promotion code's id, in bytes.
	MaxDiscountCode = 255
)

// Proration behaviours of a swap, as Stripe's proration_behavior names them.
const (
	ProrationCreate        = "create_prorations"
	ProrationAlwaysInvoice = "always_invoice"
	ProrationNone          = "none"
)

// Live reports whether a subscription is one the workspace has now, paid or
// not: a second checkout would bill it twice. A status Stripe adds later is
// not counted, nor one no event has told yet.
func (s *Subscription) Live() bool {
	switch s.Status {
	case SubActive, SubTrialing, SubPastDue, SubIncomplete, SubUnpaid, SubPaused:
		return true
	}
	return false
}

// Ended reports whether the subscription is over: Stripe never changes a
// canceled or incomplete_expired subscription again.
func (s *Subscription) Ended() bool {
	return s.Status == SubCanceled || s.Status == SubIncompleteExpired
}

// SubscriptionChange is an update of a subscription to send to Stripe;
// zero fields are left as Stripe has them.
type SubscriptionChange struct {
	// ItemID is the plan's item (si_…), which PriceID and Quantity change.
	ItemID   string
	PriceID  string
	Quantity int64
	// Proration is Stripe's proration_behavior for a change of price or
	// seats; "" is Stripe's default.
	Proration         string
	CancelAtPeriodEnd *bool
	// CancelNow ends the subscription at once (Stripe's cancel, not an
	// update); the other fields are then unused.
	CancelNow      bool
	IdempotencyKey string
}

// Swap moves a subscription to another price: Price, which a plan must
// sell, or Plan's, the price it has when it is on that plan already, else
// the plan's first. Exactly one of Plan and Price is given.
type Swap struct {
	Plan  string
	Price string
	// Quantity is the seats, 1 to MaxQuantity; nil keeps them.
	Quantity *int64
	// Proration is one of the Proration* behaviours; "" is ProrationCreate.
	Proration string
}

// SwapSubscription moves a workspace's subscription to another plan or
// price. One already on that price with those seats is answered as it is,
// with no call to Stripe.
func (s *Service) SwapSubscription(ctx context.Context, workspaceID, idempotencyKey string, sw Swap) (*Subscription, error) {
	if err := s.Plans.checkSwap(sw); err != nil {
		return nil, err
	}
	return s.changeSubscription(ctx, workspaceID, idempotencyKey, "swap", func(sub *Subscription) (*SubscriptionChange, error) {
		return s.Plans.swapChange(sub, sw)
	})
}

// CancelSubscription cancels a workspace's subscription at the end of its
// period, or now. One set to cancel at period end already is answered as it
// is, with no call to Stripe.
func (s *Service) CancelSubscription(ctx context.Context, workspaceID, idempotencyKey string, atPeriodEnd bool) (*Subscription, error) {
	return s.changeSubscription(ctx, workspaceID, idempotencyKey, "cancel", func(sub *Subscription) (*SubscriptionChange, error) {
		return cancelChange(sub, atPeriodEnd)
	})
}

// ResumeSubscription undoes a cancellation at period end that has not
// taken effect.
func (s *Service) ResumeSubscription(ctx context.Context, workspaceID, idempotencyKey string) (*Subscription, error) {
	return s.changeSubscription(ctx, workspaceID, idempotencyKey, "resume", resumeChange)
}

// SetSubscriptionQuantity changes the seats of a workspace's subscription;
// the same number again is answered as it is, with no call to Stripe.
func (s *Service) SetSubscriptionQuantity(ctx context.Context, workspaceID, idempotencyKey string, quantity int64) (*Subscription, error) {
	if err := checkCount("quantity", &quantity, MaxQuantity); err != nil {
		return nil, err
	}
	return s.changeSubscription(ctx, workspaceID, idempotencyKey, "quantity", func(sub *Subscription) (*SubscriptionChange, error) {
		return quantityChange(sub, quantity)
	})
}

// changeSubscription sends what rule asks of the workspace's current
// subscription to Stripe, under the idempotency key (a random one for ""),
// then applies the subscription Stripe answers through the webhook rules,
// as an event of now: a webhook created before it is then stale, a later
// one applies. It returns the stored subscription, which is the answer
// unless a newer event came first. A nil change calls no Stripe.
func (s *Service) changeSubscription(ctx context.Context, workspaceID, idempotencyKey, op string,
	rule func(*Subscription) (*SubscriptionChange, error)) (*Subscription, error) {
	key, err := changeKey(idempotencyKey)
	if err != nil {
		return nil, err
	}
	p, err := s.payments()
	if err != nil {
		return nil, err
	}
	st, err := s.Store.WorkspaceState(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	sub := st.Subscription
	if sub == nil {
		return nil, Errorf(ENOSUBSCRIPTION, "workspace %q has no subscription; start one with a checkout", workspaceID)
	}
	ch, err := rule(sub)
	switch {
	case err != nil:
		return nil, err
	case ch == nil:
		return sub, nil
	}
	ch.IdempotencyKey = key
	// Stripe's answer tells the subscription as of the call: a webhook
	// created since (another change, the portal) is newer and must win,
	// and one created before is older. The second the call began orders it.
	asked := s.now().Truncate(time.Second)
	var answer *Subscription
	if ch.CancelNow {
		answer, err = p.CancelSubscription(ctx, sub.ID, key)
	} else {
		answer, err = p.UpdateSubscription(ctx, sub.ID, ch)
	}
	if err != nil {
		return nil, fmt.Errorf("%s subscription %s of workspace %q: %w", op, sub.ID, workspaceID, err)
	}
	s.logger().Info("Changed subscription at Stripe", "op", op, "subscription", sub.ID, "workspace", workspaceID,
		"idempotency_key", key, "status", answer.Status)
	if _, err := s.Sync(ctx, answer, asked, false); err != nil {
		// Stripe has the change; its webhook, or a retry with the same key,
		// applies it.
		return nil, fmt.Errorf("apply Stripe's answer to %s subscription %s: %w", op, sub.ID, err)
	}
	return s.storedSubscription(ctx, workspaceID, sub.ID)
}

// changeKey is the idempotency key of a change: the caller's, which must be
// text of at most MaxIdempotencyKey bytes, or a random one.
func changeKey(key string) (string, error) {
	if key == "" {
		return "billing-change-" + rand.Text(), nil
	}
	return key, checkText("Idempotency-Key", key, MaxIdempotencyKey)
}

// storedSubscription is a workspace's subscription as stored now.
func (s *Service) storedSubscription(ctx context.Context, workspaceID, id string) (*Subscription, error) {
	subs, err := s.Store.Subscriptions(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("subscriptions of workspace %q: %w", workspaceID, err)
	}
	for i := range subs {
		if subs[i].ID == id {
			return &subs[i], nil
		}
	}
	return nil, fmt.Errorf("subscription %s of workspace %q is not stored", id, workspaceID)
}

// checkSwap refuses a swap that names no price a plan sells, or bad seats
// or proration, before anything is read.
func (p *Plans) checkSwap(sw Swap) error {
	switch {
	case sw.Plan == "" && sw.Price == "":
		return Errorf(EINVALID, "plan or price is required")
	case sw.Plan != "" && sw.Price != "":
		return Errorf(EINVALID, "give plan or price, not both")
	}
	if _, ok := p.ByID(sw.Plan); sw.Plan != "" && !ok {
		return Errorf(EINVALID, "plan %q is not in the plans file", sw.Plan)
	}
	if _, ok := p.ByPrice(sw.Price); sw.Price != "" && !ok {
		return Errorf(EINVALID, "price %q is in no plan of the plans file", sw.Price)
	}
	if err := checkCount("quantity", sw.Quantity, MaxQuantity); err != nil {
		return err
	}
	switch sw.Proration {
	case "", ProrationCreate, ProrationAlwaysInvoice, ProrationNone:
		return nil
	}
	return Errorf(EINVALID, "proration must be %s, %s or %s", ProrationCreate, ProrationAlwaysInvoice, ProrationNone)
}

// swapChange is what a checked swap asks of Stripe for sub; nil when sub
// has that price and those seats already.
func (p *Plans) swapChange(sub *Subscription, sw Swap) (*SubscriptionChange, error) {
	if err := billable(sub, "swapped"); err != nil {
		return nil, err
	}
	price := sw.Price
	if plan, ok := p.ByID(sw.Plan); ok {
		price = plan.StripePriceIDs[0]
		if slices.Contains(plan.StripePriceIDs, sub.PriceID) {
			price = sub.PriceID
		}
	}
	quantity := valueOr(sw.Quantity, sub.Quantity)
	if price == sub.PriceID && quantity == sub.Quantity {
		return nil, nil
	}
	if err := knownItem(sub); err != nil {
		return nil, err
	}
	proration := sw.Proration
	if proration == "" {
		proration = ProrationCreate
	}
	// The seats are sent even when kept: Stripe sets them to 1 on a new
	// price otherwise.
	return &SubscriptionChange{ItemID: sub.ItemID, PriceID: price, Quantity: quantity, Proration: proration}, nil
}

// cancelChange is what cancelling sub asks of Stripe: an update to cancel
// at period end (nil when it is set so already), or a cancellation now.
func cancelChange(sub *Subscription, atPeriodEnd bool) (*SubscriptionChange, error) {
	switch {
	case sub.Ended():
		return nil, endedError(sub, "canceled again")
	case !atPeriodEnd:
		return &SubscriptionChange{CancelNow: true}, nil
	case sub.CancelAtPeriodEnd:
		return nil, nil
	}
	return &SubscriptionChange{CancelAtPeriodEnd: new(true)}, nil
}

// resumeChange is what resuming sub asks of Stripe: only a subscription
// set to cancel at period end, and not ended yet, can be resumed.
func resumeChange(sub *Subscription) (*SubscriptionChange, error) {
	switch {
	case sub.Ended():
		return nil, endedError(sub, "resumed")
	case !sub.CancelAtPeriodEnd:
		return nil, Errorf(EINVALIDSTATE, "subscription %s is not set to cancel at period end: there is nothing to resume", sub.ID)
	}
	return &SubscriptionChange{CancelAtPeriodEnd: new(false)}, nil
}

// quantityChange is what setting sub's seats asks of Stripe; nil when it
// has them already.
func quantityChange(sub *Subscription, quantity int64) (*SubscriptionChange, error) {
	if err := billable(sub, "changed"); err != nil || quantity == sub.Quantity {
		return nil, err
	}
	if err := knownItem(sub); err != nil {
		return nil, err
	}
	return &SubscriptionChange{ItemID: sub.ItemID, Quantity: quantity}, nil
}

// billable refuses a change of price or seats of a subscription that has
// ended, or whose first payment has not succeeded: Stripe updates an
// incomplete subscription in no way that bills.
func billable(sub *Subscription, what string) error {
	switch {
	case sub.Ended():
		return endedError(sub, what)
	case sub.Status == SubIncomplete:
		return Errorf(EINVALIDSTATE, "subscription %s is incomplete and cannot be %s until its first payment succeeds: "+
			"the customer pays its open invoice, or cancel it", sub.ID, what)
	}
	return nil
}

func endedError(sub *Subscription, what string) error {
	return Errorf(EINVALIDSTATE, "subscription %s has ended (%s) and cannot be %s; start a new one with a checkout", sub.ID, sub.Status, what)
}

// knownItem refuses a change of price or seats while the plan's item is
// unknown: only a payload listing the subscription's items names it.
func knownItem(sub *Subscription) error {
	if sub.ItemID == "" {
		return Errorf(EINVALIDSTATE, "the plan item of subscription %s is not known yet; "+
			"billing sync --workspace %s fetches it from Stripe", sub.ID, sub.WorkspaceID)
	}
	return nil
}

// checkCount refuses a count that is given but outside 1..max.
func checkCount(field string, n *int64, max int64) error {
	if n != nil && (*n < 1 || *n > max) {
		return Errorf(EINVALID, "%s must be a whole number from 1 to %d", field, max)
	}
	return nil
}

// valueOr is *p, or or for nil.
func valueOr(p *int64, or int64) int64 {
	if p == nil {
		return or
	}
	return *p
}
