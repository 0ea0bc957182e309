package api_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

// setupAt is setup with the service's clock at clock.
func setupAt(t *testing.T, clock *billingtest.Clock) *harness {
	t.Helper()
	return setupWith(t, func(s *billing.Service) { s.Now = clock.Now })
}

// subscriptionView is the read model's subscription, every field.
type subscriptionView struct {
	ID                 string  `json:"stripe_subscription_id"`
	Status             string  `json:"status"`
	Plan               *string `json:"plan"`
	Price              *string `json:"price"`
	Interval           *string `json:"interval"`
	IntervalCount      *int64  `json:"interval_count"`
	Quantity           *int64  `json:"quantity"`
	CurrentPeriodStart *string `json:"current_period_start"`
	CurrentPeriodEnd   *string `json:"current_period_end"`
	CancelAtPeriodEnd  bool    `json:"cancel_at_period_end"`
	CancelAt           *string `json:"cancel_at"`
	CanceledAt         *string `json:"canceled_at"`
	EndedAt            *string `json:"ended_at"`
	TrialStart         *string `json:"trial_start"`
	TrialEnd           *string `json:"trial_end"`
	Discount           *struct {
		Coupon     *string  `json:"coupon"`
		PercentOff *float64 `json:"percent_off"`
		AmountOff  *int64   `json:"amount_off"`
		Currency   *string  `json:"currency"`
		EndsAt     *string  `json:"ends_at"`
	} `json:"discount"`
	PauseCollection *struct {
		Behavior  string  `json:"behavior"`
		ResumesAt *string `json:"resumes_at"`
		StopsAt   *string `json:"stops_service_at"`
	} `json:"pause_collection"`
	RequiresAction bool    `json:"requires_action"`
	ActionURL      *string `json:"action_url"`
	Entitled       bool    `json:"entitled"`
}

func (h *harness) subscription(ws string) subscriptionView {
	h.t.Helper()
	var w struct {
		Subscription *subscriptionView `json:"subscription"`
	}
	if code := h.get("/api/billing/workspaces/"+ws, &w); code != http.StatusOK || w.Subscription == nil {
		h.t.Fatalf("GET workspace %s: %d, subscription %+v", ws, code, w.Subscription)
	}
	return *w.Subscription
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// The read model shows what an app renders: price, interval, seats, the
// trial, a scheduled or past cancellation and the discount, from payloads
// of either shape: a discount is an object with its coupon before
// 2025-03-31, one of the discounts (often an id alone) since.
func TestSubscriptionReadModel(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setupAt(t, billingtest.NewClock(at(time.Hour)))
		coupon := map[string]any{"id": "SAVE20", "object": "coupon", "percent_off": 20, "amount_off": nil, "currency": nil}
		discount := map[string]any{"data.object.discount": map[string]any{"id": "di_1", "object": "discount", "coupon": coupon, "end": 1775001600}}
		if v == trigger.LatestAPIVersion {
			discount = map[string]any{"data.object.discounts": []any{map[string]any{"id": "di_1", "object": "discount",
				"source": map[string]any{"type": "coupon", "coupon": coupon}, "end": 1775001600}}}
		}
		h.deliver(ev("customer.subscription.updated", "ws_1", v, 0, discount, map[string]any{
			"data.object.status": "trialing", "data.object.items.data.0.quantity": 3, "data.object.quantity": 3,
			"data.object.trial_start": 1767225600, "data.object.trial_end": 1768435200,
			"data.object.cancel_at": 1769904000, "data.object.canceled_at": 1767229200,
		}), billing.StatusProcessed)
		s := h.subscription("ws_1")
		if str(s.Price) != proPrice || str(s.Interval) != "month" || *s.IntervalCount != 1 || *s.Quantity != 3 ||
			str(s.TrialStart) != "2026-01-01T00:00:00Z" || str(s.TrialEnd) != "2026-01-15T00:00:00Z" ||
			str(s.CancelAt) != "2026-02-01T00:00:00Z" || str(s.CanceledAt) != "2026-01-01T01:00:00Z" || s.EndedAt != nil {
			t.Errorf("subscription = %+v", s)
		}
		if d := s.Discount; d == nil || str(d.Coupon) != "SAVE20" || d.PercentOff == nil || *d.PercentOff != 20 ||
			d.AmountOff != nil || d.Currency != nil || str(d.EndsAt) != "2026-04-01T00:00:00Z" {
			t.Errorf("discount = %+v", s.Discount)
		}
		if !s.Entitled {
			t.Error("a trialing subscription canceling later is entitled")
		}
		// A later payload names the discount by id alone: what is known of
		// its coupon stays.
		byID := map[string]any{"data.object.discounts": []any{"di_1"}, "data.object.discount": nil}
		h.deliver(ev("customer.subscription.updated", "ws_1", v, time.Minute, byID), billing.StatusProcessed)
		if d := h.subscription("ws_1").Discount; d == nil || str(d.Coupon) != "SAVE20" {
			t.Errorf("after a payload with the discount's id alone: %+v", d)
		}
		h.deliver(ev("customer.subscription.updated", "ws_1", v, 2*time.Minute,
			map[string]any{"data.object.discounts": []any{}, "data.object.discount": nil}), billing.StatusProcessed)
		if d := h.subscription("ws_1").Discount; d != nil {
			t.Errorf("after the discount was removed: %+v", d)
		}
	})
}

