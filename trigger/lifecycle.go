package trigger

import (
	"fmt"
	"time"
)

// Lifecycle returns twenty events of one workspace's subscription over two
// months, in the order Stripe creates them, starting at the fixtures' period
// (2026-01-01): checkout, first invoice, a credits purchase, a renewal that
// fails then succeeds, a partial refund, a declined payment, and then either
// a cancellation or a second renewal. Event ids are derived from ws.
func Lifecycle(ws, price string, cancel bool) ([][]byte, error) {
	t0 := time.Unix(fixturePeriodStart, 0)
	second := map[string]any{"data.object.id": "in_Second_" + ws, "data.object.billing_reason": "subscription_cycle",
		"data.object.number": "0002", "data.object.lines.data.0.period.start": secondPeriodStart, "data.object.lines.data.0.period.end": secondPeriodEnd}
	third := map[string]any{"data.object.id": "in_Third_" + ws, "data.object.billing_reason": "subscription_cycle",
		"data.object.number": "0003", "data.object.lines.data.0.period.start": secondPeriodEnd, "data.object.lines.data.0.period.end": 1775001600}
	february := func(kv ...any) map[string]any {
		return with(map[string]any{"data.object.items.data.0.current_period_start": secondPeriodStart,
			"data.object.items.data.0.current_period_end": secondPeriodEnd}, kv...)
	}
	type step struct {
		typ, variant string
		at           time.Duration
		set          map[string]any
	}
	steps := []step{
		{"customer.created", "", 0, nil},
		{"checkout.session.completed", "", time.Second, nil},
		{"customer.subscription.created", "", 2 * time.Second, map[string]any{"data.object.status": "incomplete"}},
		{"invoice.finalized", "", 3 * time.Second, nil},
		{"invoice.payment_succeeded", "", 4 * time.Second, nil},
		{"invoice.paid", "", 4 * time.Second, nil},
		{"customer.subscription.updated", "", 5 * time.Second, nil},
		{"checkout.session.completed", "payment", day, nil},
		{"payment_intent.succeeded", "", day + time.Second, nil},
		{"invoice.finalized", "", 31 * day, with(second, "data.object.status", "open", "data.object.amount_paid", 0)},
		{"invoice.payment_failed", "", 31*day + time.Second, second},
		{"customer.subscription.updated", "", 31*day + 2*time.Second, february("data.object.status", "past_due")},
		{"invoice.paid", "", 33 * day, second},
		{"invoice.payment_succeeded", "", 33 * day, second},
		{"customer.subscription.updated", "", 33*day + time.Second, february()},
		{"charge.refunded", "", 34 * day, nil},
		{"payment_intent.payment_failed", "", 35 * day, map[string]any{"data.object.id": "pi_Declined_" + ws}},
		{"customer.subscription.updated", "", 40 * day, february("data.object.cancel_at_period_end", cancel)},
		{"customer.subscription.deleted", "", 59 * day, february("data.object.ended_at", t0.Add(59*day).Unix())},
		{"customer.updated", "", 60 * day, map[string]any{"data.object.name": "Renamed " + ws}},
	}
	if !cancel {
		steps[18] = step{"invoice.paid", "", 59 * day, third}
	}
	out := make([][]byte, 0, len(steps))
	for i, s := range steps {
		p, err := Build(Options{Type: s.typ, Variant: s.variant, Workspace: ws, PriceID: price,
			Created: t0.Add(s.at), Set: s.set, EventID: fmt.Sprintf("evt_%s_%02d", ws, i)})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
