package billing_test

import (
	"strings"
	"testing"

	"github.com/acme/billing"
)

func TestParsePlans(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"valid", `{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["price_123","price_456"],"monthly_credits":1000}]}`, ""},
		{"zero credits", `{"plans":[{"id":"free","stripe_price_ids":["price_0"],"monthly_credits":0}]}`, ""},
		{"duplicate price", `{"plans":[{"id":"a","stripe_price_ids":["price_1"]},{"id":"b","stripe_price_ids":["price_1"]}]}`, `price "price_1" is in both plan "a" and plan "b"`},
		{"duplicate price in one plan", `{"plans":[{"id":"a","stripe_price_ids":["price_1","price_1"]}]}`, `price "price_1" is in both`},
		{"negative credits", `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"monthly_credits":-5}]}`, "negative monthly_credits -5"},
		{"credits above the cap", `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"monthly_credits":1000000001}]}`, "monthly_credits 1000000001, above the cap of 1000000000"},
		{"credits at the cap", `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"monthly_credits":1000000000}]}`, ""},
		{"duplicate plan id", `{"plans":[{"id":"a","stripe_price_ids":["price_1"]},{"id":"a","stripe_price_ids":["price_2"]}]}`, `duplicate plan id "a"`},
		{"no id", `{"plans":[{"stripe_price_ids":["price_1"]}]}`, "plan 1 has no id"},
		{"no prices", `{"plans":[{"id":"a"}]}`, "has no stripe_price_ids"},
		{"not a price id", `{"plans":[{"id":"a","stripe_price_ids":["prod_1"]}]}`, "is not a Stripe price id"},
		{"unknown field", `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"credits":5}]}`, `unknown field "credits"`},
		{"credits not a number", `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"monthly_credits":"5"}]}`, "cannot unmarshal"},
		{"not JSON", `plans: []`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := billing.ParsePlans([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(p.List()) != 1 {
					t.Errorf("plans = %v", p.List())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlansLookup(t *testing.T) {
	p, err := billing.ParsePlans([]byte(`{"plans":[{"id":"pro","stripe_price_ids":["price_m","price_y"],"monthly_credits":1000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if pl, ok := p.ByPrice("price_y"); !ok || pl.ID != "pro" || pl.MonthlyCredits != 1000 {
		t.Errorf("ByPrice(price_y) = %v, %v", pl, ok)
	}
	if _, ok := p.ByPrice("price_other"); ok {
		t.Error("an unknown price found a plan")
	}
	var none *billing.Plans
	if _, ok := none.ByPrice("price_m"); ok {
		t.Error("nil plans found a plan")
	}
}
