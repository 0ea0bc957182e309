package billing

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Plan is one entry of the plans file: what a Stripe price sells.
type Plan struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	StripePriceIDs []string `json:"stripe_price_ids"`
	MonthlyCredits int64    `json:"monthly_credits"`
}

// Plans maps Stripe price ids to plans. The zero value knows no plan.
type Plans struct {
	list    []Plan
	byPrice map[string]*Plan
}

// ParsePlans reads a plans file. It rejects unknown fields, empty ids,
// duplicate plan or price ids, and credits below 0 or above MaxMetadataCredits.
func ParsePlans(data []byte) (*Plans, error) {
	var file struct {
		Plans []Plan `json:"plans"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("plans file: %w", err)
	}
	return NewPlans(file.Plans)
}

// NewPlans validates plans and indexes them by price id.
func NewPlans(list []Plan) (*Plans, error) {
	p := &Plans{list: list, byPrice: map[string]*Plan{}}
	ids := map[string]bool{}
	for i := range p.list {
		pl := &p.list[i]
		switch {
		case pl.ID == "":
			return nil, fmt.Errorf("plans file: plan %d has no id", i+1)
		case ids[pl.ID]:
			return nil, fmt.Errorf("plans file: duplicate plan id %q", pl.ID)
		case pl.MonthlyCredits < 0:
			return nil, fmt.Errorf("plans file: plan %q has negative monthly_credits %d", pl.ID, pl.MonthlyCredits)
		case pl.MonthlyCredits > MaxMetadataCredits:
			return nil, fmt.Errorf("plans file: plan %q has monthly_credits %d, above the cap of %d", pl.ID, pl.MonthlyCredits, MaxMetadataCredits)
		case len(pl.StripePriceIDs) == 0:
			return nil, fmt.Errorf("plans file: plan %q has no stripe_price_ids", pl.ID)
		}
		ids[pl.ID] = true
		for _, price := range pl.StripePriceIDs {
			if !strings.HasPrefix(price, "price_") && !strings.HasPrefix(price, "plan_") {
				return nil, fmt.Errorf("plans file: plan %q: %q is not a Stripe price id (price_…)", pl.ID, price)
			}
			if other, dup := p.byPrice[price]; dup {
				return nil, fmt.Errorf("plans file: price %q is in both plan %q and plan %q", price, other.ID, pl.ID)
			}
			p.byPrice[price] = pl
		}
	}
	return p, nil
}

// ByPrice returns the plan that sells a Stripe price.
func (p *Plans) ByPrice(priceID string) (Plan, bool) {
	if p == nil || p.byPrice == nil {
		return Plan{}, false
	}
	pl, ok := p.byPrice[priceID]
	if !ok {
		return Plan{}, false
	}
	return *pl, true
}

// ByID returns the plan with the given id.
func (p *Plans) ByID(id string) (Plan, bool) {
	if p == nil {
		return Plan{}, false
	}
	for _, pl := range p.list {
		if pl.ID == id {
			return pl, true
		}
	}
	return Plan{}, false
}

// List returns the plans in file order.
func (p *Plans) List() []Plan {
	if p == nil {
		return nil
	}
	return append([]Plan(nil), p.list...)
}
