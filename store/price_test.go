package store_test

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store/storetest"
)

// Each refresh updates the prices it fetched and records its outcome; a
// failed one keeps every price.
func TestPriceCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	monthly := billing.Price{ID: "price_m", Amount: 2900, Currency: "usd", Interval: "month", IntervalCount: 1, Active: true}
	yearly := billing.Price{ID: "price_y", Amount: 29000, Currency: "usd", Interval: "year", IntervalCount: 1, Active: true}
	repriced := billing.Price{ID: "price_m", Amount: 3900, Currency: "eur", Interval: "month", IntervalCount: 3}
	at := func(min int) time.Time { return time.Date(2026, 3, 1, 12, min, 0, 0, time.UTC) }
	for _, step := range []struct {
		name    string
		prices  []billing.Price
		refresh billing.PriceRefresh
		want    map[string]billing.Price
		last    billing.PriceRefresh
	}{
		{"first refresh", []billing.Price{monthly, yearly}, billing.PriceRefresh{At: at(1)},
			map[string]billing.Price{"price_m": monthly, "price_y": yearly}, billing.PriceRefresh{At: at(1)}},
		{"one price changed", []billing.Price{repriced}, billing.PriceRefresh{At: at(2)},
			map[string]billing.Price{"price_m": repriced, "price_y": yearly}, billing.PriceRefresh{At: at(2)}},
		{"a failed refresh", nil, billing.PriceRefresh{At: at(3), Error: "Stripe could not be reached"},
			map[string]billing.Price{"price_m": repriced, "price_y": yearly}, billing.PriceRefresh{At: at(3), Error: "Stripe could not be reached"}},
		{"a refresh after it", []billing.Price{yearly}, billing.PriceRefresh{At: at(4)},
			map[string]billing.Price{"price_m": repriced, "price_y": yearly}, billing.PriceRefresh{At: at(4)}},
	} {
		if err := db.SavePrices(ctx, step.prices, step.refresh); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		cached, last, err := db.CachedPrices(ctx)
		if err != nil || !maps.Equal(cached, step.want) || !last.At.Equal(step.last.At) || last.Error != step.last.Error {
			t.Errorf("%s: cached %v, last %+v (%v); want %v, %+v", step.name, cached, last, err, step.want, step.last)
		}
	}
	for id, want := range map[string]time.Time{"price_m": at(2), "price_y": at(4)} {
		var fetched int64
		if err := db.SQL().QueryRow(`SELECT fetched_at FROM stripe_prices WHERE id = $1`, id).Scan(&fetched); err != nil || fetched != want.Unix() {
			t.Errorf("%s fetched_at %d (%v), want %d", id, fetched, err, want.Unix())
		}
	}
}
