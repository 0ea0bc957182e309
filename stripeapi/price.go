package stripeapi

import (
	"context"
	"errors"
	"fmt"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/acme/billing"
)

// Prices implements billing.Payments: one retrieve per id, each bounded by
// the timeout, stopping at the first failure. A price without unit_amount
// (tiered, or customer-chosen) has Amount 0.
func (c *Client) Prices(ctx context.Context, ids []string) ([]billing.Price, error) {
	out := make([]billing.Price, 0, len(ids))
	for _, id := range ids {
		p, err := c.price(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Client) price(parent context.Context, id string) (billing.Price, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	p, err := c.sc.V1Prices.Retrieve(ctx, id, nil)
	if err != nil && parent.Err() != nil {
		// Cut short by the caller (serve stopping): no fault of Stripe's.
		return billing.Price{}, fmt.Errorf("retrieve price %s: %w", id, parent.Err())
	}
	if err != nil {
		ferr := c.fail(err, "retrieve price "+id, "price", id) // logs Stripe's request id
		if missing(err) {
			ferr = billing.Errorf(billing.ESTRIPE, "Stripe has no price %s (listed in the plans file)", id)
		}
		return billing.Price{}, ferr
	}
	out := billing.Price{ID: id, Amount: p.UnitAmount, Currency: string(p.Currency), Active: p.Active}
	if p.Recurring != nil {
		out.Interval, out.IntervalCount = string(p.Recurring.Interval), p.Recurring.IntervalCount
	}
	return out, nil
}

// missing reports whether Stripe answered that the object does not exist.
func missing(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing
}