// GET /workspaces/{id}/subscriptions lists every subscription the
// workspace has had, newest first.
func TestSubscriptionsList(t *testing.T) {
	h := setupAt(t, billingtest.NewClock(at(40*24*time.Hour)))
	h.deliver(trigger.Options{Type: "customer.subscription.deleted", Key: "old", Workspace: "ws_1", Created: at(0),
		Set: map[string]any{"data.object.start_date": 1764547200}}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "customer.subscription.created", Key: "new", Workspace: "ws_1", Created: at(time.Hour),
		Set: map[string]any{"data.object.start_date": 1767225600}}, billing.StatusProcessed)
	var list []subscriptionView
	if code := h.get("/api/billing/workspaces/ws_1/subscriptions", &list); code != http.StatusOK {
		t.Fatalf("GET subscriptions: %d", code)
	}
	if len(list) != 2 || list[0].ID != trigger.ID("sub_TestSub1", "new") || list[0].Status != "active" || !list[0].Entitled ||
		list[1].ID != trigger.ID("sub_TestSub1", "old") || list[1].Status != "canceled" || list[1].Entitled || list[1].EndedAt == nil {
		t.Errorf("subscriptions = %+v", list)
	}
	if code := h.get("/api/billing/workspaces/ws_nobody/subscriptions", &map[string]any{}); code != http.StatusNotFound {
		t.Errorf("unknown workspace: %d, want 404", code)
	}
}

