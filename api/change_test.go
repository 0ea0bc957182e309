package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/stripeapi/stripetest"
	"github.com/acme/billing/trigger"
)

// changing is the API with Stripe at stripe-mock and ws_1 subscribed to
// pro, one seat, paid (1000 credits), ten days into its period; stripe is
// that subscription as Stripe keeps it, answering each change.
type changing struct {
	*harness
	rec    *stripetest.Recorder
	stripe *stripetest.Subscription
	clock  *billingtest.Clock
	sub    string // its id
}

func subscribed(t *testing.T, stripeURL string) *changing {
	t.Helper()
	clock := billingtest.NewClock(at(10 * 24 * time.Hour))
	h, rec := withStripe(t, stripeURL, "sk_test_123", 10*time.Second,
		func(s *billing.Service) { s.Plans, s.Now = plansWithYearly, clock.Now })
	c := &changing{harness: h, rec: rec, clock: clock, sub: trigger.ID("sub_TestSub1", "ws_1")}
	c.stripe = &stripetest.Subscription{ID: c.sub, CustomerID: trigger.ID("cus_TestCustomer1", "ws_1"), WorkspaceID: "ws_1",
		ItemID: trigger.ID("si_TestItem1", "ws_1"), PriceID: proPrice, Quantity: 1, Status: "active",
		PeriodStart: t0, PeriodEnd: time.Unix(1769904000, 0), Now: clock.Now}
	rec.Rewrite = c.stripe.Rewrite
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
	return c
}

