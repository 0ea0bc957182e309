package billing

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Stripe subscription statuses the rules treat specially.
const (
	SubActive            = "active"
	SubPastDue           = "past_due"
	SubCanceled          = "canceled"
	SubIncomplete        = "incomplete"
	SubIncompleteExpired = "incomplete_expired"
	SubTrialing          = "trialing"
	SubUnpaid            = "unpaid"
	SubPaused            = "paused"
)

// Subscription mirrors a Stripe subscription.
type Subscription struct {
	ID          string
	CustomerID  string
	WorkspaceID string
	Status      string // Stripe's value
	PriceID     string
	PlanID      string // from the plans file; "" when the price is not in it
	// ItemID, Quantity, Interval and IntervalCount are the plan's item's:
	// the si_… a change of price or seats names, the seats, and how often
	// its price bills (month, 1; year, 1; …).
	ItemID             string
	Quantity           int64
	Interval           string
	IntervalCount      int64
	CurrentPeriodStart time.Time
	CurrentPeriodEnd   time.Time
	CancelAtPeriodEnd  bool
	// CancelAt is when a cancellation Stripe scheduled takes effect.
	CancelAt   time.Time
	CanceledAt time.Time
	EndedAt    time.Time
	TrialStart time.Time
	TrialEnd   time.Time
	// Discount is the subscription's first discount, nil for none.
	Discount *Discount
	// DiscountEventAt is when the last customer.discount.* event applied
	// to it was created: an older payload leaves the discount alone.
	DiscountEventAt time.Time
	// Pause is its pause_collection, nil when collection is not paused.
	Pause *Pause
	// ActionInvoiceID is its invoice whose payment waits for the customer
	// to confirm it (3-D Secure), at ActionURL, the hosted invoice page;
	// "" when none does.
	ActionInvoiceID, ActionURL string
	// PastDueSince is when it last became past_due, zero when it is not:
	// the entitlements' grace counts from it.
	PastDueSince time.Time
	// PaidPeriodKey is the grant that paid the latest paid period, which
	// began at PaidPeriodStart: a period of several months grants monthly,
	// keyed by it (see GrantDueMonths).
	PaidPeriodKey   string
	PaidPeriodStart time.Time
	// PeriodCredits is the monthly_credits that period was granted at, 0
	// when not known: an upgrade in the period tops it up to the new plan's.
	PeriodCredits int64
	// StartDate is when the first period began; it orders the first
	// period's grant against later ones.
	StartDate time.Time
	// FirstPeriodPaid is set by a paid checkout or the paid first invoice; the
	// first period's credits are granted once it is set and the plan is known.
	FirstPeriodPaid bool
	LastEventAt     time.Time
	Metadata        map[string]string  // from the payload; not stored
	Items           []SubscriptionItem // from the payload; not stored
}

// SubscriptionItem is one price a subscription bills, as its payload lists it.
type SubscriptionItem struct {
	ID            string
	PriceID       string
	Quantity      int64
	Interval      string
	IntervalCount int64
}

// Discount is a coupon applied to a subscription. Payloads of API versions
// since 2025-03-31 name a discount by id only; Coupon is then "" until an
// API answer or an older payload tells it.
type Discount struct {
	ID         string
	Coupon     string
	PercentOff float64
	AmountOff  int64
	Currency   string
	EndsAt     time.Time
}

// Pause is a subscription's paused collection (pause_collection): its
// status stays Stripe's (active, usually) while its invoices are voided,
// kept as drafts or marked uncollectible.
type Pause struct {
	Behavior string // void, keep_as_draft, mark_uncollectible
	// ResumesAt is when Stripe resumes collection; zero for never.
	ResumesAt time.Time
	// StartsAt is when a void pause stops the service: the end of the
	// period paid when the pause was first seen (see Entitle).
	StartsAt time.Time
}

// PauseVoid is the pause behavior that voids the invoices: the service
// stops for it, while the other behaviors give it for free or on credit.
const PauseVoid = "void"

// stopsService reports whether p stops the service at its start: a void
// pause Stripe has not resumed by now.
func (p *Pause) stopsService(now time.Time) bool {
	return p != nil && p.Behavior == PauseVoid && (p.ResumesAt.IsZero() || now.Before(p.ResumesAt))
}

// same reports whether two pauses (nil for none) are the same.
func (p *Pause) same(q *Pause) bool {
	if p == nil || q == nil {
		return p == q
	}
	return *p == *q
}

// keepPauseStart keeps when a pause already seen starts; a new one starts at
// the end of the period already paid (or at, with none known).
func keepPauseStart(stored, next *Pause, periodEnd, at time.Time) *Pause {
	if next == nil {
		return nil
	}
	p := *next
	switch {
	case stored != nil && stored.Behavior == next.Behavior && !stored.StartsAt.IsZero():
		p.StartsAt = stored.StartsAt
	case !periodEnd.IsZero():
		p.StartsAt = periodEnd
	default:
		p.StartsAt = at
	}
	return &p
}

