package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

// metadata.credits grants only a whole number from 1 to 10^9, written
// plainly, on every path that reads it: any other value grants (and takes
// back) nothing, the event is processed, and a WARN names the value.
func TestBadCreditsMetadataGrantsNothing(t *testing.T) {
	values := []any{"1000000001", "5000000000", "999999999999", "9223372036854775807", "9223372036854775808",
		"-5", "+5", "05", " 5", "5 ", "1.5", "1e3", "0", "lots", "５", nil}
	paths := []struct {
		name string
		send func(h *harness, credits any)
	}{
		{"payment intent", func(h *harness, credits any) {
			h.deliver(trigger.Options{Type: "payment_intent.succeeded", Set: map[string]any{"data.object.metadata.credits": credits}}, billing.StatusProcessed)
		}},
		{"payment-mode checkout", func(h *harness, credits any) {
			h.deliver(trigger.Options{Type: "checkout.session.completed", Variant: "payment",
				Set: map[string]any{"data.object.metadata.credits": credits}}, billing.StatusProcessed)
		}},
		// The refund arrives first, so the charge's metadata is all that
		// tells the credits; then the purchase, as bad.
		{"refund before the purchase", func(h *harness, credits any) {
			set := map[string]any{"data.object.metadata.credits": credits}
			h.deliver(trigger.Options{Type: "charge.refunded", Created: at(time.Hour), Set: set}, billing.StatusProcessed)
			if p := h.payments("ws_1"); len(p) != 1 || p[0]["credits"] != 0.0 {
				h.t.Errorf("payment after the refund = %v, want 0 credits", p)
			}
			h.deliver(trigger.Options{Type: "payment_intent.succeeded", Created: at(0), Set: set}, billing.StatusProcessed)
		}},
	}
	for _, path := range paths {
		for _, credits := range values {
			t.Run(path.name+"/"+fmt.Sprint(credits), func(t *testing.T) {
				h := setup(t)
				path.send(h, credits)
				w := h.workspace("ws_1")
				if w.Credits.Balance != 0 || len(h.ledger("ws_1")) != 0 {
					t.Errorf("credits %v: balance %+v, ledger %+v, want nothing", credits, w.Credits, h.ledger("ws_1"))
				}
				value, _ := json.Marshal(credits)
				if credits == nil {
					value = []byte(`""`)
				}
				if logs := h.logs.String(); !strings.Contains(logs, "no valid metadata.credits") || !strings.Contains(logs, `"credits":`+string(value)) {
					t.Errorf("credits %v: no WARN naming the value %s", credits, value)
				}
			})
		}
	}
}

// A refund's share of credits is computed without overflowing, even where
// the credits times a 12-digit amount pass 64 bits.
func TestRefundOfALargePurchase(t *testing.T) {
	h := setup(t)
	big := map[string]any{"data.object.amount": 999_999_999_999, "data.object.metadata.credits": "1000000000"}
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Created: at(0), Set: big}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "charge.refunded", Created: at(time.Hour), Set: map[string]any{
		"data.object.amount": 999_999_999_999, "data.object.amount_refunded": 999_999_999_998}}, billing.StatusProcessed)
	if w := h.workspace("ws_1"); w.Credits.Purchased != 1 {
		t.Errorf("credits = %+v, want 1 left of 10^9 after refunding all but 1 of the amount", w.Credits)
	}
}

// No grant takes a balance past billing.MaxBalance: the event fails with a
// clear error, the balance is untouched, and the event applies once an
// operator brought the balance down.
func TestGrantPastTheCapFails(t *testing.T) {
	h := setup(t)
	ctx := context.Background()
	h.createWorkspace("ws_1")
	if _, err := h.svc.AdjustCredits(ctx, billing.Adjustment{WorkspaceID: "ws_1", Amount: billing.MaxBalance - 100, Reason: "test: near the cap"}); err != nil {
		t.Fatal(err)
	}
	r := h.send(h.build(trigger.Options{Type: "payment_intent.succeeded", EventID: "evt_PastCap"}))
	if r.Code != http.StatusInternalServerError {
		t.Fatalf("got %d %+v, want 500", r.Code, r.Error)
	}
	e, _ := h.event("evt_PastCap")
	if e.Status != "failed" || e.LastError == nil || !strings.Contains(*e.LastError, "would pass the cap of 1000000000000000 credits per workspace") {
		t.Errorf("event = %+v, want failed naming the cap", e)
	}
	if w := h.workspace("ws_1"); w.Credits.Balance != billing.MaxBalance-100 {
		t.Errorf("balance = %d, want it unchanged", w.Credits.Balance)
	}
	// Spending still works, and once the balance is low enough the replay
	// applies the purchase.
	h.mustConsume("ws_1", `{"amount":1000,"idempotency_key":"spend"}`, http.StatusOK)
	if st, err := h.svc.Replay(ctx, "evt_PastCap"); err != nil || st != billing.StatusProcessed {
		t.Fatalf("replay: %v %v", st, err)
	}
	if w := h.workspace("ws_1"); w.Credits.Balance != billing.MaxBalance-100-1000+500 {
		t.Errorf("balance = %d, want the purchase applied", w.Credits.Balance)
	}
}

