package trigger

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// A Step is one event of a scenario, At after the scenario's start.
type Step struct {
	Type, Variant string
	At            time.Duration
	// Price is "" for the scenario's first price, or "other" for its second
	// (an upgrade's or a downgrade's).
	Price string
	Set   map[string]any
}

const day = 24 * time.Hour

// The fixtures' second and third months, for renewals.
const (
	secondPeriodStart = 1769904000 // 2026-02-01
	secondPeriodEnd   = 1772323200 // 2026-03-01
)

var (
	subscribe = []Step{
		{Type: "checkout.session.completed", At: time.Second},
		{Type: "customer.subscription.created", At: 2 * time.Second},
		{Type: "invoice.paid", At: 3 * time.Second},
	}
	renewal = map[string]any{"data.object.id": "in_Renewal", "data.object.billing_reason": "subscription_cycle",
		"data.object.number": "0002", "data.object.lines.data.0.period.start": secondPeriodStart,
		"data.object.lines.data.0.period.end": secondPeriodEnd}
	secondPeriod = map[string]any{
		"data.object.items.data.0.current_period_start": secondPeriodStart,
		"data.object.items.data.0.current_period_end":   secondPeriodEnd,
		"data.object.current_period_start":              secondPeriodStart,
		"data.object.current_period_end":                secondPeriodEnd,
	}
	trial = []Step{
		{Type: "checkout.session.completed", At: time.Second, Set: map[string]any{"data.object.payment_status": "no_payment_required",
			"data.object.amount_total": 0}},
		{Type: "customer.subscription.created", At: 2 * time.Second, Set: map[string]any{"data.object.status": "trialing",
			"data.object.trial_start": fixturePeriodStart, "data.object.trial_end": fixturePeriodStart + 14*86400}},
		{Type: "invoice.paid", At: 3 * time.Second, Set: map[string]any{"data.object.amount_due": 0, "data.object.amount_paid": 0}},
	}
)

// with is a Set with more fields.
func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// Scenarios are whole flows of one workspace, as Stripe tells them.
var Scenarios = map[string][]Step{
	"subscribe": subscribe,
	"renew": append(slices.Clone(subscribe),
		Step{Type: "invoice.paid", At: 31 * day, Set: renewal},
		Step{Type: "customer.subscription.updated", At: 31*day + time.Second, Set: secondPeriod}),
	"upgrade": append(slices.Clone(subscribe),
		Step{Type: "customer.subscription.updated", At: 10 * day, Price: "other"}),
	"downgrade": append(priced(subscribe, "other"),
		Step{Type: "customer.subscription.updated", At: 10 * day}),
	"cancel-at-period-end": append(slices.Clone(subscribe),
		Step{Type: "customer.subscription.updated", At: 10 * day, Set: map[string]any{"data.object.cancel_at_period_end": true}}),
	"resume": append(slices.Clone(subscribe),
		Step{Type: "customer.subscription.updated", At: 10 * day, Set: map[string]any{"data.object.cancel_at_period_end": true}},
		Step{Type: "customer.subscription.updated", At: 12 * day, Set: map[string]any{"data.object.cancel_at_period_end": false}}),
	"trial": trial,
	"trial-converts": append(slices.Clone(trial),
		Step{Type: "customer.subscription.trial_will_end", At: 11 * day, Set: trial[1].Set},
		Step{Type: "invoice.paid", At: 14 * day, Set: map[string]any{"data.object.id": "in_AfterTrial",
			"data.object.billing_reason": "subscription_cycle", "data.object.lines.data.0.period.start": fixturePeriodStart + 14*86400,
			"data.object.lines.data.0.period.end": secondPeriodStart + 14*86400}},
		Step{Type: "customer.subscription.updated", At: 14*day + time.Second, Set: map[string]any{"data.object.status": "active",
			"data.object.trial_start": fixturePeriodStart, "data.object.trial_end": fixturePeriodStart + 14*86400}}),
	"failed-renewal-recovered": append(slices.Clone(subscribe),
		Step{Type: "invoice.payment_failed", At: 31 * day, Set: renewal},
		Step{Type: "customer.subscription.updated", At: 31*day + time.Second, Set: with(secondPeriod, "data.object.status", "past_due")},
		Step{Type: "invoice.paid", At: 33 * day, Set: renewal},
		Step{Type: "customer.subscription.updated", At: 33*day + time.Second, Set: secondPeriod}),
	"failed-renewal-final": append(slices.Clone(subscribe),
		Step{Type: "invoice.payment_failed", At: 31 * day, Set: with(renewal, "data.object.attempt_count", 4, "data.object.next_payment_attempt", nil)},
		Step{Type: "customer.subscription.deleted", At: 31*day + time.Second, Set: with(secondPeriod, "data.object.ended_at", secondPeriodStart+1)}),
	"credit-purchase": {
		{Type: "checkout.session.completed", Variant: "payment", At: time.Second},
		{Type: "payment_intent.succeeded", At: 2 * time.Second},
	},
	"refund": {
		{Type: "checkout.session.completed", Variant: "payment", At: time.Second},
		{Type: "payment_intent.succeeded", At: 2 * time.Second},
		{Type: "charge.refunded", At: day},
	},
}

// priced is steps on the other price.
func priced(steps []Step, price string) []Step {
	out := slices.Clone(steps)
	for i := range out {
		out[i].Price = price
	}
	return out
}

// ScenarioNames are the scenarios, sorted.
func ScenarioNames() []string { return slices.Sorted(maps.Keys(Scenarios)) }

// Scenario builds a scenario's events for a workspace, on price and, for
// an upgrade or a downgrade, other. Its last event is now: the ones before
// it are dated as far back as the flow spans.
func Scenario(name, ws, price, other string, now time.Time) ([][]byte, error) {
	steps, ok := Scenarios[name]
	if !ok {
		return nil, fmt.Errorf("no scenario %q (scenarios: %v)", name, ScenarioNames())
	}
	if other == "" && slices.ContainsFunc(steps, func(s Step) bool { return s.Price == "other" }) {
		return nil, fmt.Errorf("scenario %s moves to another plan: the plans file has only one", name)
	}
	start := now.Add(-steps[len(steps)-1].At)
	var out [][]byte
	for _, s := range steps {
		p := price
		if s.Price == "other" {
			p = other
		}
		b, err := Build(Options{Type: s.Type, Variant: s.Variant, Workspace: ws, PriceID: p, Now: start,
			Created: start.Add(s.At), Set: scenarioSet(s.Set, ws, start)})
		if err != nil {
			return nil, fmt.Errorf("scenario %s, %s: %w", name, s.Type, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// scenarioSet is a step's overrides for a workspace whose scenario starts
// at start: its times moved as the fixture's are, its object ids the
// workspace's own.
func scenarioSet(set map[string]any, ws string, start time.Time) map[string]any {
	out := make(map[string]any, len(set))
	for k, v := range set {
		switch x := v.(type) {
		case int:
			if x >= fixtureTimesFrom && x < fixtureTimesUntil {
				v = int64(x) + start.Unix() - fixturePeriodStart
			}
		case string:
			if k == "data.object.id" {
				v = ID(x, ws)
			}
		}
		out[k] = v
	}
	return out
}
