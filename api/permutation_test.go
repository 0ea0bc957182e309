package api_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/acme/billing/trigger"
)

// lifecycle is one workspace's events, in the order Stripe created them.
func lifecycle(ws string) []trigger.Options {
	day := 24 * time.Hour
	renewal := map[string]any{
		"data.object.id": "in_Renewal_" + ws, "data.object.billing_reason": "subscription_cycle",
		"data.object.lines.data.0.period.start": 1769904000, "data.object.lines.data.0.period.end": 1772323200,
	}
	o := func(typ string, d time.Duration, set map[string]any) trigger.Options {
		return trigger.Options{Type: typ, Workspace: ws, Created: at(d), Set: set}
	}
	return []trigger.Options{
		o("checkout.session.completed", 0, nil),
		o("customer.subscription.created", time.Second, nil),
		o("invoice.finalized", 2*time.Second, nil),
		o("invoice.paid", 3*time.Second, nil),
		o("payment_intent.succeeded", day, nil),
		o("invoice.paid", 31*day, renewal),
		o("charge.refunded", 32*day, nil),
		o("customer.subscription.deleted", 40*day, map[string]any{"data.object.ended_at": at(40 * day).Unix()}),
	}
}

type ledgerLine struct {
	Key    string
	Amount int64
	Bucket string
}

func ledgerSet(h *harness, ws string) []ledgerLine {
	var out []ledgerLine
	for _, e := range h.ledger(ws) {
		out = append(out, ledgerLine{e.IdempotencyKey, e.Amount, e.Bucket})
	}
	slices.SortFunc(out, func(a, b ledgerLine) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out
}

// The credit ledger, not only the balance, comes out the same whatever order
// Stripe delivers a life cycle's events in: the PostgreSQL multi-instance
// test relies on it.
func TestLedgerIsTheSameInAnyOrder(t *testing.T) {
	h := setup(t)
	apply := func(ws string, order []int) {
		events := lifecycle(ws)
		for _, i := range order {
			r := h.send(h.build(events[i]))
			if r.Code != 200 {
				t.Fatalf("%s: %+v", events[i].Type, r)
			}
		}
	}
	inOrder := []int{0, 1, 2, 3, 4, 5, 6, 7}
	apply("ws_ref", inOrder)
	ref := ledgerSet(h, "ws_ref")
	refState := h.workspace("ws_ref")
	if refState.Credits.Balance != 250 || refState.Subscription.Status != "canceled" {
		t.Fatalf("reference state = %+v", refState)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 24; n++ {
		ws := fmt.Sprintf("ws_perm%d", n)
		order := slices.Clone(inOrder)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if n == 0 {
			slices.Reverse(order)
		}
		apply(ws, order)
		got := ledgerSet(h, ws)
		// Keys embed object ids derived from the workspace; compare by shape.
		if len(got) != len(ref) {
			t.Errorf("order %v: ledger %v, want %v", order, got, ref)
			continue
		}
		for i := range got {
			if got[i].Amount != ref[i].Amount || got[i].Bucket != ref[i].Bucket {
				t.Errorf("order %v: ledger %v, want %v", order, got, ref)
				break
			}
		}
		if st := h.workspace(ws); st.Credits != refState.Credits || st.Subscription.Status != "canceled" ||
			*st.Subscription.CurrentPeriodEnd != *refState.Subscription.CurrentPeriodEnd {
			t.Errorf("order %v: state %+v, want %+v", order, st, refState)
		}
	}
}
