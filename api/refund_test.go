package api_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"

	"github.com/acme/billing/trigger"
)

// permutations calls fn with every order of n items.
func permutations(n int, fn func(order []int)) {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var permute func(k int)
	permute = func(k int) {
		if k == n {
			fn(order)
			return
		}
		for i := k; i < n; i++ {
			order[k], order[i] = order[i], order[k]
			permute(k + 1)
			order[k], order[i] = order[i], order[k]
		}
	}
	permute(0)
}

// Credits are taken back once per refunded amount whichever of a refund's
// own events and charge.refunded arrive, in every order, with the purchase
// before or after them; a refund that failed before it was counted takes
// nothing.
func TestRefundEventsTakeBackOnce(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		for _, tt := range []struct {
			name   string
			events func(ws string) []trigger.Options
			want   int64 // purchased credits left of the 500 bought for 5000
			// statuses are the refunds' as listed, newest first.
			statuses []string
		}{
			{"one refund of half, four events", func(ws string) []trigger.Options {
				return []trigger.Options{
					ev("refund.created", ws, v, time.Hour),
					ev("refund.updated", ws, v, time.Hour+time.Minute),
					ev("charge.refunded", ws, v, time.Hour+2*time.Minute),
					ev("charge.refund.updated", ws, v, time.Hour+3*time.Minute),
				}
			}, 250, []string{"succeeded"}},
			{"two refunds, then the charge's cumulative amount", func(ws string) []trigger.Options {
				return []trigger.Options{
					ev("refund.created", ws, v, time.Hour),
					ev("refund.created", ws, v, 2*time.Hour, map[string]any{"data.object.id": "re_Second_" + ws, "data.object.amount": 1000}),
					ev("charge.refunded", ws, v, 2*time.Hour+time.Minute, map[string]any{"data.object.amount_refunded": 3500}),
				}
			}, 150, []string{"pending", "pending"}},
			{"a refund that failed", func(ws string) []trigger.Options {
				return []trigger.Options{
					ev("refund.created", ws, v, time.Hour, map[string]any{"data.object.status": "pending"}),
					ev("refund.failed", ws, v, time.Hour+time.Minute),
				}
			}, -1, []string{"failed"}}, // 250 when counted before it failed, 500 when it failed first
		} {
			t.Run(tt.name, func(t *testing.T) {
				n := 0
				permutations(len(tt.events("x"))+1, func(order []int) {
					ws := fmt.Sprintf("ws_r%d_%d", len(tt.name), n)
					n++
					events := append([]trigger.Options{ev("payment_intent.succeeded", ws, v, 0)}, tt.events(ws)...)
					for i := range events {
						events[i].EventID = trigger.NewEventID()
					}
					for _, i := range order {
						if r := h.send(h.build(events[i])); r.Code != 200 {
							t.Fatalf("order %v: %s: %+v", order, events[i].Type, r)
						}
						h.send(h.build(events[i])) // a redelivery changes nothing
					}
					want := tt.want
					if want < 0 {
						// Taken back only when the purchase and the refund
						// were both seen before the refund failed.
						want = 500
						if failed := indexOf(order, 2); indexOf(order, 0) < failed && indexOf(order, 1) < failed {
							want = 250
						}
					}
					if got := h.workspace(ws).Credits.Purchased; got != want {
						t.Errorf("order %v: %d purchased credits, want %d; ledger %+v", order, got, want, h.ledger(ws))
					}
					var refunds []struct {
						Status string `json:"status"`
						Amount int64  `json:"amount"`
					}
					h.get("/api/billing/workspaces/"+ws+"/refunds", &refunds)
					if len(refunds) != len(tt.statuses) {
						t.Errorf("order %v: refunds %+v, want %v", order, refunds, tt.statuses)
					}
					for i := range refunds {
						if i < len(tt.statuses) && refunds[i].Status != tt.statuses[i] {
							t.Errorf("order %v: refunds %+v, want %v", order, refunds, tt.statuses)
						}
					}
				})
			})
		}
	})
}

// A refund of an amount Stripe cannot refund is stored, ignored with a
// note, and takes nothing back.
func TestRefundOutOfRange(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		h := setup(t)
		h.deliver(ev("payment_intent.succeeded", "ws_big", v, 0), billing.StatusProcessed)
		for i, amount := range []int64{-1, billing.MaxStripeAmount + 1, math.MaxInt64} {
			bad := ev("refund.created", "ws_big", v, time.Hour, map[string]any{"data.object.amount": amount})
			bad.EventID = fmt.Sprintf("evt_big_refund_%d", i)
			h.deliver(bad, billing.StatusIgnored)
			var e struct {
				Note *string `json:"note"`
			}
			h.get("/api/billing/events/"+bad.EventID, &e)
			if e.Note == nil || !strings.Contains(*e.Note, "is outside 0 to 999999999999") {
				t.Errorf("refund of %d: note %v", amount, e.Note)
			}
		}
		if w := h.workspace("ws_big"); w.Credits.Purchased != 500 || h.count("refunds") != 0 {
			t.Errorf("out-of-range refunds changed the purchase: %+v, %d refunds", w.Credits, h.count("refunds"))
		}
	})
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
