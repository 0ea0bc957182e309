package webhook_test

import (
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// BenchmarkVerify is the signature check and envelope parse every delivery
// pays, with the matching secret second of two, as during a rotation.
func BenchmarkVerify(b *testing.B) {
	payload, err := trigger.Build(trigger.Options{Type: "invoice.paid"})
	if err != nil {
		b.Fatal(err)
	}
	v := &webhook.Verifier{Secrets: []string{"whsec_old", "whsec_new"}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest}
	header := webhook.Sign(payload, "whsec_new", time.Now())
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode parses data.object into the domain type, for each handled
// event type in the newest and the oldest API version we have fixtures of.
func BenchmarkDecode(b *testing.B) {
	v := &webhook.Verifier{Secrets: []string{"whsec_a"}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest}
	for _, version := range []string{trigger.APIVersions()[len(trigger.APIVersions())-1], "2020-08-27"} {
		for _, typ := range []string{"customer.subscription.updated", "invoice.paid", "payment_intent.succeeded", "checkout.session.completed", "charge.refunded"} {
			b.Run(version+"/"+typ, func(b *testing.B) {
				payload, err := trigger.Build(trigger.Options{Type: typ, APIVersion: version})
				if err != nil {
					b.Fatal(err)
				}
				e, err := v.Verify(payload, webhook.Sign(payload, "whsec_a", time.Now()))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				for b.Loop() {
					e.Object = nil
					if err := webhook.Decode(e); err != nil || e.Object == nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
