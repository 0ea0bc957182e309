package stripeapi

import "testing"

func TestRedactKeys(t *testing.T) {
	for in, want := range map[string]string{
		"Authorization was 'Bearer sk_live_123abc'.":    "Authorization was 'Bearer sk_live_****'.",
		"Invalid API Key provided: sk_test_****1234":    "Invalid API Key provided: sk_test_****",
		"restricted rk_test_AbC and pk_live_x, whsec_y": "restricted rk_test_**** and pk_live_****, whsec_****",
		"No such price: 'price_TestPro'":                "No such price: 'price_TestPro'",
		"task_live_1 is no key":                         "task_live_1 is no key",
	} {
		if got := redactKeys(in); got != want {
			t.Errorf("redactKeys(%q) = %q, want %q", in, got, want)
		}
	}
}
