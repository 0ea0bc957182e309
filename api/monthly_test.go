package api_test

import (
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/trigger"
)

// A yearly price grants its plan's monthly credits every month of the paid
// year: the first month when the year is paid, each later one on its
// monthly anniversary, each expiring the month before; a run after a pause
// makes every month that fell due, and runs at once make each grant once.
func TestYearlyPriceGrantsMonthly(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		clock := billingtest.NewClock(at(time.Hour))
		h := setupAt(t, clock)
		yearly := map[string]any{
			"data.object.items.data.0.price.recurring.interval": "year", "data.object.items.data.0.plan.interval": "year",
			"data.object.plan.interval": "year", "data.object.items.data.0.current_period_end": 1798761600, // 2027-01-01
		}
		h.deliver(ev("customer.subscription.created", "ws_1", v, 0, yearly), billing.StatusProcessed)
		h.deliver(ev("invoice.paid", "ws_1", v, time.Second, map[string]any{"data.object.lines.data.0.period.end": 1798761600}),
			billing.StatusProcessed)
		if s := h.subscription("ws_1"); str(s.Interval) != "year" {
			t.Fatalf("interval = %s, want year", str(s.Interval))
		}
		grants := func() int {
			t.Helper()
			n, err := h.svc.GrantDueMonths(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := grants(); n != 0 {
			t.Errorf("in the first month: %d grants, want none", n)
		}
		clock.Add(31 * 24 * time.Hour) // 2026-02-01: month 2
		h.mustConsume("ws_1", `{"amount":300,"idempotency_key":"jan"}`, 200)
		if n := grants(); n != 1 {
			t.Errorf("on 1 February: %d grants, want 1", n)
		}
		if w := h.workspace("ws_1"); w.Credits.Subscription != 1000 {
			t.Errorf("after month 2's grant: %+v, want a fresh 1000", w.Credits)
		}
		// Months 3 to 5 fell due while no scheduler ran; two run at once.
		clock.Add((28 + 31 + 30) * 24 * time.Hour) // 2026-05-01
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := h.svc.GrantDueMonths(t.Context())
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != 3 {
			t.Errorf("two schedulers made %v grants, want 3 in all", counts)
		}
		l := h.ledger("ws_1")
		sub := trigger.ID("sub_TestSub1", "ws_1")
		if len(l) != 10 || l[0].IdempotencyKey != "sub:"+sub+":first_period:month:4" || l[0].Amount != 1000 ||
			l[1].IdempotencyKey != "sub:"+sub+":first_period:month:3:expire" || l[1].Amount != -1000 {
			t.Errorf("ledger = %+v, want the first month, a spend, then four months each expiring the last", l)
		}
		if w := h.workspace("ws_1"); w.Credits.Subscription != 1000 {
			t.Errorf("credits = %+v, want one month's 1000", w.Credits)
		}
	})
}