// Subscription credits are spent only while the workspace is entitled;
// purchased credits always. A past-due subscription stays entitled for
// the grace, counted from when it became past due.
func TestConsumeFollowsTheEntitlement(t *testing.T) {
	clock := billingtest.NewClock(at(3 * time.Second))
	h := setupAt(t, clock)
	fund(h) // 1000 subscription, 500 purchased; active
	h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(3 * time.Second),
		Set: map[string]any{"data.object.status": "past_due"}}, billing.StatusProcessed)

	clock.Add(6 * 24 * time.Hour) // within the 7 days of grace
	if c := h.mustConsume("ws_1", `{"amount":100,"idempotency_key":"in-grace"}`, http.StatusOK); c.Spent.Subscription != 100 {
		t.Errorf("in the grace: %s, want the subscription credits spent", c.Body)
	}
	if s := h.subscription("ws_1"); !s.Entitled {
		t.Error("in the grace: entitled = false")
	}

	clock.Add(2 * 24 * time.Hour) // the grace is over
	if s := h.subscription("ws_1"); s.Entitled {
		t.Error("after the grace: entitled = true")
	}
	refused := h.mustConsume("ws_1", `{"amount":600,"idempotency_key":"after-grace"}`, http.StatusPaymentRequired)
	if refused.Error.Code != billing.ENOTENTITLED {
		t.Errorf("after the grace, more than the purchased credits: %s, want not_entitled", refused.Body)
	}
	if c := h.mustConsume("ws_1", `{"amount":400,"idempotency_key":"purchased-only"}`, http.StatusOK); c.Spent.Subscription != 0 || c.Spent.Purchased != 400 {
		t.Errorf("after the grace: %s, want the purchased credits spent", c.Body)
	}
	if short := h.mustConsume("ws_1", `{"amount":2000,"idempotency_key":"too-much"}`, http.StatusPaymentRequired); short.Error.Code != billing.EINSUFFICIENT {
		t.Errorf("more than the whole balance: %s, want insufficient_credits", short.Body)
	}
	// Paid again: entitled, and the same key that was refused now spends.
	h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(9 * 24 * time.Hour),
		Set: map[string]any{"data.object.status": "active"}}, billing.StatusProcessed)
	if c := h.mustConsume("ws_1", `{"amount":600,"idempotency_key":"after-grace"}`, http.StatusOK); c.Spent.Subscription != 600 {
		t.Errorf("active again: %s", c.Body)
	}
}

// An upgrade mid-period grants the difference of the plans' monthly
// credits into the current lot, once, whether the subscription's event or
// the paid proration invoice reports it first; a downgrade keeps the lot,
// and the next renewal grants the new plan's amount as a new lot.
func TestUpgradeGrantsTheDifference(t *testing.T) {
	team := "price_TestTeam"
	upgradeEvent := trigger.Options{Type: "customer.subscription.updated", PriceID: team, Created: at(10 * 24 * time.Hour)}
	prorationInvoice := trigger.Options{Type: "invoice.paid", PriceID: team, Created: at(10*24*time.Hour + time.Minute),
		Set: map[string]any{"data.object.id": "in_Proration", "data.object.billing_reason": "subscription_update"}}
	for _, tt := range []struct {
		name  string
		order []trigger.Options
	}{
		{"event first", []trigger.Options{upgradeEvent, prorationInvoice}},
		{"invoice first", []trigger.Options{prorationInvoice, upgradeEvent}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
			h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed) // pro: 1000
			for _, o := range tt.order {
				h.deliver(o, billing.StatusProcessed)
			}
			if w := h.workspace("ws_1"); w.Credits.Subscription != 5000 || str(w.Subscription.Plan) != "team" {
				t.Errorf("after the upgrade: %+v, plan %s; want 5000 subscription credits on team", w.Credits, str(w.Subscription.Plan))
			}
			if l := h.ledger("ws_1"); len(l) != 2 || l[0].Amount != 4000 || l[0].Bucket != "subscription" ||
				l[0].IdempotencyKey != "sub:"+trigger.ID("sub_TestSub1", "ws_1")+":upgrade:price_TestTeam:1769904000" {
				t.Errorf("ledger = %+v, want the first period and one upgrade of 4000", l)
			}
			// A downgrade keeps the lot; the renewal expires it and grants pro.
			h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(20 * 24 * time.Hour)}, billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Credits.Subscription != 5000 {
				t.Errorf("after the downgrade: %+v, want the lot kept", w.Credits)
			}
			h.deliver(trigger.Options{Type: "invoice.paid", Created: at(31 * 24 * time.Hour), PeriodStart: at(31 * 24 * time.Hour),
				Set: map[string]any{"data.object.id": "in_Renewal", "data.object.billing_reason": "subscription_cycle"}}, billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Credits.Subscription != 1000 {
				t.Errorf("after the renewal: %+v, want pro's 1000", w.Credits)
			}
		})
	}
}

