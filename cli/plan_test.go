package cli_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/stripeapi/stripetest"
)

// The repository's plans.json: pro's two prices, then team's.
var shippedPrices = map[string][]string{"pro": {"price_1ProMonthlyUSD", "price_1ProYearlyUSD"}, "team": {"price_1TeamMonthlyUSD"}}

type catalogue struct {
	Plans []struct {
		ID       string          `json:"id"`
		Features json.RawMessage `json:"features"`
		Prices   []struct {
			ID       string `json:"id"`
			Amount   int64  `json:"amount"`
			Currency string `json:"currency"`
			Interval string `json:"interval"`
		} `json:"prices"`
		PricesError *string `json:"prices_error"`
	} `json:"plans"`
}

// plans answers GET /api/billing/plans, which must be 200.
func (s *service) plans() catalogue {
	s.t.Helper()
	var c catalogue
	if code := s.getJSON("/api/billing/plans", &c); code != 200 || len(c.Plans) != len(shippedPrices) {
		s.t.Fatalf("GET /api/billing/plans: %d %+v", code, c)
	}
	return c
}

// checkPriced asserts that every plan lists its prices as stripe-mock has
// them (2000 usd a month for any id), in the plans file's order.
func (c catalogue) checkPriced(t *testing.T, when string) {
	t.Helper()
	for _, p := range c.Plans {
		var ids []string
		for _, price := range p.Prices {
			ids = append(ids, price.ID)
			if price.Amount != 2000 || price.Currency != "usd" || price.Interval != "month" {
				t.Errorf("%s: plan %s price %+v, want stripe-mock's 2000 usd a month", when, p.ID, price)
			}
		}
		if strings.Join(ids, " ") != strings.Join(shippedPrices[p.ID], " ") || p.PricesError != nil {
			t.Errorf("%s: plan %s prices %v (error %v), want %v", when, p.ID, ids, p.PricesError, shippedPrices[p.ID])
		}
	}
}

// checkUnpriced asserts that every plan is listed with prices null and
// prices_error containing why.
func (c catalogue) checkUnpriced(t *testing.T, when, why string) {
	t.Helper()
	for _, p := range c.Plans {
		if p.Prices != nil || p.PricesError == nil || !strings.Contains(*p.PricesError, why) {
			t.Errorf("%s: plan %s prices %v, prices_error %v; want null and %q", when, p.ID, p.Prices, p.PricesError, why)
		}
	}
}

var (
	fetchFailed = regexp.MustCompile(`(Could not fetch the plans' prices from Stripe)`)
	fetched     = regexp.MustCompile(`(Fetched the plans' prices from Stripe)`)
)

// serve fetches the prices at start; billing sync, another process,
// refreshes the cache a running serve answers from; a restart that cannot
// reach Stripe keeps the cache.
func TestSyncRefreshesThePricesServeAnswers(t *testing.T) {
	t.Parallel()
	mock, closed := stripetest.Start(t), stripetest.Unreachable(t)
	unreachable := map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": closed}
	s := startService(t, unreachable)
	waitFor(t, s.out, fetchFailed, nil)
	s.plans().checkUnpriced(t, "Stripe unreachable at start", "Stripe could not be reached (retrieve price price_1ProMonthlyUSD)")

	syncEnv := maps.Clone(s.env)
	syncEnv["STRIPE_API_URL"] = mock
	if code, out := runWith(t, syncEnv, "sync"); code != 0 || !strings.Contains(out, "Fetched 3 prices of 2 plans from Stripe.") {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	s.plans().checkPriced(t, "after billing sync")
	if features := string(s.plans().Plans[1].Features); features != `{"exports":true,"seats":50,"sso":true}` {
		t.Errorf("team's features = %s", features)
	}
	s.stop()

	restarted := startService(t, unreachable, map[string]string{"DATABASE_URL": s.env["DATABASE_URL"]})
	waitFor(t, restarted.out, fetchFailed, nil)
	restarted.plans().checkPriced(t, "after a restart that could not reach Stripe")
}

// serve lists the prices it fetched at start, and neither waits for a
// Stripe that does not answer to start nor to stop.
func TestServeFetchesPricesInTheBackground(t *testing.T) {
	t.Parallel()
	s := startService(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": stripetest.Start(t)})
	waitFor(t, s.out, fetched, nil)
	s.plans().checkPriced(t, "after serve's start")

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	hung := startService(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": "http://" + silent.Addr().String(),
		"STRIPE_TIMEOUT": "10m"})
	hung.plans().checkUnpriced(t, "while Stripe does not answer", "Stripe prices not fetched yet")
	start := time.Now()
	hung.stop()
	if took := time.Since(start); took > time.Minute {
		t.Errorf("serve took %v to stop while its refresh of prices waited for Stripe", took)
	}
	if strings.Contains(hung.out.String(), "Could not fetch") {
		t.Errorf("a refresh cut short by the stop was logged as Stripe's failure:\n%s", hung.out)
	}
}

// Without a reachable Stripe, billing sync still syncs what it can and
// exits 1; --check leaves the cache alone.
func TestSyncReportsAFailedRefreshOfPrices(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": stripetest.Unreachable(t)}
	code, out := runWith(t, env, "sync")
	if code != 1 || !strings.Contains(out, "Prices not refreshed: fetch the plans' prices") ||
		!strings.Contains(out, "Stripe could not be reached (retrieve price price_1ProMonthlyUSD)") {
		t.Errorf("sync with Stripe unreachable: exit %d\n%s", code, out)
	}
	env["STRIPE_API_URL"] = stripetest.Start(t)
	if code, out := runWith(t, env, "sync", "--check"); code != 1 || strings.Contains(out, "prices") {
		t.Errorf("sync --check: exit %d, want 1 (drift) and no word of prices:\n%s", code, out)
	}
	db := storetest.OpenURL(t, env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	cached, last, err := db.CachedPrices(context.Background())
	if err != nil || len(cached) != 0 || !strings.Contains(last.Error, "Stripe could not be reached") || last.At.IsZero() {
		t.Errorf("cache after a failed sync and a check: %v, last refresh %+v (%v); want none and the failure", cached, last, err)
	}
}
