package billing

import (
	"math"
	"strings"
	"testing"
)

func TestParseCredits(t *testing.T) {
	for s, want := range map[string]int64{
		"1": 1, "500": 500, "1000000000": 1_000_000_000,
		// Out of range: the 1..10^9 the README promises.
		"0": 0, "1000000001": 0, "5000000000": 0, "999999999999": 0,
		"9223372036854775807": 0, "9223372036854775808": 0, "18446744073709551616": 0,
		// Not written plainly.
		"-5": 0, "+5": 0, "05": 0, "0005": 0, " 5": 0, "5 ": 0, "5\n": 0, "1.5": 0, "1e3": 0, "1_000": 0,
		"0x10": 0, "５": 0, "": 0, "lots": 0,
	} {
		got, ok := parseCredits(s)
		if got != want || ok != (want > 0) {
			t.Errorf("parseCredits(%q) = %d, %v; want %d, %v", s, got, ok, want, want > 0)
		}
	}
}

func TestValidateWorkspaceID(t *testing.T) {
	for id, ok := range map[string]bool{
		"ws_1": true, "Acme-Corp.eu": true, "org:42": true, "W:x": true, "billing@acme.example": true,
		"a+b=c~d": true, "0f8fad5b-d9cb-469f-a165-70867728950e": true, strings.Repeat("w", 255): true,
		"": false, strings.Repeat("w", 256): false, ".": false, "..": false,
		"ws 1": false, "ws/1": false, "ws%3A1": false, "ws?1": false, "ws#1": false, `ws"1`: false,
		"ws\x00": false, "ws\n": false, "ws\x7f": false, "wsé": false, "ws\xff": false,
	} {
		if err := ValidateWorkspaceID(id); (err == nil) != ok {
			t.Errorf("ValidateWorkspaceID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestValidText(t *testing.T) {
	for s, ok := range map[string]bool{
		"": true, "Acme GmbH": true, "Zoë Ünal": true, "日本": true, "tab\tno": false,
		"nul\x00": false, "bell\a": false, "del\x7f": false, "c1\u0085": false, "bad\xff": false, "cut\xc3": false,
	} {
		if got := ValidText(s); got != ok {
			t.Errorf("ValidText(%q) = %v, want %v", s, got, ok)
		}
	}
}

// No two different causes share a key, whatever characters their parts
// hold; keys of ids without ':' or '%' read as they did before escaping.
func TestKeysAreUnambiguous(t *testing.T) {
	consume := func(ws, key string) string {
		return consumeKey(&Consumption{WorkspaceID: ws, IdempotencyKey: key}, BucketSubscription)
	}
	seen := map[string]string{}
	for cause, key := range map[string]string{
		"consume W x:job1":       consume("W", "x:job1"),
		"consume W:x job1":       consume("W:x", "job1"),
		"consume W x%3Ajob1":     consume("W", "x%3Ajob1"),
		"consume W x job1:sub":   consume("W", "job1:subscription"),
		"adjust W x:1":           adjustKey("W", "x:1"),
		"adjust W:x 1":           adjustKey("W:x", "1"),
		"renewal in_1":           renewalKey("in_1"),
		"renewal in_1:expire":    renewalKey("in_1:expire"),
		"expire of renewal in_1": expireKey(renewalKey("in_1")),
		"first period sub_1":     firstPeriodKey("sub_1"),
		"expire of first sub_1":  expireKey(firstPeriodKey("sub_1")),
		"end of sub_1":           subscriptionEndKey("sub_1"),
		"first period sub_1:x":   firstPeriodKey("sub_1:first_period:expire"),
		"refund pi_1 of 5":       refundKey("pi_1", 5),
		"refund pi_1:5 of 0":     refundKey("pi_1:5", 0),
		"purchase pi_1":          purchaseKey("pi_1"),
		"purchase pi_1:expire":   purchaseKey("pi_1:expire"),
	} {
		if other, dup := seen[key]; dup {
			t.Errorf("%s and %s share the key %q", cause, other, key)
		}
		seen[key] = cause
	}
	for got, want := range map[string]string{
		consume("ws_1", "job-42"):             "spend:ws_1:job-42:subscription",
		renewalKey("in_1Abc"):                 "invoice:in_1Abc",
		expireKey(firstPeriodKey("sub_1Abc")): "sub:sub_1Abc:first_period:expire",
		subscriptionEndKey("sub_1Abc"):        "sub:sub_1Abc:ended",
		purchaseKey("pi_1Abc"):                "purchase:pi_1Abc",
		refundKey("pi_1Abc", 2500):            "refund:pi_1Abc:2500",
		consume("W:x", "50%"):                 "spend:W%3Ax:50%25:subscription",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

func TestRefundShare(t *testing.T) {
	for _, tt := range []struct {
		credits, amount, refunded, want int64
	}{
		{500, 5000, 2500, 250},
		{500, 5000, 5000, 500},
		{500, 5000, 9000, 500},
		{500, 3, 1, 166},
		{500, 5000, 0, 0},
		{500, 0, 100, 0},
		{500, 5000, -100, 0},
		{0, 5000, 2500, 0},
		// Credits times the amount passes 64 bits.
		{1_000_000_000, 999_999_999_999, 999_999_999_998, 999_999_999},
		{1_000_000_000, math.MaxInt64, math.MaxInt64 - 1, 999_999_999},
	} {
		p := &Payment{Credits: tt.credits, Amount: tt.amount, AmountRefunded: tt.refunded}
		if got := refundShare(p); got != tt.want {
			t.Errorf("refundShare(%d credits, %d of %d refunded) = %d, want %d", tt.credits, tt.refunded, tt.amount, got, tt.want)
		}
	}
}

func TestBalanceTotalSaturates(t *testing.T) {
	for _, tt := range []struct{ sub, purchased, want int64 }{
		{1000, 500, 1500},
		{math.MaxInt64, 1000, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{-5, 10, 5},
	} {
		if got := (Balance{Subscription: tt.sub, Purchased: tt.purchased}).Total(); got != tt.want {
			t.Errorf("Total(%d, %d) = %d, want %d", tt.sub, tt.purchased, got, tt.want)
		}
	}
}

func TestCheckCap(t *testing.T) {
	for _, tt := range []struct {
		have, add int64
		ok        bool
	}{
		{0, MaxBalance, true},
		{MaxBalance - 500, 500, true},
		{MaxBalance - 499, 500, false},
		{MaxBalance, 1, false},
		{math.MaxInt64, 1, false},
		{math.MaxInt64, -5, true}, // a balance past the cap may still come down
		{0, math.MaxInt64, false},
	} {
		err := checkCap("ws_1", Balance{Purchased: tt.have}, tt.add)
		if (err == nil) != tt.ok {
			t.Errorf("checkCap(%d + %d) = %v, want ok=%v", tt.have, tt.add, err, tt.ok)
		}
	}
}
