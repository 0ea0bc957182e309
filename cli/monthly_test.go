package cli_test

import (
	"bytes"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// `billing serve` makes the monthly grants of a yearly period, catching up
// on start the months that began while it was down.
func TestServeGrantsTheMonthsOfAYearlyPeriod(t *testing.T) {
	first := startService(t)
	secret := regexp.MustCompile(`whsec_[0-9a-f]{48}`).FindString(first.out.String())
	// The year began on the 1st, three months back: exactly three monthly
	// anniversaries have passed, whatever today is.
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month()-3, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(1, 0, 0).Unix()
	yearly := map[string]any{
		"data.object.items.data.0.price.recurring.interval": "year", "data.object.items.data.0.plan.interval": "year",
		"data.object.items.data.0.current_period_end": end, "data.object.lines.data.0.period.end": end,
	}
	for _, typ := range []string{"customer.subscription.created", "invoice.paid"} {
		p, err := trigger.Build(trigger.Options{Type: typ, PriceID: "price_1ProYearlyUSD", PeriodStart: start, Set: yearly})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+first.addr+"/api/billing/webhooks/stripe/", bytes.NewReader(p))
		req.Header.Set("Stripe-Signature", webhook.Sign(p, secret, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", typ, resp, err)
		}
		resp.Body.Close()
	}
	first.stop()

	second := startService(t, map[string]string{"DATABASE_URL": first.env["DATABASE_URL"]})
	var ledger []struct {
		Amount         int64  `json:"amount"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	// The grants commit before serve logs them: wait for both.
	logged := regexp.MustCompile(`"msg":"Granted the monthly credits of yearly periods","grants":3`)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if second.getJSON("/api/billing/workspaces/ws_1/credits/ledger", &ledger); len(ledger) == 7 && logged.MatchString(second.out.String()) {
			break
		}
	}
	sub := trigger.ID("sub_TestSub1", "ws_1")
	if len(ledger) != 7 || ledger[0].IdempotencyKey != "sub:"+sub+":first_period:month:3" || ledger[0].Amount != 1000 {
		t.Errorf("ledger = %+v, want the first month and months 2 to 4, each expiring the last", ledger)
	}
	if !logged.MatchString(second.out.String()) {
		t.Errorf("serve did not log the three grants:\n%s", second.out)
	}
}
