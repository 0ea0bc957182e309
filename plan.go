package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Plan is one entry of the plans file: what a Stripe price sells.
type Plan struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	StripePriceIDs []string `json:"stripe_price_ids"`
	MonthlyCredits int64    `json:"monthly_credits"`
	// Features are what the plan gives, by feature name: on, or a limit.
	Features map[string]Feature `json:"features,omitempty"`
	// TrialCredits is what a trial period grants; nil means MonthlyCredits.
	TrialCredits *int64 `json:"trial_credits,omitempty"`
}

// TrialGrant is the credits a trial period of the plan grants.
func (p Plan) TrialGrant() int64 {
	if p.TrialCredits != nil {
		return *p.TrialCredits
	}
	return p.MonthlyCredits
}

// MaxFeatureLimit caps a feature's limit, as MaxMetadataCredits caps credits.
const MaxFeatureLimit = 1_000_000_000

// MaxFeatureName is the longest feature name, in bytes.
const MaxFeatureName = 64

// Feature is what a plan gives of one feature: either on (JSON true) or a
// limit (a JSON whole number from 0 to MaxFeatureLimit, e.g. seats). The
// zero value is on.
type Feature struct {
	limit   int64
	limited bool
}

// FeatureLimit returns a feature limited to n.
func FeatureLimit(n int64) Feature { return Feature{limit: n, limited: true} }

// Limit returns the feature's limit, or limited false for a feature that is
// simply on.
func (f Feature) Limit() (n int64, limited bool) { return f.limit, f.limited }

// MarshalJSON writes true or the limit.
func (f Feature) MarshalJSON() ([]byte, error) {
	if !f.limited {
		return []byte("true"), nil
	}
	return strconv.AppendInt(nil, f.limit, 10), nil
}

// UnmarshalJSON reads true or a whole number written plainly.
func (f *Feature) UnmarshalJSON(b []byte) error {
	v, err := parseFeature(b)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// parseFeature reads a feature's JSON value: true, or digits alone (no
// sign, fraction or exponent). false is refused rather than read as "off":
// a plan without the feature simply does not list it.
func parseFeature(b []byte) (Feature, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "true" {
		return Feature{}, nil
	}
	if len(b) > 0 && !slices.ContainsFunc(b, func(c byte) bool { return c < '0' || c > '9' }) {
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return FeatureLimit(n), nil
		}
	}
	return Feature{}, fmt.Errorf("is %s: want true or a whole number from 0 to %d", b, MaxFeatureLimit)
}

// checkFeature reports what is wrong with a feature's name or limit.
func checkFeature(name string, f Feature) error {
	switch {
	case name == "" || len(name) > MaxFeatureName || strings.IndexFunc(name, notFeatureChar) >= 0:
		return fmt.Errorf("is not a feature name: want 1 to %d of the characters a-z 0-9 _ . -", MaxFeatureName)
	case f.limited && f.limit < 0:
		return fmt.Errorf("has a negative limit %d", f.limit)
	case f.limited && f.limit > MaxFeatureLimit:
		return fmt.Errorf("has limit %d, above the cap of %d", f.limit, MaxFeatureLimit)
	}
	return nil
}

func notFeatureChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
}

// Plans maps Stripe price ids to plans. The zero value knows no plan.
type Plans struct {
	list    []Plan
	byPrice map[string]*Plan
}

// ParsePlans reads a plans file. It rejects unknown fields, empty ids,
// duplicate plan or price ids, credits below 0 or above MaxMetadataCredits,
// and features that are not true or a limit from 0 to MaxFeatureLimit.
func ParsePlans(data []byte) (*Plans, error) {
	if err := checkFeatureValues(data); err != nil {
		return nil, err
	}
	var file struct {
		Plans []Plan `json:"plans"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("plans file: %w", err)
	}
	return NewPlans(file.Plans)
}

// checkFeatureValues reads each plan's features before the strict decode,
// whose errors could name neither the plan nor the feature. A file that
// does not decode even loosely is left to the strict decode to describe.
func checkFeatureValues(data []byte) error {
	var file struct {
		Plans []struct {
			ID       string                     `json:"id"`
			Features map[string]json.RawMessage `json:"features"`
		} `json:"plans"`
	}
	if json.Unmarshal(data, &file) != nil {
		return nil
	}
	for i, pl := range file.Plans {
		for _, name := range slices.Sorted(maps.Keys(pl.Features)) {
			if _, err := parseFeature(pl.Features[name]); err != nil {
				return fmt.Errorf("plans file: %s: feature %q %w", planName(pl.ID, i), name, err)
			}
		}
	}
	return nil
}

// planName names the i-th plan of a file (from 0) in an error.
func planName(id string, i int) string {
	if id == "" {
		return fmt.Sprintf("plan %d", i+1)
	}
	return fmt.Sprintf("plan %q", id)
}

// NewPlans validates plans and indexes them by price id.
func NewPlans(list []Plan) (*Plans, error) {
	p := &Plans{list: list, byPrice: map[string]*Plan{}}
	ids := map[string]bool{}
	for i := range p.list {
		pl := &p.list[i]
		if err := checkPlan(pl, i, ids); err != nil {
			return nil, fmt.Errorf("plans file: %w", err)
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

// checkPlan reports what is wrong with the i-th plan (from 0), given the
// ids of the plans before it.
func checkPlan(pl *Plan, i int, ids map[string]bool) error {
	switch {
	case pl.ID == "":
		return fmt.Errorf("plan %d has no id", i+1)
	case ids[pl.ID]:
		return fmt.Errorf("duplicate plan id %q", pl.ID)
	case len(pl.StripePriceIDs) == 0:
		return fmt.Errorf("plan %q has no stripe_price_ids", pl.ID)
	}
	if err := checkCredits("monthly_credits", pl.MonthlyCredits); err != nil {
		return fmt.Errorf("plan %q has %w", pl.ID, err)
	}
	if pl.TrialCredits != nil {
		if err := checkCredits("trial_credits", *pl.TrialCredits); err != nil {
			return fmt.Errorf("plan %q has %w", pl.ID, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(pl.Features)) {
		if err := checkFeature(name, pl.Features[name]); err != nil {
			return fmt.Errorf("plan %q: feature %q %w", pl.ID, name, err)
		}
	}
	return nil
}

// checkCredits bounds what one period of a plan grants.
func checkCredits(field string, n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("negative %s %d", field, n)
	case n > MaxMetadataCredits:
		return fmt.Errorf("%s %d, above the cap of %d", field, n, MaxMetadataCredits)
	}
	return nil
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

// HasFeature reports whether any plan lists the feature.
func (p *Plans) HasFeature(name string) bool {
	if p == nil {
		return false
	}
	return slices.ContainsFunc(p.list, func(pl Plan) bool {
		_, ok := pl.Features[name]
		return ok
	})
}

// List returns the plans in file order.
func (p *Plans) List() []Plan {
	if p == nil {
		return nil
	}
	return append([]Plan(nil), p.list...)
}

// PriceIDs returns every plan's Stripe price ids, in file order.
func (p *Plans) PriceIDs() []string {
	var ids []string
	for _, pl := range p.List() {
		ids = append(ids, pl.StripePriceIDs...)
	}
	return ids
}

// Price is a Stripe price of a plan, as Stripe has it.
type Price struct {
	ID string
	// Amount is the unit_amount, in the currency's minor unit; 0 for a
	// price Stripe gives none (tiered, or customer-chosen).
	Amount   int64
	Currency string
	// Interval is day, week, month or year, "" for a one-time price;
	// IntervalCount how many of them one period lasts.
	Interval      string
	IntervalCount int64
	Active        bool
}
