package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/trigger"
)

type entitlementView struct {
	Entitled bool            `json:"entitled"`
	Reason   string          `json:"reason"`
	Plan     *string         `json:"plan"`
	Features json.RawMessage `json:"features"`
	Credits  struct {
		Balance, Subscription, Purchased, Spendable int64
	} `json:"credits"`
	Until *string `json:"until"`
}

type featureView struct {
	Feature string `json:"feature"`
	Allowed bool   `json:"allowed"`
	Limit   *int64 `json:"limit"`
	Reason  string `json:"reason"`
}

// The entitlements endpoints answer what a workspace may use now, by the
// one rule (billing.Entitle), through a subscription's whole life.
func TestEntitlements(t *testing.T) {
	clock := billingtest.NewClock(at(time.Hour))
	h := setupAt(t, clock)
	h.createWorkspace("ws_1")
	ent := func() entitlementView {
		t.Helper()
		var e entitlementView
		if code := h.get("/api/billing/workspaces/ws_1/entitlements", &e); code != http.StatusOK {
			t.Fatalf("GET entitlements: %d", code)
		}
		return e
	}
	feature := func(name string) (featureView, int) {
		t.Helper()
		var f featureView
		code := h.get("/api/billing/workspaces/ws_1/entitlements/"+name, &f)
		return f, code
	}
	if e := ent(); e.Entitled || e.Reason != billing.ReasonNoSubscription || e.Plan != nil || string(e.Features) != "{}" || e.Until != nil {
		t.Errorf("no subscription: %+v", e)
	}
	if f, _ := feature("exports"); f.Allowed || f.Reason != billing.ReasonNoSubscription {
		t.Errorf("exports without a subscription: %+v", f)
	}
	for _, path := range []string{"/api/billing/workspaces/ws_1/entitlements/teleport", "/api/billing/workspaces/ws_nobody/entitlements",
		"/api/billing/workspaces/ws_nobody/entitlements/exports"} {
		if code := h.get(path, &map[string]any{}); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}

	fund(h) // pro, active, 1000 subscription and 500 purchased credits
	if e := ent(); !e.Entitled || e.Reason != billing.ReasonActive || str(e.Plan) != "pro" ||
		string(e.Features) != `{"exports":true,"seats":5}` || e.Credits.Spendable != 1500 || e.Until != nil {
		t.Errorf("active: %+v features %s", e, e.Features)
	}
	if f, _ := feature("seats"); !f.Allowed || f.Limit == nil || *f.Limit != 5 || f.Reason != billing.ReasonActive {
		t.Errorf("seats on pro: %+v", f)
	}
	if f, _ := feature("exports"); !f.Allowed || f.Limit != nil {
		t.Errorf("exports on pro: %+v", f)
	}
	if f, _ := feature("sso"); f.Allowed || f.Reason != billing.ReasonNotInPlan {
		t.Errorf("sso, a team feature, on pro: %+v", f)
	}

	h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(3 * time.Second),
		Set: map[string]any{"data.object.cancel_at_period_end": true}}, billing.StatusProcessed)
	if e := ent(); !e.Entitled || e.Reason != billing.ReasonCanceling || str(e.Until) != "2026-02-01T00:00:00Z" {
		t.Errorf("canceling: %+v", e)
	}

	h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(4 * time.Second),
		Set: map[string]any{"data.object.status": "past_due"}}, billing.StatusProcessed)
	if e := ent(); !e.Entitled || e.Reason != billing.ReasonPastDueGrace || str(e.Until) != "2026-01-08T00:00:04Z" {
		t.Errorf("past due, in the grace: %+v", e)
	}
	clock.Add(8 * 24 * time.Hour)
	if e := ent(); e.Entitled || e.Reason != billing.ReasonPastDue || string(e.Features) != "{}" || e.Credits.Spendable != 500 || e.Credits.Balance != 1500 {
		t.Errorf("past due, after the grace: %+v features %s", e, e.Features)
	}
	if f, _ := feature("exports"); f.Allowed || f.Reason != billing.ReasonPastDue {
		t.Errorf("exports after the grace: %+v", f)
	}
}
