package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/stripeapi/stripetest"
)

const plansPath = "/api/billing/plans"

// cataloguePlans are plans with features, trial credits and two prices.
func cataloguePlans(extra ...billing.Plan) func(*billing.Service) {
	trial := int64(100)
	list := append([]billing.Plan{
		{ID: "pro", Name: "Pro", StripePriceIDs: []string{proPrice, "price_TestProYearly"}, MonthlyCredits: 1000,
			TrialCredits: &trial, Features: map[string]billing.Feature{"exports": {}, "seats": billing.FeatureLimit(5)}},
		{ID: "team", Name: "Team", StripePriceIDs: []string{"price_TestTeam"}, MonthlyCredits: 5000},
	}, extra...)
	plans, err := billing.NewPlans(list)
	if err != nil {
		panic(err)
	}
	return func(s *billing.Service) { s.Plans = plans }
}

type priceView struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Interval      string `json:"interval"`
	IntervalCount int64  `json:"interval_count"`
	Active        bool   `json:"active"`
}

type planView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	MonthlyCredits *int64          `json:"monthly_credits"`
	TrialCredits   *int64          `json:"trial_credits"`
	Features       json.RawMessage `json:"features"`
	Prices         json.RawMessage `json:"prices"`
	PricesError    *string         `json:"prices_error"`
}

// prices decodes the plan's prices; nil when they are null.
func (p planView) prices(t *testing.T) []priceView {
	t.Helper()
	var out []priceView
	if err := json.Unmarshal(p.Prices, &out); err != nil {
		t.Fatalf("plan %s: prices %s: %v", p.ID, p.Prices, err)
	}
	return out
}

// plans answers GET /api/billing/plans, which must be 200 whatever Stripe
// does, by plan id.
func (h *harness) plans() map[string]planView {
	h.t.Helper()
	var v struct {
		Plans []planView `json:"plans"`
	}
	if code := h.get(plansPath, &v); code != http.StatusOK {
		h.t.Fatalf("GET %s: %d", plansPath, code)
	}
	out := map[string]planView{}
	for _, p := range v.Plans {
		out[p.ID] = p
	}
	return out
}

// checkUnpriced asserts that each plan named is listed with prices null
// and prices_error containing why.
func checkUnpriced(t *testing.T, plans map[string]planView, why string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		p := plans[id]
		if string(p.Prices) != "null" || p.PricesError == nil || !strings.Contains(*p.PricesError, why) {
			t.Errorf("plan %s: prices %s, prices_error %v; want null and %q", id, p.Prices, p.PricesError, why)
		}
	}
}

// mockPrice is what stripe-mock itself answers for a price id.
func mockPrice(t *testing.T, mock, id string) priceView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, mock+"/v1/prices/"+id, nil)
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		ID         string `json:"id"`
		UnitAmount int64  `json:"unit_amount"`
		Currency   string `json:"currency"`
		Active     bool   `json:"active"`
		Recurring  struct {
			Interval      string `json:"interval"`
			IntervalCount int64  `json:"interval_count"`
		} `json:"recurring"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stripe-mock price %s: %d %v", id, resp.StatusCode, err)
	}
	return priceView{ID: p.ID, Amount: p.UnitAmount, Currency: p.Currency, Interval: p.Recurring.Interval,
		IntervalCount: p.Recurring.IntervalCount, Active: p.Active}
}

// The catalogue lists each plan with its credits, features and the prices
// Stripe has, fetched once per price id and answered from the cache.
func TestPlansCatalogue(t *testing.T) {
	mock := stripetest.Start(t)
	h, rec := withStripe(t, mock, "sk_test_123", 10*time.Second, cataloguePlans())
	before := h.plans()
	checkUnpriced(t, before, billing.PricesNotFetched, "pro", "team")

	n, err := h.svc.RefreshPrices(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("RefreshPrices = %d, %v; want 3 prices", n, err)
	}
	wantIDs := []string{proPrice, "price_TestProYearly", "price_TestTeam"}
	calls := rec.All()
	if len(calls) != len(wantIDs) {
		t.Fatalf("%d calls to Stripe, want one per price: %+v", len(calls), calls)
	}
	for i, c := range calls {
		if c.Method != http.MethodGet || c.Path != "/v1/prices/"+wantIDs[i] || len(c.Form) != 0 ||
			c.Header.Get("Authorization") != "Bearer sk_test_123" {
			t.Errorf("call %d: %s %s %v (Authorization %q), want GET /v1/prices/%s without parameters",
				i, c.Method, c.Path, c.Form, c.Header.Get("Authorization"), wantIDs[i])
		}
	}

	got := h.plans()
	for _, tt := range []struct {
		id, name       string
		monthly, trial int64
		features       string
		prices         []string
	}{
		{"pro", "Pro", 1000, 100, `{"exports":true,"seats":5}`, wantIDs[:2]},
		{"team", "Team", 5000, 5000, `{}`, wantIDs[2:]},
	} {
		p := got[tt.id]
		if p.Name != tt.name || p.MonthlyCredits == nil || *p.MonthlyCredits != tt.monthly ||
			p.TrialCredits == nil || *p.TrialCredits != tt.trial || string(p.Features) != tt.features || p.PricesError != nil {
			t.Errorf("plan %s = %+v, want %s, %d monthly, %d trial, features %s, no prices_error",
				tt.id, p, tt.name, tt.monthly, tt.trial, tt.features)
		}
		prices := p.prices(t)
		if len(prices) != len(tt.prices) {
			t.Fatalf("plan %s: prices %s, want %v", tt.id, p.Prices, tt.prices)
		}
		for i, id := range tt.prices {
			if want := mockPrice(t, mock, id); prices[i] != want {
				t.Errorf("plan %s price %d = %+v, want stripe-mock's %+v", tt.id, i, prices[i], want)
			}
		}
	}
	if n := len(rec.All()); n != len(wantIDs) {
		t.Errorf("reading the catalogue called Stripe: %d calls in all", n)
	}
}

// Whatever Stripe does, the catalogue answers 200: each plan with prices
// null and prices_error saying what the last refresh met.
func TestPlansWhenStripeFails(t *testing.T) {
	mock := stripetest.Start(t)
	for _, tt := range []struct {
		name, url, key, why string
		code                string
	}{
		{"unreachable", stripetest.Unreachable(t), "sk_test_123", "Stripe could not be reached (retrieve price price_TestPro)", billing.EUPSTREAM},
		{"failing", stripeAnswering(t, 500, `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`),
			"sk_test_123", "Stripe failed (retrieve price price_TestPro); request req_TestFailure", billing.EUPSTREAM},
		{"no such price", stripeAnswering(t, 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_TestPro'"}}`),
			"sk_test_123", "Stripe has no price price_TestPro (listed in the plans file)", billing.ESTRIPE},
		{"refusing the key", mock, "sk_live_123", "Stripe refused the service's API key", billing.EUPSTREAM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := withStripe(t, tt.url, tt.key, time.Second, cataloguePlans())
			if _, err := h.svc.RefreshPrices(context.Background()); billing.ErrorCode(err) != tt.code {
				t.Fatalf("RefreshPrices: %v, want code %s", err, tt.code)
			}
			checkUnpriced(t, h.plans(), tt.why, "pro", "team")
			if strings.Contains(h.logs.String(), tt.key) {
				t.Error("the secret key is in the log")
			}
		})
	}
}