// An operator's correction: a signed entry in the chosen bucket, applied
// once per key, never below zero or past the cap.
func TestAdjustCredits(t *testing.T) {
	h := setup(t)
	ctx := context.Background()
	fund(h) // 1000 subscription, 500 purchased
	adjust := func(a billing.Adjustment) (*billing.Adjustment, error) {
		if a.WorkspaceID == "" {
			a.WorkspaceID = "ws_1"
		}
		return h.svc.AdjustCredits(ctx, a)
	}
	first, err := adjust(billing.Adjustment{Amount: 250, Reason: "ticket 7: purchase not granted", Key: "ticket-7"})
	if err != nil || first.Replayed || first.Bucket != billing.BucketPurchased || first.Balance.Purchased != 750 {
		t.Fatalf("adjust = %+v, %v; want 250 more purchased credits", first, err)
	}
	again, err := adjust(billing.Adjustment{Amount: 250, Reason: "retried", Key: "ticket-7"})
	if err != nil || !again.Replayed || again.Balance.Purchased != 750 || again.Reason != "ticket 7: purchase not granted" {
		t.Errorf("same key again = %+v, %v; want the first, replayed, nothing changed", again, err)
	}
	// Without a key, the same amount, bucket and reason is one correction.
	for range 2 {
		if _, err := adjust(billing.Adjustment{Amount: -100, Bucket: billing.BucketSubscription, Reason: "double grant"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		adj  billing.Adjustment
		code string
	}{
		{"same key, other amount", billing.Adjustment{Amount: 5, Reason: "x", Key: "ticket-7"}, billing.ECONFLICT},
		{"below zero", billing.Adjustment{Amount: -751, Reason: "too much"}, billing.EINSUFFICIENT},
		{"past the cap", billing.Adjustment{Amount: billing.MaxBalance, Reason: "too much"}, billing.EINVALID},
		{"zero", billing.Adjustment{Amount: 0, Reason: "nothing"}, billing.EINVALID},
		{"no reason", billing.Adjustment{Amount: 5}, billing.EINVALID},
		{"control character in the reason", billing.Adjustment{Amount: 5, Reason: "a\x00b"}, billing.EINVALID},
		{"unknown bucket", billing.Adjustment{Amount: 5, Reason: "x", Bucket: "gift"}, billing.EINVALID},
		{"unknown workspace", billing.Adjustment{WorkspaceID: "ws_nobody", Amount: 5, Reason: "x"}, billing.ENOTFOUND},
		{"bad workspace id", billing.Adjustment{WorkspaceID: "ws 1", Amount: 5, Reason: "x"}, billing.EINVALID},
	} {
		if _, err := adjust(tt.adj); billing.ErrorCode(err) != tt.code {
			t.Errorf("%s: err = %v, want %s", tt.name, err, tt.code)
		}
	}
	w := h.workspace("ws_1")
	if w.Credits.Subscription != 900 || w.Credits.Purchased != 750 {
		t.Errorf("credits = %+v, want 900 subscription and 750 purchased", w.Credits)
	}
	l := h.ledger("ws_1")
	if len(l) != 4 || l[0].Amount != -100 || l[0].Bucket != "subscription" || l[0].Reason != "double grant" ||
		!strings.HasPrefix(l[0].IdempotencyKey, "adjust:ws_1:auto-") || l[1].IdempotencyKey != "adjust:ws_1:ticket-7" {
		t.Errorf("ledger = %+v, want the two corrections on top of the grants", l)
	}
	if !strings.Contains(h.logs.String(), "Credits adjusted by an operator") {
		t.Error("no log line for the correction")
	}
}

// A grant of subscription credits says which period it pays for; other
// entries say none.
func TestLedgerEntriesSayTheirPeriod(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Created: at(2 * time.Second)}, billing.StatusProcessed)
	var l []struct {
		Key         string  `json:"idempotency_key"`
		PeriodStart *string `json:"period_start"`
	}
	h.get("/api/billing/workspaces/ws_1/credits/ledger", &l)
	got := map[string]string{}
	for _, e := range l {
		got[strings.SplitN(e.Key, ":", 2)[0]] = str(e.PeriodStart)
	}
	if got["sub"] != "2026-01-01T00:00:00Z" || got["purchase"] != "<null>" {
		t.Errorf("ledger periods: %v, want the first period's start on its grant and none on the purchase", got)
	}
}
