package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

func TestVerify(t *testing.T) {
	payload, err := trigger.Build(trigger.Options{Type: "invoice.paid", APIVersion: "2020-08-27"})
	if err != nil {
		t.Fatal(err)
	}
	live, _ := trigger.Build(trigger.Options{Type: "invoice.paid", Set: map[string]any{"livemode": true}})
	now := time.Now()
	v := &webhook.Verifier{Secrets: []string{"whsec_a", "whsec_b"}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest,
		Now: func() time.Time { return now }}
	tests := []struct {
		name    string
		v       *webhook.Verifier
		payload []byte
		header  string
		want    error
	}{
		{"first secret", v, payload, webhook.Sign(payload, "whsec_a", now), nil},
		{"second secret", v, payload, webhook.Sign(payload, "whsec_b", now), nil},
		{"old API version is accepted", v, payload, webhook.Sign(payload, "whsec_b", now.Add(-4*time.Minute)), nil},
		{"empty header", v, payload, "", webhook.ErrNoSignature},
		{"unknown secret", v, payload, webhook.Sign(payload, "whsec_c", now), webhook.ErrBadSignature},
		{"no v1 signature", v, payload, "t=1767225600,v0=abcd", webhook.ErrBadSignature},
		{"no timestamp", v, payload, "v1=abcd", webhook.ErrBadHeader},
		{"too old", v, payload, webhook.Sign(payload, "whsec_a", now.Add(-6*time.Minute)), webhook.ErrTooOld},
		{"from the future", v, payload, webhook.Sign(payload, "whsec_a", now.Add(6*time.Minute)), webhook.ErrFromFuture},
		{"live to test", v, live, webhook.Sign(live, "whsec_a", now), webhook.ErrLiveToTestMode},
		{"test to live", &webhook.Verifier{Secrets: []string{"whsec_a"}, Tolerance: time.Minute, Mode: billing.ModeLive},
			payload, webhook.Sign(payload, "whsec_a", now), webhook.ErrTestToLiveMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.v.Verify(tt.payload, tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (e.Type != "invoice.paid" || e.ID == "" || string(e.Payload) != string(tt.payload) || e.Created.IsZero()) {
				t.Errorf("event = %+v", e)
			}
			if err != nil && billing.ErrorCode(err) != billing.EINVALID {
				t.Errorf("code = %s, want invalid", billing.ErrorCode(err))
			}
		})
	}
}
