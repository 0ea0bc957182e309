package cli_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing/stripeapi/stripetest"
	"github.com/acme/billing/trigger"
)

// billing subscriptions swap|cancel|resume|quantity against stripe-mock
// (through a recording proxy that answers as Stripe would), with billing
// serve on the same database: each sends its parameters, prints the
// subscription Stripe answers and stores it.
func TestSubscriptionsCommands(t *testing.T) {
	t.Parallel()
	rec := &stripetest.Recorder{}
	start := time.Now().UTC().Truncate(24 * time.Hour) // the period billing trigger gives
	end := start.AddDate(0, 1, 0)
	stripe := &stripetest.Subscription{ID: trigger.ID("sub_TestSub1", "ws_1"), CustomerID: trigger.ID("cus_TestCustomer1", "ws_1"),
		WorkspaceID: "ws_1", ItemID: trigger.ID("si_TestItem1", "ws_1"), PriceID: "price_1ProMonthlyUSD", Quantity: 1,
		Status: "active", PeriodStart: start, PeriodEnd: end}
	rec.Rewrite = stripe.Rewrite
	s := startService(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_123",
		"STRIPE_API_URL": stripetest.Proxy(t, stripetest.Start(t), rec)})
	if code, out := s.run("trigger", "customer.subscription.created", "--workspace", "ws_1"); code != 0 {
		t.Fatalf("trigger: %d %s", code, out)
	}
	calls := func() []stripetest.Request { return rec.Requests("/v1/subscriptions/" + stripe.ID) }
	for i, tt := range []struct {
		args   []string
		method string
		form   map[string]string
		out    []string // lines the printed subscription has
	}{
		{[]string{"swap", "ws_1", "--plan", "team", "--quantity", "2"}, http.MethodPost, map[string]string{
			"items[0][id]": stripe.ItemID, "items[0][price]": "price_1TeamMonthlyUSD", "items[0][quantity]": "2",
			"proration_behavior": "create_prorations"},
			[]string{"plan          team", "price         price_1TeamMonthlyUSD", "quantity      2", "cancels       no"}},
		{[]string{"swap", "ws_1", "--price", "price_1ProYearlyUSD", "--proration", "none"}, http.MethodPost, map[string]string{
			"items[0][price]": "price_1ProYearlyUSD", "items[0][quantity]": "2", "proration_behavior": "none"},
			[]string{"plan          pro", "price         price_1ProYearlyUSD", "quantity      2"}},
		{[]string{"cancel", "ws_1"}, http.MethodPost, map[string]string{"cancel_at_period_end": "true", "items[0][id]": ""},
			[]string{"status        active", "cancels       at period end, " + end.Format(time.RFC3339), "entitled      yes (canceling)"}},
		{[]string{"resume", "ws_1"}, http.MethodPost, map[string]string{"cancel_at_period_end": "false"},
			[]string{"cancels       no", "entitled      yes (active)"}},
		{[]string{"quantity", "ws_1", "4"}, http.MethodPost, map[string]string{"items[0][quantity]": "4", "items[0][price]": ""},
			[]string{"quantity      4"}},
		{[]string{"cancel", "--now", "ws_1"}, http.MethodDelete, map[string]string{"expand[0]": "discounts.source.coupon"},
			[]string{"status        canceled", "entitled      no (canceled)"}},
	} {
		code, out := s.run(append([]string{"subscriptions"}, tt.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", tt.args, code, out)
		}
		for _, line := range tt.out {
			if !strings.Contains(out, line+"\n") {
				t.Errorf("%v printed\n%s\nwithout %q", tt.args, out, line)
			}
		}
		if got := calls(); len(got) != i+1 || got[i].Method != tt.method || got[i].Header.Get("Idempotency-Key") == "" {
			t.Fatalf("%v: calls to Stripe %+v", tt.args, got)
		}
		for k, v := range tt.form {
			if got := calls()[i].Form.Get(k); got != v {
				t.Errorf("%v sent %s=%q, want %q", tt.args, k, got, v)
			}
		}
	}
	var w struct {
		Subscription struct {
			Status   string `json:"status"`
			Quantity int64  `json:"quantity"`
		} `json:"subscription"`
	}
	if code := s.getJSON("/api/billing/workspaces/ws_1", &w); code != http.StatusOK || w.Subscription.Status != "canceled" || w.Subscription.Quantity != 4 {
		t.Errorf("stored subscription: %d %+v", code, w)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"resume", "ws_1"}, 1, "has ended (canceled) and cannot be resumed"},
		{[]string{"swap", "ws_1"}, 1, "plan or price is required"},
		{[]string{"swap", "ws_1", "--quantity", "two"}, 1, `invalid value "two" for flag -quantity: want a whole number`},
		{[]string{"quantity", "ws_1", "many"}, 1, `N "many": want a whole number of seats`},
		{[]string{"quantity", "ws_1"}, 2, "usage: billing subscriptions quantity WORKSPACE N"},
		{[]string{"cancel"}, 2, "usage: billing subscriptions cancel WORKSPACE [--now]"},
		{[]string{"swap", "ws_nobody", "--plan", "team"}, 1, `workspace "ws_nobody" not found`},
	} {
		if code, out := s.run(append([]string{"subscriptions"}, tt.args...)...); code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d %q, want %d %q", tt.args, code, out, tt.code, tt.want)
		}
	}
	if n := len(calls()); n != 6 {
		t.Errorf("%d calls to Stripe, want the 6 changes'", n)
	}
	noStripe := maps.Clone(s.env)
	delete(noStripe, "STRIPE_SECRET_KEY")
	if code, out := runWith(t, noStripe, "subscriptions", "resume", "ws_1"); code != 1 || !strings.Contains(out, "set STRIPE_SECRET_KEY") {
		t.Errorf("without STRIPE_SECRET_KEY: exit %d %q", code, out)
	}
}