// statusCanChange reports whether a subscription in status from may be moved
// to status to. Stripe never revives a canceled or expired subscription and
// never returns one to incomplete, so a late event cannot set those back even
// when it was created in the same second as the newer one.
func statusCanChange(from, to string) bool {
	switch {
	case from == "" || from == to:
		return true
	case from == SubCanceled || from == SubIncompleteExpired:
		return false
	case to == SubIncomplete:
		return false
	}
	return true
}

// subscription applies customer.subscription.* events.
func (a *applier) subscription(ctx context.Context, s *Subscription) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{s.Metadata[MetadataWorkspaceID]}, s.CustomerID, s.ID)
	if err != nil {
		return "", err
	}
	cur, err := a.subscriptionOrStub(ctx, s.ID, s.CustomerID, ws)
	if err != nil {
		return "", err
	}
	if a.e.Type == "customer.subscription.deleted" {
		ended(s, a.e.Created)
	}
	stale := a.stale(cur.LastEventAt)
	if !stale {
		next := *s
		next.WorkspaceID = coalesce(cur.WorkspaceID, ws)
		next.FirstPeriodPaid = cur.FirstPeriodPaid
		if next.StartDate.IsZero() || (!cur.StartDate.IsZero() && cur.StartDate.Before(next.StartDate)) {
			next.StartDate = cur.StartDate
		}
		item, planID := a.pickPlan(s.Items)
		next.ItemID, next.PriceID, next.PlanID, next.Quantity, next.Interval, next.IntervalCount =
			item.ID, item.PriceID, planID, item.Quantity, item.Interval, item.IntervalCount
		next.LastEventAt = a.e.Created
		if !statusCanChange(cur.Status, s.Status) {
			next.Status = cur.Status
		}
		next.PastDueSince = pastDueSince(cur, next.Status, a.e.Created)
		next.PaidPeriodKey, next.PaidPeriodStart, next.PeriodCredits = cur.PaidPeriodKey, cur.PaidPeriodStart, cur.PeriodCredits
		next.notePaidFirstPeriod()
		next.Discount, next.DiscountEventAt = a.payloadDiscount(cur.Discount, next.Discount, cur.DiscountEventAt), cur.DiscountEventAt
		if next.CurrentPeriodEnd.Before(cur.CurrentPeriodEnd) {
			// A paid renewal invoice already started a later period.
			next.CurrentPeriodStart, next.CurrentPeriodEnd = cur.CurrentPeriodStart, cur.CurrentPeriodEnd
		}
		next.Pause = keepPauseStart(cur.Pause, next.Pause, next.CurrentPeriodEnd, a.e.Created)
		if next.Status != SubCanceled && next.Status != SubIncompleteExpired {
			next.ActionInvoiceID, next.ActionURL = cur.ActionInvoiceID, cur.ActionURL // an ended one asks for nothing
		}
		from := cur.PlanID
		cur = &next
		if err := a.tx.SaveSubscription(ctx, cur); err != nil {
			return "", err
		}
		a.logStatus(cur)
		err := a.grantUpgrade(ctx, cur, from, cur.PriceID, cur.CurrentPeriodStart, cur.CurrentPeriodEnd, a.e.Created, false)
		if err != nil {
			return "", err
		}
	}
	if a.e.Type == "customer.subscription.trial_will_end" {
		if err := a.notifyTrialWillEnd(ctx, s, cur); err != nil {
			return "", err
		}
	}
	if a.e.Type == "customer.subscription.deleted" {
		if err := a.tx.DiscardNotifications(ctx, s.ID, "the subscription ended before it was sent"); err != nil {
			return "", err
		}
		err := a.grant(ctx, &Grant{Key: subscriptionEndKey(s.ID), Kind: GrantEnd, WorkspaceID: cur.WorkspaceID,
			CustomerID: cur.CustomerID, SubscriptionID: s.ID, PeriodStart: s.EndedAt,
			Reason: "subscription " + s.ID + " ended"})
		if err != nil {
			return "", err
		}
	}
	return outcome(stale), a.grantFirstPeriod(ctx, cur)
}

// ended makes a deleted subscription's payload say what its deletion
// means, whatever the payload's API version or fixture says: canceled (or
// incomplete_expired, a first payment never made), and ended when it ended,
// else when it was canceled, else when the event says.
func ended(s *Subscription, eventAt time.Time) {
	if s.Status != SubIncompleteExpired {
		s.Status = SubCanceled
	}
	for _, t := range []time.Time{s.CanceledAt, eventAt} {
		if s.EndedAt.IsZero() {
			s.EndedAt = t
		}
	}
}

// subscriptionOrStub returns the stored subscription, or a new one that
// events for other objects (checkout, invoices) can start before Stripe's
// subscription event arrives.
func (a *applier) subscriptionOrStub(ctx context.Context, id, customerID, ws string) (*Subscription, error) {
	s, err := a.tx.Subscription(ctx, id)
	switch {
	case isNotFound(err):
		return &Subscription{ID: id, CustomerID: customerID, WorkspaceID: ws}, nil
	case err != nil:
		return nil, err
	}
	s.WorkspaceID = coalesce(s.WorkspaceID, ws)
	s.CustomerID = coalesce(s.CustomerID, customerID)
	return s, nil
}

