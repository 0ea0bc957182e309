package billing

import (
	"reflect"
	"strings"
	"testing"
)

var rulePlans = func() *Plans {
	p, err := NewPlans([]Plan{
		{ID: "pro", StripePriceIDs: []string{"price_ProMonthly", "price_ProYearly"}, MonthlyCredits: 1000},
		{ID: "team", StripePriceIDs: []string{"price_Team"}, MonthlyCredits: 5000},
	})
	if err != nil {
		panic(err)
	}
	return p
}()

func TestLiveAndEnded(t *testing.T) {
	for _, tt := range []struct {
		sub         Subscription
		live, ended bool
	}{
		{Subscription{Status: SubActive}, true, false},
		{Subscription{Status: SubTrialing}, true, false},
		{Subscription{Status: SubPastDue}, true, false},
		{Subscription{Status: SubIncomplete}, true, false},
		{Subscription{Status: SubUnpaid}, true, false},
		{Subscription{Status: SubPaused}, true, false},
		{Subscription{Status: SubActive, CancelAtPeriodEnd: true}, true, false},
		{Subscription{Status: SubCanceled}, false, true},
		{Subscription{Status: SubIncompleteExpired}, false, true},
		{Subscription{Status: ""}, false, false},       // no event has told its status
		{Subscription{Status: "frozen"}, false, false}, // a status Stripe adds later
	} {
		if live, ended := tt.sub.Live(), tt.sub.Ended(); live != tt.live || ended != tt.ended {
			t.Errorf("%+v: live %v, ended %v; want %v, %v", tt.sub, live, ended, tt.live, tt.ended)
		}
	}
}

func count(n int64) *int64 { return &n }

