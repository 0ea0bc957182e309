package bench_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/bench"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// The ceiling and the decode-only stage answer 200 only to what the service
// would accept at that point: a signed event, and for decoding, one whose
// object decodes.
func TestStagesAnswerAsTheServiceWould(t *testing.T) {
	v := &webhook.Verifier{Secrets: []string{"whsec_stage"}, Tolerance: time.Minute, Mode: billing.ModeTest}
	good, err := trigger.Build(trigger.Options{Type: "invoice.paid"})
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(good, []byte(`"amount_due":`), []byte(`"amount_due":"many","x":`), 1)
	if bytes.Equal(bad, good) {
		t.Fatal("fixture has no amount_due to spoil")
	}
	for _, tt := range []struct {
		name    string
		h       http.Handler
		payload []byte
		secret  string
		want    int
	}{
		{"ceiling, signed", bench.Baseline(v), good, "whsec_stage", 200},
		{"ceiling, forged", bench.Baseline(v), good, "whsec_other", 400},
		{"ceiling, undecodable but signed", bench.Baseline(v), bad, "whsec_stage", 200},
		{"decode only, signed", bench.DecodeOnly(v), good, "whsec_stage", 200},
		{"decode only, forged", bench.DecodeOnly(v), good, "whsec_other", 400},
		{"decode only, undecodable", bench.DecodeOnly(v), bad, "whsec_stage", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tt.payload))
			req.Header.Set("Stripe-Signature", webhook.Sign(tt.payload, tt.secret, time.Now()))
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body, tt.want)
			}
		})
	}
}

func TestStoreOnlyDecodesNothing(t *testing.T) {
	e := &billing.Event{Type: "invoice.paid", Object: &billing.Invoice{ID: "in_1"}}
	if err := (bench.StoreOnly{}).Decode(e); err != nil || e.Object != nil {
		t.Errorf("Decode: %v, object %v; want no error and no object", err, e.Object)
	}
}