type changeView struct {
	Code         int
	Body         string
	Subscription *subscriptionView `json:"subscription"`
	Error        struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// String shows a subscription as the API answers it, for failure messages.
func (s subscriptionView) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// change posts to one of ws_1's subscription routes (swap, cancel, resume,
// quantity) with an Idempotency-Key unless key is "".
func (c *changing) change(route, body, key string) changeView {
	c.t.Helper()
	return c.changeOf("ws_1", route, body, key)
}

func (h *harness) changeOf(ws, route, body, key string) changeView {
	h.t.Helper()
	code, _, raw := h.postAPI("/api/billing/workspaces/"+ws+"/subscription/"+route, body, key)
	v := changeView{Code: code, Body: string(raw)}
	if err := json.Unmarshal(raw, &v); err != nil {
		h.t.Fatalf("%s: answer is not JSON: %s", route, raw)
	}
	return v
}

// ok is change expecting 200 and a subscription.
func (c *changing) ok(route, body, key string) subscriptionView {
	c.t.Helper()
	v := c.change(route, body, key)
	if v.Code != http.StatusOK || v.Subscription == nil {
		c.t.Fatalf("%s %s: %d %s", route, body, v.Code, v.Body)
	}
	return *v.Subscription
}

// calls are the requests made about the subscription so far.
func (c *changing) calls() []stripetest.Request { return c.rec.Requests("/v1/subscriptions/" + c.sub) }

// lastCall is the one request made about the subscription since n were.
func (c *changing) lastCall(n int) stripetest.Request {
	c.t.Helper()
	calls := c.calls()
	if len(calls) != n+1 {
		c.t.Fatalf("%d calls to Stripe about the subscription, want %d", len(calls), n+1)
	}
	return calls[n]
}

// A swap calls Stripe with the plan item, its new price and seats, the
// proration and the app's Idempotency-Key, and applies the answer at once:
// the upgrade's credits included. The webhook that follows changes nothing,
// an older one is stale, a later one applies.
func TestSwap(t *testing.T) {
	c := subscribed(t, stripetest.Start(t))
	c.stripe.Coupon, c.stripe.PercentOff = "SAVE20", 20
	s := c.ok("swap", `{"plan":"team","quantity":3,"proration":"always_invoice"}`, "swap-1")
	call := c.lastCall(0)
	if call.Method != http.MethodPost || call.Header.Get("Idempotency-Key") != "swap-1" {
		t.Errorf("swap sent %s with Idempotency-Key %q", call.Method, call.Header.Get("Idempotency-Key"))
	}
	checkForm(t, "swap", call, map[string]string{
		"items[0][id]": trigger.ID("si_TestItem1", "ws_1"), "items[0][price]": "price_TestTeam", "items[0][quantity]": "3",
		"proration_behavior": "always_invoice", "expand[0]": "discounts.source.coupon", "cancel_at_period_end": "",
	})
	if str(s.Plan) != "team" || str(s.Price) != "price_TestTeam" || *s.Quantity != 3 || s.Status != "active" || !s.Entitled ||
		s.Discount == nil || str(s.Discount.Coupon) != "SAVE20" || *s.Discount.PercentOff != 20 {
		t.Errorf("answer = %+v", s)
	}
	if got := c.subscription("ws_1"); !reflect.DeepEqual(got, s) {
		t.Errorf("stored %+v, answered %+v", got, s)
	}
	if w := c.workspace("ws_1"); w.Credits.Subscription != 5000 {
		t.Errorf("credits after the upgrade = %+v, want pro's 1000 and the difference of 4000", w.Credits)
	}
	ledger := len(c.ledger("ws_1"))

	// Stripe's webhook of the change, created in the same second.
	teamEvent := trigger.Options{Type: "customer.subscription.updated", PriceID: "price_TestTeam", Created: c.clock.Now(),
		Set: map[string]any{"data.object.items.data.0.quantity": 3, "data.object.discounts": []any{"di_" + c.sub}}}
	c.deliver(teamEvent, billing.StatusProcessed)
	if got := c.subscription("ws_1"); !reflect.DeepEqual(got, s) || len(c.ledger("ws_1")) != ledger {
		t.Errorf("the webhook that follows changed %+v to %+v", s, got)
	}
	c.deliver(trigger.Options{Type: "customer.subscription.updated", Created: c.clock.Now().Add(-time.Hour)}, billing.StatusStale)
	if got := c.subscription("ws_1"); str(got.Plan) != "team" {
		t.Errorf("an older webhook overwrote the answer: %+v", got)
	}

	// The same price and seats: answered as stored, no call.
	c.clock.Add(time.Hour)
	if again := c.ok("swap", `{"plan":"team"}`, ""); !reflect.DeepEqual(again, s) || len(c.calls()) != 1 {
		t.Errorf("swap to the same: %+v, %d calls", again, len(c.calls()))
	}
	// A price: the seats are kept (Stripe would reset them), the default
	// proration and a random key sent.
	yearly := c.ok("swap", `{"price":"price_TestProYearly"}`, "")
	call = c.lastCall(1)
	checkForm(t, "swap by price", call, map[string]string{
		"items[0][price]": "price_TestProYearly", "items[0][quantity]": "3", "proration_behavior": "create_prorations"})
	if k := call.Header.Get("Idempotency-Key"); k == "" || k == "swap-1" {
		t.Errorf("swap without a key sent Idempotency-Key %q, want a fresh one", k)
	}
	if str(yearly.Plan) != "pro" || str(yearly.Price) != "price_TestProYearly" || *yearly.Quantity != 3 {
		t.Errorf("after the swap by price: %+v", yearly)
	}
	// pro again, on pro's yearly price: nothing to change.
	if again := c.ok("swap", `{"plan":"pro"}`, ""); str(again.Price) != "price_TestProYearly" || len(c.calls()) != 2 {
		t.Errorf("swap to the plan it is on: %+v, %d calls", again, len(c.calls()))
	}
	later := teamEvent
	later.Created, later.Set = c.clock.Now().Add(time.Hour), map[string]any{"data.object.status": "past_due"}
	c.deliver(later, billing.StatusProcessed)
	if got := c.subscription("ws_1"); got.Status != "past_due" || str(got.Plan) != "team" {
		t.Errorf("a later webhook did not apply: %+v", got)
	}
}

// Stripe's answer is applied as of when it came: a webhook newer than that,
// already applied, is not overwritten, and the answer is the stored row.
func TestChangeNeverOverwritesANewerEvent(t *testing.T) {
	c := subscribed(t, stripetest.Start(t))
	c.deliver(trigger.Options{Type: "customer.subscription.updated", Created: c.clock.Now().Add(time.Hour),
		Set: map[string]any{"data.object.status": "past_due"}}, billing.StatusProcessed)
	s := c.ok("swap", `{"plan":"team"}`, "")
	if len(c.calls()) != 1 || c.stripe.PriceID != "price_TestTeam" {
		t.Fatalf("the swap did not reach Stripe: %d calls", len(c.calls()))
	}
	if s.Status != "past_due" || str(s.Plan) != "pro" {
		t.Errorf("answer = %+v, want the newer event's past_due pro", s)
	}
}

// Cancel at period end, resume, seats, then cancel now: each sends what
// Stripe needs and answers the state Stripe returns; what is already so
// calls no Stripe; an ended subscription takes no change.
func TestCancelResumeAndQuantity(t *testing.T) {
	c := subscribed(t, stripetest.Start(t))
	periodEnd := "2026-02-01T00:00:00Z"
	s := c.ok("cancel", ``, "cancel-1")
	call := c.lastCall(0)
	checkForm(t, "cancel", call, map[string]string{"cancel_at_period_end": "true", "items[0][id]": "", "proration_behavior": "",
		"expand[0]": "discounts.source.coupon"})
	if call.Header.Get("Idempotency-Key") != "cancel-1" || !s.CancelAtPeriodEnd || str(s.CancelAt) != periodEnd || !s.Entitled {
		t.Errorf("cancel at period end: %+v, key %q", s, call.Header.Get("Idempotency-Key"))
	}
	if again := c.ok("cancel", `{"at_period_end":true}`, ""); !again.CancelAtPeriodEnd || len(c.calls()) != 1 {
		t.Errorf("cancel again: %+v, %d calls", again, len(c.calls()))
	}

	s = c.ok("resume", `{}`, "")
	checkForm(t, "resume", c.lastCall(1), map[string]string{"cancel_at_period_end": "false", "items[0][id]": ""})
	if s.CancelAtPeriodEnd || s.CancelAt != nil || s.CanceledAt != nil || s.Status != "active" {
		t.Errorf("resumed: %+v", s)
	}
	if v := c.change("resume", ``, ""); v.Code != http.StatusConflict || v.Error.Code != billing.EINVALIDSTATE ||
		!strings.Contains(v.Error.Message, "not set to cancel at period end") {
		t.Errorf("resume of a renewing subscription: %d %s", v.Code, v.Body)
	}

	s = c.ok("quantity", `{"quantity":5}`, "seats-5")
	checkForm(t, "quantity", c.lastCall(2), map[string]string{
		"items[0][id]": trigger.ID("si_TestItem1", "ws_1"), "items[0][quantity]": "5", "items[0][price]": "", "proration_behavior": ""})
	if *s.Quantity != 5 || str(s.Price) != proPrice {
		t.Errorf("after the quantity: %+v", s)
	}
	if again := c.ok("quantity", `{"quantity":5}`, ""); *again.Quantity != 5 || len(c.calls()) != 3 {
		t.Errorf("the same quantity: %+v, %d calls", again, len(c.calls()))
	}

	s = c.ok("cancel", `{"at_period_end":false}`, "end-now")
	call = c.lastCall(3)
	checkForm(t, "cancel now", call, map[string]string{"expand[0]": "discounts.source.coupon"})
	if call.Method != http.MethodDelete || call.Header.Get("Idempotency-Key") != "end-now" {
		t.Errorf("cancel now sent %s with key %q", call.Method, call.Header.Get("Idempotency-Key"))
	}
	if s.Status != "canceled" || s.EndedAt == nil || s.Entitled {
		t.Errorf("canceled now: %+v", s)
	}
	if w := c.workspace("ws_1"); w.Credits.Subscription != 0 {
		t.Errorf("credits after the end = %+v, want the lot expired", w.Credits)
	}
	ledger := c.ledger("ws_1")
	c.deliver(trigger.Options{Type: "customer.subscription.deleted", Created: c.clock.Now()}, billing.StatusProcessed)
	if got := c.ledger("ws_1"); len(got) != len(ledger) {
		t.Errorf("the deletion webhook that follows changed the ledger: %+v", got)
	}
	for _, tt := range []struct{ route, body string }{
		{"swap", `{"plan":"team"}`}, {"cancel", ``}, {"cancel", `{"at_period_end":false}`}, {"resume", ``}, {"quantity", `{"quantity":2}`},
	} {
		if v := c.change(tt.route, tt.body, ""); v.Code != http.StatusConflict || v.Error.Code != billing.EINVALIDSTATE ||
			!strings.Contains(v.Error.Message, "has ended (canceled)") {
			t.Errorf("%s %s of an ended subscription: %d %s", tt.route, tt.body, v.Code, v.Body)
		}
	}
	if n := len(c.calls()); n != 4 {
		t.Errorf("%d calls to Stripe, want 4", n)
	}
}

// Bad requests are refused before Stripe or the database is asked: 400
// naming the field or header; 404 for a workspace that is unknown or has no
// subscription.
func TestChangesRefuseBadRequests(t *testing.T) {
	c := subscribed(t, stripetest.Start(t))
	c.createWorkspace("ws_empty")
	for _, tt := range []struct {
		ws, route, body, key string
		code                 int
		message              string
	}{
		{"ws_1", "swap", ``, "", 400, "plan or price is required"},
		{"ws_1", "swap", `{}`, "", 400, "plan or price is required"},
		{"ws_1", "swap", `{"plan":"team","price":"price_TestTeam"}`, "", 400, "give plan or price, not both"},
		{"ws_1", "swap", `{"plan":"gold"}`, "", 400, `plan "gold" is not in the plans file`},
		{"ws_1", "swap", `{"price":"price_Other"}`, "", 400, `price "price_Other" is in no plan of the plans file`},
		{"ws_1", "swap", `{"plan":"team","quantity":0}`, "", 400, "quantity must be a whole number from 1 to 10000"},
		{"ws_1", "swap", `{"plan":"team","quantity":10001}`, "", 400, "quantity must be a whole number from 1 to 10000"},
		{"ws_1", "swap", `{"plan":"team","quantity":2.5}`, "", 400, "quantity must be a whole number"},
		{"ws_1", "swap", `{"plan":"team","proration":"later"}`, "", 400, "proration must be create_prorations, always_invoice or none"},
		{"ws_1", "swap", `{"plan":"team","seats":2}`, "", 400, "unknown field"},
		{"ws_1", "swap", `{"plan":"team"`, "", 400, "request body"},
		{"ws_1", "swap", `{"plan":"team"}`, "key\u0085", 400, "Idempotency-Key must be UTF-8 text without control characters"},
		{"ws_1", "swap", `{"plan":"team"}`, "key\xff", 400, "Idempotency-Key must be UTF-8 text without control characters"},
		{"ws_1", "swap", `{"plan":"team"}`, strings.Repeat("k", 256), 400, "Idempotency-Key is longer than 255 bytes"},
		{"ws_1", "cancel", `{"at_period_end":"no"}`, "", 400, "at_period_end"},
		{"ws_1", "cancel", `{"now":true}`, "", 400, "unknown field"},
		{"ws_1", "resume", `{"at_period_end":false}`, "", 400, "unknown field"},
		{"ws_1", "quantity", ``, "", 400, "quantity must be a whole number from 1 to 10000"},
		{"ws_1", "quantity", `{"quantity":-2}`, "", 400, "quantity must be a whole number from 1 to 10000"},
		{"ws_1", "quantity", `{"quantity":"2"}`, "", 400, "quantity must be a whole number"},
		{"ws_none", "cancel", ``, "", 404, `workspace "ws_none"`},
		{"ws_empty", "swap", `{"plan":"team"}`, "", 404, `workspace "ws_empty" has no subscription`},
		{"ws_empty", "resume", ``, "", 404, "has no subscription"},
		{"ws%20bad", "resume", ``, "", 400, "workspace id"},
	} {
		v := c.changeOf(tt.ws, tt.route, tt.body, tt.key)
		if v.Code != tt.code || !strings.Contains(v.Error.Message, tt.message) {
			t.Errorf("%s %s %s (key %q): %d %s, want %d %q", tt.ws, tt.route, tt.body, tt.key, v.Code, v.Body, tt.code, tt.message)
		}
		if tt.code == 404 && tt.ws == "ws_empty" && v.Error.Code != billing.ENOSUBSCRIPTION {
			t.Errorf("%s %s: code %q, want no_subscription", tt.ws, tt.route, v.Error.Code)
		}
	}
	if n := len(c.rec.All()); n != 0 {
		t.Errorf("%d requests reached Stripe", n)
	}
}

// Stripe's refusals and failures map as checkout's do, and change nothing.
func TestChangeStripeErrors(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		status     int
		code       int
		message    string
	}{
		{"no such price", `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_TestTeam'"}}`,
			400, 400, "No such price: 'price_TestTeam'"},
		{"card declined", `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`,
			402, 402, "Your card was declined."},
		{"rate limited", `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`,
			429, 503, "rate limiting"},
		{"Stripe fails", `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`,
			500, 502, "Stripe failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := subscribed(t, stripeAnswering(t, tt.status, tt.body))
			before := c.subscription("ws_1")
			v := c.change("swap", `{"plan":"team","proration":"always_invoice"}`, "")
			if v.Code != tt.code || !strings.Contains(v.Error.Message, tt.message) {
				t.Errorf("%d %s, want %d %q", v.Code, v.Body, tt.code, tt.message)
			}
			if after := c.subscription("ws_1"); !reflect.DeepEqual(after, before) || len(c.calls()) == 0 {
				t.Errorf("after a refusal: %+v, was %+v (%d calls)", after, before, len(c.calls()))
			}
		})
	}
}
