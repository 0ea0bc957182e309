package billing

import (
	"context"
	"time"
)

// Customer mirrors a Stripe customer and the workspace it belongs to.
type Customer struct {
	ID          string
	WorkspaceID string
	Email       string
	Name        string
	Deleted     bool
	// Discount is the customer's discount, which applies to those of its
	// subscriptions without one of their own; nil for none.
	Discount *Discount
	// DiscountEventAt: see Subscription.DiscountEventAt.
	DiscountEventAt time.Time
	LastEventAt     time.Time
	Metadata        map[string]string // from the payload; not stored
}

// customer applies customer.* events. A deleted customer stays stored, marked
// deleted, so that its subscriptions' later events still find their workspace.
func (a *applier) customer(ctx context.Context, c *Customer) (EventStatus, error) {
	ws, err := a.resolve(ctx, []string{c.Metadata[MetadataWorkspaceID]}, c.ID, "")
	if err != nil {
		return "", err
	}
	cur, err := a.tx.Customer(ctx, c.ID)
	switch {
	case isNotFound(err):
		cur = &Customer{ID: c.ID}
	case err != nil:
		return "", err
	}
	if a.stale(cur.LastEventAt) {
		return StatusStale, nil
	}
	next := *c
	next.WorkspaceID = coalesce(cur.WorkspaceID, ws)
	next.Deleted = cur.Deleted || c.Deleted || a.e.Type == "customer.deleted"
	next.Discount, next.DiscountEventAt = a.payloadDiscount(cur.Discount, next.Discount, cur.DiscountEventAt), cur.DiscountEventAt
	next.LastEventAt = a.e.Created
	return StatusProcessed, a.tx.SaveCustomer(ctx, &next)
}
