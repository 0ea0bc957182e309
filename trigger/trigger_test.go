package trigger_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// Every handled type has a fixture of every API version, which the
// verifier takes as a Stripe event of that type, and a thin version
// naming its object, but for discounts, which Stripe's API has no path to.
func TestEveryTypeBuilds(t *testing.T) {
	for _, v := range trigger.APIVersions() {
		for _, typ := range trigger.Types() {
			p, err := trigger.Build(trigger.Options{Type: typ, APIVersion: v, Workspace: "ws_x"})
			if err != nil {
				t.Errorf("%s %s: %v", v, typ, err)
				continue
			}
			e, err := webhook.Parse(p, billing.ModeTest)
			if err != nil || e.Type != typ || !strings.Contains(string(p), `"ws_x"`) && strings.Contains(string(p), `"ws_1"`) {
				t.Errorf("%s %s: parsed %+v, %v", v, typ, e, err)
			}
			thin, err := trigger.Build(trigger.Options{Type: typ, APIVersion: v, Thin: true})
			if strings.HasPrefix(typ, "customer.discount.") {
				if err == nil {
					t.Errorf("%s: a thin version of a discount event: %s", typ, thin)
				}
				continue
			}
			var n struct {
				Object        string `json:"object"`
				Type          string `json:"type"`
				RelatedObject struct {
					ID, URL string
				} `json:"related_object"`
			}
			if err != nil || json.Unmarshal(thin, &n) != nil || n.Object != "v2.core.event" || n.Type != "v1."+typ ||
				n.RelatedObject.ID == "" || !strings.HasSuffix(n.RelatedObject.URL, "/"+n.RelatedObject.ID) {
				t.Errorf("thin %s %s: %s, %v", v, typ, thin, err)
			}
		}
	}
}
