package stripetest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Subscription is one subscription as Stripe keeps it, for tests. stripe-mock
// answers every call about a subscription with the same fixture, whatever
// was asked; Subscription.Rewrite, as a Recorder's Rewrite, applies each
// update and cancellation of this subscription the way Stripe does and
// answers with the new state, in stripe-mock's shape. Set the fields before
// the first request; read them, once requests are done, as Stripe's side.
type Subscription struct {
	ID, CustomerID, WorkspaceID string
	// ItemID, PriceID and Quantity are the plan's item's.
	ItemID, PriceID string
	Quantity        int64
	Status          string
	// PeriodStart and PeriodEnd are the current period.
	PeriodStart, PeriodEnd time.Time
	CancelAtPeriodEnd      bool
	CanceledAt, EndedAt    time.Time
	// Coupon, when set, is a percent-off coupon discounting the
	// subscription. As Stripe does, an answer names its discount by id
	// alone unless the request expands discounts (the coupon's id) or
	// discounts.source.coupon (the coupon).
	Coupon     string
	PercentOff float64
	// Now is when a cancellation happens; nil is time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// Rewrite answers a successful retrieve, update or cancellation of the
// subscription with its state after the request; other answers pass.
func (s *Subscription) Rewrite(r Request, status int, body []byte) []byte {
	if status != http.StatusOK || r.Path != "/v1/subscriptions/"+s.ID {
		return body
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		s.update(r)
	case http.MethodDelete:
		now := s.now()
		s.Status, s.CancelAtPeriodEnd, s.CanceledAt, s.EndedAt = "canceled", false, now, now
	}
	out, err := s.answer(body, expands(r))
	if err != nil {
		return body
	}
	return out
}

// update applies an update's parameters as Stripe does: a new price
// without a quantity resets the seats to 1.
func (s *Subscription) update(r Request) {
	if p := r.Form.Get("items[0][price]"); p != "" && p != s.PriceID {
		s.PriceID, s.Quantity = p, 1
	}
	if q, err := strconv.ParseInt(r.Form.Get("items[0][quantity]"), 10, 64); err == nil {
		s.Quantity = q
	}
	switch r.Form.Get("cancel_at_period_end") {
	case "true":
		s.CancelAtPeriodEnd, s.CanceledAt = true, s.now()
	case "false":
		s.CancelAtPeriodEnd, s.CanceledAt = false, time.Time{}
	}
}

// expands lists what a request expands (expand[]=… or expand[0]=…).
func expands(r Request) []string {
	var out []string
	for k, vs := range r.Form {
		if strings.HasPrefix(k, "expand[") {
			out = append(out, vs...)
		}
	}
	return out
}

func (s *Subscription) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// answer is stripe-mock's subscription body with the state in it.
func (s *Subscription) answer(body []byte, expand []string) ([]byte, error) {
	var sub map[string]any
	if err := json.Unmarshal(body, &sub); err != nil {
		return nil, err
	}
	cancelAt := time.Time{}
	if s.CancelAtPeriodEnd {
		cancelAt = s.PeriodEnd // as API versions since 2025 report it
	}
	for k, v := range map[string]any{
		"id": s.ID, "customer": s.CustomerID, "status": s.Status,
		"metadata":             map[string]string{"workspace_id": s.WorkspaceID},
		"cancel_at_period_end": s.CancelAtPeriodEnd, "cancel_at": unix(cancelAt),
		"canceled_at": unix(s.CanceledAt), "ended_at": unix(s.EndedAt), "start_date": unix(s.PeriodStart),
		"trial_start": nil, "trial_end": nil, "pause_collection": nil, "schedule": nil,
		"discounts": s.discounts(expand),
	} {
		sub[k] = v
	}
	if items, ok := sub["items"].(map[string]any); ok {
		if data, ok := items["data"].([]any); ok && len(data) > 0 {
			if item, ok := data[0].(map[string]any); ok {
				s.item(item)
				items["data"] = data[:1]
			}
		}
	}
	return json.Marshal(sub)
}

// discounts is the subscription's discounts as an answer expanding
// expand shows them.
func (s *Subscription) discounts(expand []string) []any {
	if s.Coupon == "" {
		return []any{}
	}
	id := "di_" + s.ID
	coupon := any(s.Coupon)
	switch {
	case slices.Contains(expand, "discounts.source.coupon"):
		coupon = map[string]any{"id": s.Coupon, "object": "coupon", "percent_off": s.PercentOff, "duration": "forever"}
	case !slices.Contains(expand, "discounts"):
		return []any{id}
	}
	return []any{map[string]any{"id": id, "object": "discount", "subscription": s.ID, "end": nil,
		"source": map[string]any{"type": "coupon", "coupon": coupon}}}
}

func (s *Subscription) item(item map[string]any) {
	item["id"], item["quantity"], item["subscription"] = s.ItemID, s.Quantity, s.ID
	item["current_period_start"], item["current_period_end"] = unix(s.PeriodStart), unix(s.PeriodEnd)
	if price, ok := item["price"].(map[string]any); ok {
		price["id"] = s.PriceID
		price["recurring"] = map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"}
	}
	delete(item, "plan")
}

// unix is a time as Stripe sends it: seconds, or null for none.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}
