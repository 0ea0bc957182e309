package billing_test

import (
	"encoding/json"
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

// plansWith is a plans file of one plan "pro" with the given extra fields.
func plansWith(fields string) string {
	return `{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["price_1"],"monthly_credits":1000` + fields + `}]}`
}

func TestParsePlansFeaturesAndTrialCredits(t *testing.T) {
	const want = "want true or a whole number from 0 to 1000000000"
	tests := []struct {
		name, fields, wantErr string
		check                 func(t *testing.T, p billing.Plan)
	}{
		{"an old file: no features, trials grant monthly_credits", ``, "", func(t *testing.T, p billing.Plan) {
			if p.Features != nil || p.TrialCredits != nil || p.TrialGrant() != 1000 {
				t.Errorf("features %v, trial credits %v, trial grant %d; want none, none, 1000", p.Features, p.TrialCredits, p.TrialGrant())
			}
		}},
		{"features on and limited", `,"features":{"exports":true,"seats":5,"api.calls_v-2":0,"max":1000000000}`, "", func(t *testing.T, p billing.Plan) {
			for name, limit := range map[string]int64{"seats": 5, "api.calls_v-2": 0, "max": 1_000_000_000} {
				if n, limited := p.Features[name].Limit(); !limited || n != limit {
					t.Errorf("%s: Limit() = %d, %v; want %d, true", name, n, limited, limit)
				}
			}
			if n, limited := p.Features["exports"].Limit(); limited || n != 0 {
				t.Errorf("exports: Limit() = %d, %v; want on, unlimited", n, limited)
			}
		}},
		{"an empty features object", `,"features":{}`, "", func(t *testing.T, p billing.Plan) {
			if len(p.Features) != 0 {
				t.Errorf("features = %v", p.Features)
			}
		}},
		{"a 64-character name", `,"features":{"` + strings.Repeat("a", 64) + `":true}`, "", nil},
		{"trial_credits", `,"trial_credits":50`, "", func(t *testing.T, p billing.Plan) {
			if p.TrialGrant() != 50 {
				t.Errorf("TrialGrant() = %d, want 50", p.TrialGrant())
			}
		}},
		{"no trial credits", `,"trial_credits":0`, "", func(t *testing.T, p billing.Plan) {
			if p.TrialGrant() != 0 {
				t.Errorf("TrialGrant() = %d, want 0", p.TrialGrant())
			}
		}},
		{"trial_credits null is the default", `,"trial_credits":null`, "", func(t *testing.T, p billing.Plan) {
			if p.TrialGrant() != 1000 {
				t.Errorf("TrialGrant() = %d, want 1000", p.TrialGrant())
			}
		}},
		{"trial_credits at the cap", `,"trial_credits":1000000000`, "", nil},

		{"false", `,"features":{"exports":false}`, `plan "pro": feature "exports" is false: ` + want, nil},
		{"negative", `,"features":{"seats":-1}`, `plan "pro": feature "seats" is -1: ` + want, nil},
		{"a fraction", `,"features":{"seats":1.5}`, `feature "seats" is 1.5: ` + want, nil},
		{"a whole number written as a fraction", `,"features":{"seats":5.0}`, `feature "seats" is 5.0: ` + want, nil},
		{"an exponent", `,"features":{"seats":1e3}`, `feature "seats" is 1e3: ` + want, nil},
		{"a string", `,"features":{"seats":"5"}`, `feature "seats" is "5": ` + want, nil},
		{"null", `,"features":{"seats":null}`, `feature "seats" is null: ` + want, nil},
		{"an object", `,"features":{"seats":{"max":5}}`, `feature "seats" is {"max":5}: ` + want, nil},
		{"past 64 bits", `,"features":{"seats":99999999999999999999}`, `feature "seats" is 99999999999999999999: ` + want, nil},
		{"above the cap", `,"features":{"seats":1000000001}`, `plan "pro": feature "seats" has limit 1000000001, above the cap of 1000000000`, nil},
		{"features not an object", `,"features":["exports"]`, "cannot unmarshal array", nil},
		{"an upper-case name", `,"features":{"Exports":true}`, `plan "pro": feature "Exports" is not a feature name: want 1 to 64 of the characters a-z 0-9 _ . -`, nil},
		{"an empty name", `,"features":{"":true}`, `feature "" is not a feature name`, nil},
		{"a space in a name", `,"features":{"bulk export":true}`, `feature "bulk export" is not a feature name`, nil},
		{"a colon in a name", `,"features":{"a:b":true}`, `feature "a:b" is not a feature name`, nil},
		{"a non-ASCII name", `,"features":{"exporté":true}`, `feature "exporté" is not a feature name`, nil},
		{"a 65-character name", `,"features":{"` + strings.Repeat("a", 65) + `":true}`, `is not a feature name`, nil},
		{"negative trial_credits", `,"trial_credits":-1`, `plan "pro" has negative trial_credits -1`, nil},
		{"trial_credits above the cap", `,"trial_credits":1000000001`, `plan "pro" has trial_credits 1000000001, above the cap of 1000000000`, nil},
		{"trial_credits a string", `,"trial_credits":"50"`, "cannot unmarshal", nil},
		{"an unknown field beside them", `,"features":{"exports":true},"trial_days":14`, `unknown field "trial_days"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := billing.ParsePlans([]byte(plansWith(tt.fields)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, p.List()[0])
			}
		})
	}
}

// A feature error names the plan by its place when it has no id.
func TestFeatureErrorOfAPlanWithoutID(t *testing.T) {
	_, err := billing.ParsePlans([]byte(`{"plans":[{"id":"a","stripe_price_ids":["price_1"]},{"stripe_price_ids":["price_2"],"features":{"seats":-2}}]}`))
	if err == nil || !strings.Contains(err.Error(), `plan 2: feature "seats" is -2`) {
		t.Errorf("err = %v", err)
	}
}

// Plans built in code are held to the rules of the file.
func TestNewPlansChecksFeatures(t *testing.T) {
	for _, tt := range []struct {
		features map[string]billing.Feature
		wantErr  string
	}{
		{map[string]billing.Feature{"seats": billing.FeatureLimit(-1)}, `feature "seats" has a negative limit -1`},
		{map[string]billing.Feature{"seats": billing.FeatureLimit(2_000_000_000)}, "above the cap"},
		{map[string]billing.Feature{"Seats": {}}, "is not a feature name"},
	} {
		_, err := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{"price_1"}, Features: tt.features}})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want %q", tt.features, err, tt.wantErr)
		}
	}
}

func TestFeatureJSON(t *testing.T) {
	in := `{"exports":true,"seats":5,"zero":0}`
	var features map[string]billing.Feature
	if err := json.Unmarshal([]byte(in), &features); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(features)
	if err != nil || string(out) != in {
		t.Errorf("round trip = %s (%v), want %s", out, err, in)
	}
	if out, _ := json.Marshal(billing.Feature{}); string(out) != "true" {
		t.Errorf("the zero Feature is %s, want true", out)
	}
}

func TestHasFeature(t *testing.T) {
	p, err := billing.ParsePlans([]byte(`{"plans":[
		{"id":"pro","stripe_price_ids":["price_1"],"features":{"exports":true}},
		{"id":"team","stripe_price_ids":["price_2"],"features":{"exports":true,"seats":0}},
		{"id":"free","stripe_price_ids":["price_3"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"exports": true, "seats": true, "sso": false, "": false} {
		if got := p.HasFeature(name); got != want {
			t.Errorf("HasFeature(%q) = %v, want %v", name, got, want)
		}
	}
	var none *billing.Plans
	if none.HasFeature("exports") {
		t.Error("nil plans have a feature")
	}
}