// BILLING_UPGRADE_CREDITS: prorated scales the difference by the share of
// the period left; none grants nothing until the next period.
func TestUpgradeCreditPolicies(t *testing.T) {
	for _, tt := range []struct {
		policy billing.UpgradeCredits
		want   int64
	}{
		// 31 days of period, the plan changed after 10: 21/31 of 4000.
		{billing.UpgradeProrated, 4000 * 21 / 31},
		{billing.UpgradeNone, 0},
	} {
		t.Run(string(tt.policy), func(t *testing.T) {
			t.Parallel()
			logs := &billingtest.Buffer{}
			h := serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs,
				func(s *billing.Service) { s.UpgradeCredits = tt.policy })
			h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
			h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
			h.deliver(trigger.Options{Type: "customer.subscription.updated", PriceID: "price_TestTeam", Created: at(10 * 24 * time.Hour)}, billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Credits.Subscription != 1000+tt.want {
				t.Errorf("credits = %+v, want %d", w.Credits, 1000+tt.want)
			}
		})
	}
}

// A trial grants the plan's trial_credits as a lot of its own; the first
// paid period, at the trial's end, grants monthly_credits as the next lot.
// A first invoice for nothing waits for the subscription's own event to say
// whether it is a trial's.
func TestTrialGrantsTrialCredits(t *testing.T) {
	trialCredits := int64(100)
	plans, err := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{proPrice}, MonthlyCredits: 1000, TrialCredits: &trialCredits}})
	if err != nil {
		t.Fatal(err)
	}
	trialing := map[string]any{"data.object.status": "trialing", "data.object.start_date": 1767225600,
		"data.object.trial_start": 1767225600, "data.object.trial_end": 1768435200}
	free := map[string]any{"data.object.amount_due": 0, "data.object.amount_paid": 0}
	for _, tt := range []struct {
		name  string
		order []trigger.Options
	}{
		{"subscription first", []trigger.Options{
			{Type: "customer.subscription.created", Created: at(0), Set: trialing},
			{Type: "invoice.paid", Created: at(time.Second), Set: free}}},
		{"free invoice first", []trigger.Options{
			{Type: "invoice.paid", Created: at(time.Second), Set: free},
			{Type: "customer.subscription.created", Created: at(0), Set: trialing}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &billingtest.Buffer{}
			h := serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs,
				func(s *billing.Service) { s.Plans = plans })
			for _, o := range tt.order {
				h.deliver(o, billing.StatusProcessed)
			}
			if w := h.workspace("ws_1"); w.Credits.Subscription != 100 {
				t.Fatalf("in the trial: %+v, want the 100 trial credits", w.Credits)
			}
			h.mustConsume("ws_1", `{"amount":30,"idempotency_key":"trying"}`, http.StatusOK)
			h.deliver(trigger.Options{Type: "invoice.paid", Created: at(14 * 24 * time.Hour), PeriodStart: time.Unix(1768435200, 0),
				Set: map[string]any{"data.object.id": "in_FirstPaid", "data.object.billing_reason": "subscription_cycle"}}, billing.StatusProcessed)
			if w := h.workspace("ws_1"); w.Credits.Subscription != 1000 {
				t.Errorf("after the trial: %+v, want a fresh 1000", w.Credits)
			}
			if l := h.ledger("ws_1"); len(l) != 4 || l[3].Amount != 100 || l[3].Reason != "plan pro: trial" || l[1].Amount != -70 {
				t.Errorf("ledger = %+v, want the trial's 100, a spend, its 70 left expired, the period's 1000", l)
			}
		})
	}
}

