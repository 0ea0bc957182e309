package billing

import (
	"context"
	"time"
)

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// DiscountChange is the discount of a customer.discount.* event: a coupon
// applied to one subscription, or to a customer (its subscriptions without
// a discount of their own).
type DiscountChange struct {
	Discount
	CustomerID     string
	SubscriptionID string // "" for a customer's discount
}

// payloadDiscount is the discount an object's own event leaves on it: its
// payload's, with what is known of it kept, unless a customer.discount.*
// event newer than this event set the stored one (at discountAt).
func (a *applier) payloadDiscount(stored, payload *Discount, discountAt time.Time) *Discount {
	if a.e.Created.Before(discountAt) {
		return stored
	}
	return keepDiscountDetails(stored, payload)
}

// discount mirrors customer.discount.* on the subscription it applies to,
// else on its customer, so that the read model shows it. Deleted, it goes,
// unless another discount took its place since. An event older than the
// last discount event, or the last event of the object, applied to it
// changes nothing (stale); its time is the discount's own (DiscountEventAt),
// so that the object's older events still apply, the discount aside.
func (a *applier) discount(ctx context.Context, d *DiscountChange) (EventStatus, error) {
	ws, err := a.resolve(ctx, nil, d.CustomerID, d.SubscriptionID)
	if err != nil {
		return "", err
	}
	next := func(cur *Discount) *Discount {
		switch {
		case a.e.Type != "customer.discount.deleted":
			return keepDiscountDetails(cur, &d.Discount)
		case cur != nil && cur.ID != d.ID:
			return cur
		}
		return nil
	}
	if d.SubscriptionID != "" {
		sub, err := a.subscriptionOrStub(ctx, d.SubscriptionID, d.CustomerID, ws)
		if err != nil || a.stale(later(sub.LastEventAt, sub.DiscountEventAt)) {
			return StatusStale, err
		}
		sub.Discount, sub.DiscountEventAt = next(sub.Discount), a.e.Created
		return StatusProcessed, a.tx.SaveSubscription(ctx, sub)
	}
	c, err := a.tx.Customer(ctx, d.CustomerID)
	switch {
	case isNotFound(err):
		c = &Customer{ID: d.CustomerID}
	case err != nil:
		return "", err
	}
	if a.stale(later(c.LastEventAt, c.DiscountEventAt)) {
		return StatusStale, nil
	}
	c.WorkspaceID, c.Discount, c.DiscountEventAt = coalesce(c.WorkspaceID, ws), next(c.Discount), a.e.Created
	return StatusProcessed, a.tx.SaveCustomer(ctx, c)
}
