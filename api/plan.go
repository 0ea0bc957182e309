package api

import (
	"maps"
	"net/http"

	"github.com/acme/billing"
)

type plansJSON struct {
	Plans []planJSON `json:"plans"`
}

type planJSON struct {
	ID             string                     `json:"id"`
	Name           string                     `json:"name"`
	MonthlyCredits int64                      `json:"monthly_credits"`
	TrialCredits   int64                      `json:"trial_credits"`
	Features       map[string]billing.Feature `json:"features"`
	// Prices is null, and PricesError says why, when they are not known.
	Prices      []priceJSON `json:"prices"`
	PricesError string      `json:"prices_error,omitempty"`
}

type priceJSON struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Interval      string `json:"interval"`
	IntervalCount int64  `json:"interval_count"`
	Active        bool   `json:"active"`
}

func toPlanJSON(c billing.CataloguePlan) planJSON {
	out := planJSON{ID: c.ID, Name: c.Name, MonthlyCredits: c.MonthlyCredits, TrialCredits: c.TrialGrant(),
		Features: map[string]billing.Feature{}, PricesError: c.PricesError}
	maps.Copy(out.Features, c.Features)
	if c.Prices != nil {
		out.Prices = make([]priceJSON, 0, len(c.Prices))
	}
	for _, p := range c.Prices {
		out.Prices = append(out.Prices, priceJSON{ID: p.ID, Amount: p.Amount, Currency: p.Currency,
			Interval: p.Interval, IntervalCount: p.IntervalCount, Active: p.Active})
	}
	return out
}

// listPlansHandler answers the plan catalogue from the price cache: it
// never waits for Stripe, and Stripe's failures show in prices_error.
func (s *Server) listPlansHandler(w http.ResponseWriter, r *http.Request) {
	plans, err := s.Service.Catalogue(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := plansJSON{Plans: make([]planJSON, 0, len(plans))}
	for _, p := range plans {
		out.Plans = append(out.Plans, toPlanJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}