// A price Stripe gives no unit_amount (tiered, or customer-chosen) is
// listed with amount 0; a one-time price with no interval.
func TestPlansListAPriceWithoutAmount(t *testing.T) {
	stripe := stripeAnswering(t, 200, `{"id":"price_TestPro","object":"price","active":false,"currency":"eur",
		"unit_amount":null,"billing_scheme":"tiered","recurring":null,"type":"one_time"}`)
	h, _ := withStripe(t, stripe, "sk_test_123", time.Second)
	if _, err := h.svc.RefreshPrices(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := priceView{ID: "price_TestTeam", Currency: "eur"}
	if prices := h.plans()["team"].prices(t); len(prices) != 1 || prices[0] != want {
		t.Errorf("team's prices = %+v, want %+v", prices, want)
	}
}

// The cache lives in the database: a restarted instance (or another one)
// answers from it before and after a refresh that fails, and a plan added
// since lists no prices, saying why, while the others still list theirs.
func TestPlansCacheSurvivesRestartsAndFailures(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t)
	logs := &billingtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	mock := stripetest.Start(t)
	first := serve(t, storetest.OpenURL(t, url, logger), logs,
		usingStripe(mock, "sk_test_123", 10*time.Second, logger, &stripetest.Recorder{}), cataloguePlans())
	if _, err := first.svc.RefreshPrices(context.Background()); err != nil {
		t.Fatal(err)
	}
	cached := first.plans()
	first.srv.Close()

	scale := billing.Plan{ID: "scale", Name: "Scale", StripePriceIDs: []string{"price_TestScale"}, MonthlyCredits: 20000}
	rec := &stripetest.Recorder{}
	restarted := serve(t, storetest.OpenURL(t, url, logger), logs,
		usingStripe(stripetest.Unreachable(t), "sk_test_123", time.Second, logger, rec), cataloguePlans(scale))
	check := func(when, why string) {
		t.Helper()
		now := restarted.plans()
		for _, id := range []string{"pro", "team"} {
			if string(now[id].Prices) != string(cached[id].Prices) || now[id].PricesError != nil {
				t.Errorf("%s: plan %s prices %s (error %v), want the cached %s", when, id, now[id].Prices,
					now[id].PricesError, cached[id].Prices)
			}
		}
		checkUnpriced(t, now, why, "scale")
	}
	check("after the restart", billing.PricesNotFetched)
	if len(rec.All()) != 0 {
		t.Errorf("reading the catalogue called Stripe: %+v", rec.All())
	}
	if _, err := restarted.svc.RefreshPrices(context.Background()); err == nil {
		t.Fatal("a refresh through a closed port succeeded")
	}
	check("after a failed refresh", "Stripe could not be reached (retrieve price price_TestPro)")
}

// Without STRIPE_SECRET_KEY the plans are listed, with no prices; the
// catalogue needs the API key like every app route.
func TestPlansWithoutStripe(t *testing.T) {
	h := setup(t)
	checkUnpriced(t, h.plans(), billing.PricesNotConfigured, "pro", "team")
	if _, err := h.svc.RefreshPrices(context.Background()); billing.ErrorCode(err) != billing.ENOSTRIPE {
		t.Errorf("RefreshPrices without Stripe: %v", err)
	}
	resp, err := http.Get(h.srv.URL + plansPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s without the API key: %d", plansPath, resp.StatusCode)
	}
}
