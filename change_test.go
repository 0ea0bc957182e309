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

func TestLive(t *testing.T) {
	for _, tt := range []struct {
		sub  Subscription
		live bool
	}{
		{Subscription{Status: SubActive}, true},
		{Subscription{Status: SubTrialing}, true},
		{Subscription{Status: SubPastDue}, true},
		{Subscription{Status: SubIncomplete}, true},
		{Subscription{Status: SubUnpaid}, true},
		{Subscription{Status: SubPaused}, true},
		{Subscription{Status: SubActive, CancelAtPeriodEnd: true}, true},
		{Subscription{Status: SubCanceled}, false},
		{Subscription{Status: SubIncompleteExpired}, false},
		{Subscription{Status: ""}, false},       // no event has told its status
		{Subscription{Status: "frozen"}, false}, // a status Stripe adds later
	} {
		if live := tt.sub.Live(); live != tt.live {
			t.Errorf("%+v: live %v, want %v", tt.sub, live, tt.live)
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