func TestCheckoutRequest(t *testing.T) {
	urls := func(c Checkout) Checkout {
		c.SuccessURL, c.CancelURL = "https://app.example/ok", "https://app.example/cancel"
		return c
	}
	for _, tt := range []struct {
		name string
		in   Checkout
		want *CheckoutRequest // nil: refused with err
		err  string
	}{
		{"the plan alone: its first price, one seat", Checkout{Plan: "pro"},
			&CheckoutRequest{PriceID: "price_ProMonthly", Quantity: 1}, ""},
		{"every option", Checkout{Plan: "pro", Price: "price_ProYearly", Quantity: count(10000), TrialDays: count(730), Coupon: "SAVE20"},
			&CheckoutRequest{PriceID: "price_ProYearly", Quantity: 10000, TrialDays: 730, Coupon: "SAVE20"}, ""},
		{"a promotion code", Checkout{Plan: "team", PromotionCode: "promo_1", TrialDays: count(1), Quantity: count(1)},
			&CheckoutRequest{PriceID: "price_Team", Quantity: 1, TrialDays: 1, PromotionCode: "promo_1"}, ""},
		{"codes on the page", Checkout{Plan: "team", AllowPromotionCodes: true},
			&CheckoutRequest{PriceID: "price_Team", Quantity: 1, AllowPromotionCodes: true}, ""},
		{"no plan", Checkout{}, nil, `plan "" is not in the plans file`},
		{"another plan's price", Checkout{Plan: "pro", Price: "price_Team"}, nil,
			`price "price_Team" is not one of plan "pro"'s prices (price_ProMonthly, price_ProYearly)`},
		{"no seats", Checkout{Plan: "pro", Quantity: count(0)}, nil, "quantity must be a whole number from 1 to 10000"},
		{"too many seats", Checkout{Plan: "pro", Quantity: count(10001)}, nil, "quantity must be a whole number from 1 to 10000"},
		{"a trial of no days", Checkout{Plan: "pro", TrialDays: count(0)}, nil, "trial_days must be a whole number from 1 to 730"},
		{"a trial past two years", Checkout{Plan: "pro", TrialDays: count(731)}, nil, "trial_days must be a whole number from 1 to 730"},
		{"a coupon with a control character", Checkout{Plan: "pro", Coupon: "SAVE\n"}, nil, "coupon must be UTF-8 text without control characters"},
		{"a coupon not UTF-8", Checkout{Plan: "pro", Coupon: "\xff"}, nil, "coupon must be UTF-8 text"},
		{"a long promotion code", Checkout{Plan: "pro", PromotionCode: strings.Repeat("p", 256)}, nil, "promotion_code is longer than 255 bytes"},
		{"coupon and promotion code", Checkout{Plan: "pro", Coupon: "SAVE20", PromotionCode: "promo_1"}, nil, "give coupon or promotion_code, not both"},
		{"a coupon and codes on the page", Checkout{Plan: "pro", Coupon: "SAVE20", AllowPromotionCodes: true}, nil, "allow_promotion_codes cannot be combined"},
		{"a promotion code and codes on the page", Checkout{Plan: "pro", PromotionCode: "promo_1", AllowPromotionCodes: true}, nil, "allow_promotion_codes cannot be combined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rulePlans.checkoutRequest("ws_1", urls(tt.in))
			if tt.want == nil {
				if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.err) {
					t.Errorf("err = %v, want invalid %q", err, tt.err)
				}
				return
			}
			want := *tt.want
			want.WorkspaceID, want.SuccessURL, want.CancelURL = "ws_1", "https://app.example/ok", "https://app.example/cancel"
			if err != nil || !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// onPro is an active subscription to pro monthly with 2 seats.
func onPro(edit ...func(*Subscription)) *Subscription {
	s := &Subscription{ID: "sub_1", WorkspaceID: "ws_1", Status: SubActive, ItemID: "si_1", PriceID: "price_ProMonthly", PlanID: "pro", Quantity: 2}
	for _, e := range edit {
		e(s)
	}
	return s
}

func status(st string) func(*Subscription) { return func(s *Subscription) { s.Status = st } }

func TestSwapRules(t *testing.T) {
	for _, tt := range []struct {
		name string
		sub  *Subscription
		swap Swap
		want *SubscriptionChange // nil with code "": nothing to change
		code string
		msg  string
	}{
		{"to a plan: its first price, seats kept, prorated", onPro(), Swap{Plan: "team"},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_Team", Quantity: 2, Proration: ProrationCreate}, "", ""},
		{"to a price, with seats and proration", onPro(), Swap{Price: "price_ProYearly", Quantity: count(5), Proration: ProrationAlwaysInvoice},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_ProYearly", Quantity: 5, Proration: ProrationAlwaysInvoice}, "", ""},
		{"seats only, by the plan it is on", onPro(), Swap{Plan: "pro", Quantity: count(3), Proration: ProrationNone},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_ProMonthly", Quantity: 3, Proration: ProrationNone}, "", ""},
		{"to the plan it is on, on its second price", onPro(func(s *Subscription) { s.PriceID = "price_ProYearly" }), Swap{Plan: "pro"}, nil, "", ""},
		{"to the price it has", onPro(), Swap{Price: "price_ProMonthly", Quantity: count(2)}, nil, "", ""},
		{"a past-due subscription", onPro(status(SubPastDue)), Swap{Plan: "team"},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_Team", Quantity: 2, Proration: ProrationCreate}, "", ""},
		{"one set to cancel", onPro(func(s *Subscription) { s.CancelAtPeriodEnd = true }), Swap{Plan: "team"},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_Team", Quantity: 2, Proration: ProrationCreate}, "", ""},
		{"canceled", onPro(status(SubCanceled)), Swap{Plan: "team"}, nil, EINVALIDSTATE, "has ended (canceled) and cannot be swapped"},
		{"expired", onPro(status(SubIncompleteExpired)), Swap{Plan: "team"}, nil, EINVALIDSTATE, "has ended (incomplete_expired)"},
		{"its first payment not made", onPro(status(SubIncomplete)), Swap{Plan: "team"}, nil, EINVALIDSTATE,
			"is incomplete and cannot be swapped until its first payment succeeds"},
		{"unpaid", onPro(status(SubUnpaid)), Swap{Plan: "team"},
			&SubscriptionChange{ItemID: "si_1", PriceID: "price_Team", Quantity: 2, Proration: ProrationCreate}, "", ""},
		{"its item unknown", onPro(func(s *Subscription) { s.ItemID = "" }), Swap{Plan: "team"}, nil, EINVALIDSTATE,
			"the plan item of subscription sub_1 is not known yet; billing sync --workspace ws_1"},
		{"neither plan nor price", onPro(), Swap{}, nil, EINVALID, "plan or price is required"},
		{"plan and price", onPro(), Swap{Plan: "team", Price: "price_Team"}, nil, EINVALID, "give plan or price, not both"},
		{"an unknown plan", onPro(), Swap{Plan: "gold"}, nil, EINVALID, `plan "gold" is not in the plans file`},
		{"a price no plan sells", onPro(), Swap{Price: "price_Gold"}, nil, EINVALID, `price "price_Gold" is in no plan`},
		{"no seats", onPro(), Swap{Plan: "team", Quantity: count(0)}, nil, EINVALID, "quantity must be a whole number from 1 to 10000"},
		{"an unknown proration", onPro(), Swap{Plan: "team", Proration: "later"}, nil, EINVALID, "proration must be create_prorations, always_invoice or none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (*SubscriptionChange)(nil), rulePlans.checkSwap(tt.swap)
			if err == nil {
				got, err = rulePlans.swapChange(tt.sub, tt.swap)
			}
			checkRule(t, got, err, tt.want, tt.code, tt.msg)
		})
	}
}

func TestCancelResumeAndQuantityRules(t *testing.T) {
	canceling := func(s *Subscription) { s.CancelAtPeriodEnd = true }
	for _, tt := range []struct {
		name string
		rule func(*Subscription) (*SubscriptionChange, error)
		sub  *Subscription
		want *SubscriptionChange
		code string
		msg  string
	}{
		{"cancel at period end", cancelAt(true), onPro(), &SubscriptionChange{CancelAtPeriodEnd: new(true)}, "", ""},
		{"cancel at period end again", cancelAt(true), onPro(canceling), nil, "", ""},
		{"cancel now", cancelAt(false), onPro(), &SubscriptionChange{CancelNow: true}, "", ""},
		{"cancel now one set to cancel", cancelAt(false), onPro(canceling), &SubscriptionChange{CancelNow: true}, "", ""},
		{"cancel an incomplete one now", cancelAt(false), onPro(status(SubIncomplete)), &SubscriptionChange{CancelNow: true}, "", ""},
		{"cancel a canceled one", cancelAt(false), onPro(status(SubCanceled)), nil, EINVALIDSTATE, "has ended (canceled) and cannot be canceled again"},
		{"resume one set to cancel", resumeChange, onPro(canceling), &SubscriptionChange{CancelAtPeriodEnd: new(false)}, "", ""},
		{"resume a trial set to cancel", resumeChange, onPro(canceling, status(SubTrialing)), &SubscriptionChange{CancelAtPeriodEnd: new(false)}, "", ""},
		{"resume one that renews", resumeChange, onPro(), nil, EINVALIDSTATE, "is not set to cancel at period end"},
		{"resume an ended one", resumeChange, onPro(canceling, status(SubCanceled)), nil, EINVALIDSTATE, "has ended (canceled) and cannot be resumed"},
		{"seats", seats(7), onPro(), &SubscriptionChange{ItemID: "si_1", Quantity: 7}, "", ""},
		{"the same seats", seats(2), onPro(), nil, "", ""},
		{"seats of an ended one", seats(7), onPro(status(SubIncompleteExpired)), nil, EINVALIDSTATE, "cannot be changed"},
		{"seats of an incomplete one", seats(7), onPro(status(SubIncomplete)), nil, EINVALIDSTATE, "is incomplete"},
		{"seats of a past-due one", seats(7), onPro(status(SubPastDue)), &SubscriptionChange{ItemID: "si_1", Quantity: 7}, "", ""},
		{"seats, the item unknown", seats(7), onPro(func(s *Subscription) { s.ItemID = "" }), nil, EINVALIDSTATE, "plan item"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule(tt.sub)
			checkRule(t, got, err, tt.want, tt.code, tt.msg)
		})
	}
}

func cancelAt(atPeriodEnd bool) func(*Subscription) (*SubscriptionChange, error) {
	return func(s *Subscription) (*SubscriptionChange, error) { return cancelChange(s, atPeriodEnd) }
}

func seats(n int64) func(*Subscription) (*SubscriptionChange, error) {
	return func(s *Subscription) (*SubscriptionChange, error) { return quantityChange(s, n) }
}

func checkRule(t *testing.T, got *SubscriptionChange, err error, want *SubscriptionChange, code, msg string) {
	t.Helper()
	if code != "" {
		if ErrorCode(err) != code || !strings.Contains(ErrorMessage(err), msg) || got != nil {
			t.Errorf("got %+v, %v; want %s %q", got, err, code, msg)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}

func TestChangeKey(t *testing.T) {
	a, errA := changeKey("")
	b, errB := changeKey("")
	if errA != nil || errB != nil || a == b || !strings.HasPrefix(a, "billing-change-") {
		t.Errorf("random keys %q %q (%v %v)", a, b, errA, errB)
	}
	if k, err := changeKey("app-key-1"); k != "app-key-1" || err != nil {
		t.Errorf("the caller's key: %q %v", k, err)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "k\x00", "k\u0085", "\xff"} {
		if _, err := changeKey(bad); ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "Idempotency-Key") {
			t.Errorf("changeKey(%q) = %v, want invalid naming Idempotency-Key", bad, err)
		}
	}
}