// activate marks a subscription whose first payment succeeded active, unless
// its own events already moved it on. It leaves LastEventAt alone: the
// evidence is another object's event, and the subscription's own events,
// even older ones, know more about it.
func (a *applier) activate(s *Subscription) {
	if s.Status == "" || s.Status == SubIncomplete {
		s.Status = SubActive
		a.logStatus(s)
	}
}

func (a *applier) logStatus(s *Subscription) {
	a.log.Info(fmt.Sprintf("Updated subscription %s to %s", s.ID, strings.ToUpper(s.Status)),
		"subscription", s.ID, "status", s.Status, "workspace", s.WorkspaceID)
}

// pickPlan returns the first of a subscription's items whose price a plan
// sells, and that plan's id; else the first item and no plan.
func (a *applier) pickPlan(items []SubscriptionItem) (SubscriptionItem, string) {
	for _, it := range items {
		if plan, ok := a.Plans.ByPrice(it.PriceID); ok {
			return it, plan.ID
		}
	}
	if len(items) == 0 {
		return SubscriptionItem{}, ""
	}
	return items[0], a.planID(items[0].PriceID)
}

// pastDueSince is when a subscription moving to status became past due: the
// time it was so far, or at for a new past due, or zero when it is not.
func pastDueSince(cur *Subscription, status string, at time.Time) time.Time {
	switch {
	case status != SubPastDue:
		return time.Time{}
	case cur.Status == SubPastDue && !cur.PastDueSince.IsZero():
		return cur.PastDueSince
	}
	return at
}

// keepDiscountDetails keeps what is known of a discount a payload names by
// id only.
func keepDiscountDetails(stored, next *Discount) *Discount {
	if next != nil && next.Coupon == "" && stored != nil && stored.ID == next.ID {
		return stored
	}
	return next
}

func (a *applier) planID(priceID string) string {
	if priceID == "" {
		return ""
	}
	p, ok := a.Plans.ByPrice(priceID)
	if !ok {
		a.log.Warn("Stripe price is in no plan of the plans file; no credits for it", "price", priceID)
		return ""
	}
	return p.ID
}

// notePaid records that the period starting at start was paid by the grant
// key, unless a later period's payment is known.
func (s *Subscription) notePaid(key string, start time.Time) {
	if s.PaidPeriodKey == "" || !start.Before(s.PaidPeriodStart) {
		s.PaidPeriodKey, s.PaidPeriodStart = key, start
	}
}

// notePaidFirstPeriod notes the first period as paid, unless it is a trial:
// nothing paid for it, and months of credits are owed only for what was.
func (s *Subscription) notePaidFirstPeriod() {
	if s.FirstPeriodPaid && !s.startsWithTrial() {
		s.notePaid(firstPeriodKey(s.ID), s.StartDate)
	}
}

// grantFirstPeriod grants the plan's credits for the first period once the
// first period is paid and the plan is known, whichever event told which.
func (a *applier) grantFirstPeriod(ctx context.Context, s *Subscription) error {
	if !s.FirstPeriodPaid || s.PlanID == "" {
		return nil
	}
	plan, ok := a.Plans.ByID(s.PlanID)
	if !ok {
		return nil
	}
	amount, what := plan.MonthlyCredits, "first period"
	if s.startsWithTrial() {
		// The trial's lot; the first paid period, a renewal, grants
		// monthly_credits as a lot of its own.
		amount, what = plan.TrialGrant(), "trial"
	}
	fresh, err := a.grantOnce(ctx, &Grant{
		Key: firstPeriodKey(s.ID), Kind: GrantPeriod, Bucket: BucketSubscription, Amount: amount,
		PeriodStart: s.StartDate,
		WorkspaceID: s.WorkspaceID, CustomerID: s.CustomerID, SubscriptionID: s.ID,
		Reason: fmt.Sprintf("plan %s: %s", plan.ID, what),
	})
	if err != nil || !fresh || s.PaidPeriodKey != firstPeriodKey(s.ID) {
		return err
	}
	return a.notePeriodCredits(ctx, s, plan.MonthlyCredits)
}

// notePeriodCredits records the monthly_credits the current paid period has
// been granted at.
func (a *applier) notePeriodCredits(ctx context.Context, s *Subscription, credits int64) error {
	if s.PeriodCredits == credits {
		return nil
	}
	s.PeriodCredits = credits
	return a.tx.SaveSubscription(ctx, s)
}

// startsWithTrial reports whether the first period is a trial: the trial
// ends after the subscription started.
func (s *Subscription) startsWithTrial() bool {
	return !s.TrialEnd.IsZero() && s.TrialEnd.After(s.StartDate)
}