// An upgrade tops the period up to the new plan once, whatever else the
// period saw: a renewal already billed at the new price before the upgrade's
// event arrived, a downgrade and an upgrade back, a proration whose first
// payment failed and was paid later.
func TestUpgradeTopsThePeriodUpOnce(t *testing.T) {
	team := "price_TestTeam"
	renewedOnTeam := trigger.Options{Type: "invoice.paid", PriceID: team, Created: at(31 * 24 * time.Hour), PeriodStart: at(31 * 24 * time.Hour),
		Set: map[string]any{"data.object.id": "in_Renewal", "data.object.billing_reason": "subscription_cycle"}}
	proration := trigger.Options{Type: "invoice.paid", PriceID: team, Created: at(12 * 24 * time.Hour),
		Set: map[string]any{"data.object.id": "in_Proration", "data.object.billing_reason": "subscription_update"}}
	for _, tt := range []struct {
		name   string
		first  string // the price of the first period
		events []trigger.Options
		want   int64
	}{
		{"the upgrade's event after a renewal on the new plan", proPrice, []trigger.Options{renewedOnTeam,
			{Type: "customer.subscription.updated", PriceID: team, Created: at(30 * 24 * time.Hour)}}, 5000},
		{"down to pro and back up to team", team, []trigger.Options{
			{Type: "customer.subscription.updated", Created: at(10 * 24 * time.Hour)},
			{Type: "customer.subscription.updated", PriceID: team, Created: at(11 * 24 * time.Hour)}}, 5000},
		{"a proration paid after its first attempt failed", proPrice, []trigger.Options{
			{Type: "customer.subscription.updated", PriceID: team, Created: at(10 * 24 * time.Hour), Set: map[string]any{"data.object.status": "past_due"}},
			proration,
			{Type: "customer.subscription.updated", PriceID: team, Created: at(12*24*time.Hour + time.Second)}}, 5000},
		{"up, then the same upgrade's invoice and event again", proPrice, []trigger.Options{
			{Type: "customer.subscription.updated", PriceID: team, Created: at(10 * 24 * time.Hour)}, proration,
			{Type: "customer.subscription.updated", PriceID: team, Created: at(13 * 24 * time.Hour), Set: map[string]any{"data.object.quantity": 2}}}, 5000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			h.deliver(trigger.Options{Type: "customer.subscription.created", PriceID: tt.first, Created: at(0)}, billing.StatusProcessed)
			h.deliver(trigger.Options{Type: "invoice.paid", PriceID: tt.first, Created: at(time.Second)}, billing.StatusProcessed)
			for _, o := range tt.events {
				h.deliver(o, billing.StatusProcessed)
			}
			if w := h.workspace("ws_1"); w.Credits.Subscription != tt.want {
				t.Errorf("credits = %+v, want %d; ledger %+v", w.Credits, tt.want, h.ledger("ws_1"))
			}
		})
	}
}

// A yearly price's trial grants the trial's credits and no monthly grants:
// months of credits are owed for the paid year that follows.
func TestYearlyTrialGrantsNoMonths(t *testing.T) {
	trialCredits := int64(100)
	plans, err := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{proPrice}, MonthlyCredits: 1000, TrialCredits: &trialCredits}})
	if err != nil {
		t.Fatal(err)
	}
	clock := billingtest.NewClock(at(time.Hour))
	t.Parallel()
	logs := &billingtest.Buffer{}
	h := serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs,
		func(s *billing.Service) { s.Now, s.Plans = clock.Now, plans })
	trialEnd := at(60 * 24 * time.Hour).Unix()
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0), Set: map[string]any{
		"data.object.items.data.0.price.recurring.interval": "year", "data.object.items.data.0.plan.interval": "year",
		"data.object.status": "trialing", "data.object.start_date": t0.Unix(), "data.object.trial_start": t0.Unix(),
		"data.object.trial_end": trialEnd, "data.object.items.data.0.current_period_end": trialEnd,
	}}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second), Set: map[string]any{
		"data.object.amount_due": 0, "data.object.amount_paid": 0, "data.object.lines.data.0.period.end": trialEnd}}, billing.StatusProcessed)
	clock.Add(32 * 24 * time.Hour)
	if n, err := h.svc.GrantDueMonths(t.Context()); err != nil || n != 0 {
		t.Errorf("day 32 of a 60-day trial: %d grants (%v), want none", n, err)
	}
	if w := h.workspace("ws_1"); w.Credits.Subscription != 100 {
		t.Errorf("credits = %+v, want the trial's 100", w.Credits)
	}
}
