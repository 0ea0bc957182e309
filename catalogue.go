package billing

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// PriceRefresh is the outcome of the last refresh of the price cache: when
// it ran, and why it failed ("" when it did not). The zero value: never.
type PriceRefresh struct {
	At    time.Time
	Error string
}

// CataloguePlan is a plan with its prices as Stripe has them.
type CataloguePlan struct {
	Plan
	// Prices are the plan's prices in plans-file order, or nil when one of
	// them is not cached; PricesError then says why.
	Prices      []Price
	PricesError string
}

// Why a plan's prices are unknown, when no refresh has failed to say.
const (
	PricesNotConfigured = "Stripe is not configured"
	PricesNotFetched    = "Stripe prices not fetched yet"
)

// RefreshPrices fetches every plan's prices from Stripe into the cache that
// all instances answer from, and returns how many it fetched. A failure is
// recorded as the last refresh's error and returned; the prices cached
// before stay.
func (s *Service) RefreshPrices(ctx context.Context) (int, error) {
	p, err := s.payments()
	if err != nil {
		return 0, err
	}
	r := PriceRefresh{At: s.now()}
	prices, err := p.Prices(ctx, s.Plans.PriceIDs())
	if err != nil {
		// A refresh cut short by shutdown says nothing about Stripe.
		if ctx.Err() == nil {
			r.Error = ErrorMessage(err)
			if serr := s.Store.SavePrices(ctx, nil, r); serr != nil {
				s.logger().Error("Could not record the failed refresh of prices", "error", serr)
			}
		}
		return 0, fmt.Errorf("fetch the plans' prices: %w", err)
	}
	if err := s.Store.SavePrices(ctx, prices, r); err != nil {
		return 0, fmt.Errorf("cache the plans' prices: %w", err)
	}
	return len(prices), nil
}

// Catalogue returns the plans in file order with their cached prices. It
// never calls Stripe, so Stripe's failures cannot fail it: a plan whose
// prices are not all cached has none, and PricesError says why.
func (s *Service) Catalogue(ctx context.Context) ([]CataloguePlan, error) {
	plans := s.Plans.List()
	out := make([]CataloguePlan, len(plans))
	if s.Payments == nil {
		for i, pl := range plans {
			out[i] = CataloguePlan{Plan: pl, PricesError: PricesNotConfigured}
		}
		return out, nil
	}
	cached, last, err := s.Store.CachedPrices(ctx)
	if err != nil {
		return nil, err
	}
	why := cmp.Or(last.Error, PricesNotFetched)
	for i, pl := range plans {
		out[i] = CataloguePlan{Plan: pl}
		for _, id := range pl.StripePriceIDs {
			price, ok := cached[id]
			if !ok {
				out[i].Prices, out[i].PricesError = nil, why
				break
			}
			out[i].Prices = append(out[i].Prices, price)
		}
	}
	return out, nil
}
