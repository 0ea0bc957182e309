package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/stripeapi/stripetest"
	"github.com/acme/billing/trigger"
)

// noteOf is the stored note of an event.
func (h *harness) noteOf(id string) string {
	h.t.Helper()
	var e struct {
		Note *string `json:"note"`
	}
	if code := h.get("/api/billing/events/"+id, &e); code != http.StatusOK {
		h.t.Fatalf("GET event %s: %d", id, code)
	}
	if e.Note == nil {
		return ""
	}
	return *e.Note
}

// A thin event (an event destination's v2.core.event) is verified, stored,
// its object fetched from Stripe (stripe-mock) and applied as the snapshot
// event of its type would be, with the same duplicate and order rules.
func TestThinEventsFetchTheirObject(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	sub := trigger.ID("sub_TestSub1", "ws_thin")
	path := "/v1/subscriptions/" + sub

	// The snapshot event of a later change is applied first: the thin
	// event of an earlier one is stale, though its object is fetched.
	h.deliver(ev("customer.subscription.updated", "ws_thin", trigger.LatestAPIVersion, 10*time.Second), billing.StatusProcessed)
	early := trigger.Options{Type: "customer.subscription.updated", Workspace: "ws_thin", Thin: true, Created: at(5 * time.Second)}
	h.deliver(early, billing.StatusStale)

	thin := trigger.Options{Type: "customer.subscription.updated", Workspace: "ws_thin", Thin: true, Created: at(20 * time.Second),
		EventID: "evt_thin_sub"}
	payload := h.build(thin)
	if !strings.Contains(string(payload), `"object":"v2.core.event"`) || !strings.Contains(string(payload), `"url":"`+path+`"`) {
		t.Fatalf("not a thin event: %s", payload)
	}
	for _, want := range []string{"processed", "duplicate"} {
		if r := h.send(payload); r.Code != http.StatusOK || r.Status != want {
			t.Fatalf("thin event: %d %q, want 200 %q", r.Code, r.Status, want)
		}
	}
	if got := rec.Requests(path); len(got) != 2 || got[0].Method != http.MethodGet {
		t.Errorf("calls to %s: %+v, want one GET for each applied thin event (the duplicate needs none)", path, got)
	}
	var status, customer string
	if err := h.sqlDB().QueryRow(`SELECT status, customer_id FROM subscriptions WHERE id = $1`, sub).Scan(&status, &customer); err != nil ||
		status != "active" || customer != "cus_QXg1o8vcGmoR32" {
		t.Errorf("the subscription is %q of %q (%v), want stripe-mock's active subscription of cus_QXg1o8vcGmoR32", status, customer, err)
	}
	if e, _ := h.event("evt_thin_sub"); e.Type != "customer.subscription.updated" {
		t.Errorf("stored as type %q, want the snapshot type", e.Type)
	}
	// A replay fetches the object again: Stripe's state now.
	if st, err := h.svc.Replay(t.Context(), "evt_thin_sub"); err != nil || st != billing.StatusProcessed {
		t.Errorf("replay: %s %v", st, err)
	}
	if n := len(rec.Requests(path)); n != 3 {
		t.Errorf("%d calls after the replay, want 3", n)
	}

	// A thin event of a type billing does not handle, or of a connected
	// account not listed, is stored ignored without a call.
	before := len(rec.All())
	h.deliver(trigger.Options{Type: "customer.subscription.updated", Workspace: "ws_thin", Thin: true,
		Set: map[string]any{"type": "v1.billing.meter.no_meter_found"}}, billing.StatusIgnored)
	connected := trigger.Options{Type: "invoice.paid", Workspace: "ws_thin", Thin: true, EventID: "evt_thin_connected",
		Set: map[string]any{"context": "acct_1Elsewhere"}}
	h.deliver(connected, billing.StatusIgnored)
	if n := len(rec.All()); n != before {
		t.Errorf("ignored thin events made %d calls to Stripe", n-before)
	}
	if note := h.noteOf("evt_thin_connected"); !strings.Contains(note, "acct_1Elsewhere") {
		t.Errorf("a connected account's thin event: note %q", note)
	}
}

// Without STRIPE_SECRET_KEY a thin event is stored ignored, with a WARN and
// a note, never refused.
func TestThinEventsWithoutAKey(t *testing.T) {
	h := setup(t)
	o := trigger.Options{Type: "invoice.paid", Thin: true, EventID: "evt_thin_nokey"}
	h.deliver(o, billing.StatusIgnored)
	h.deliver(o, billing.StatusDuplicate)
	if n := h.count("invoices"); n != 0 {
		t.Errorf("%d invoices from a thin event with no key to fetch it", n)
	}
	if note := h.noteOf("evt_thin_nokey"); !strings.Contains(note, "STRIPE_SECRET_KEY") {
		t.Errorf("note %q, want it to name STRIPE_SECRET_KEY", note)
	}
	if !strings.Contains(h.logs.String(), `"msg":"Thin event not applied: set STRIPE_SECRET_KEY`) {
		t.Errorf("no WARN for the thin event:\n%s", h.logs)
	}
}

// A thin event whose object Stripe no longer has is stored ignored.
func TestThinEventOfAnObjectGone(t *testing.T) {
	gone, _ := withStripe(t, stripeAnswering(t, 404,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such invoice"}}`), "sk_test_123", time.Second)
	gone.deliver(trigger.Options{Type: "invoice.paid", Thin: true, EventID: "evt_thin_gone"}, billing.StatusIgnored)
	if note := gone.noteOf("evt_thin_gone"); !strings.Contains(note, "names no object Stripe has") {
		t.Errorf("an object Stripe no longer has: note %q", note)
	}
}

// A thin event whose object Stripe cannot give now is not applied: it is
// recorded failed and answered 5xx, so that Stripe retries.
func TestThinEventFetchFailureIsRetried(t *testing.T) {
	h, rec := withStripe(t, stripeAnswering(t, 500,
		`{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`), "sk_test_123", time.Second)
	r := h.send(h.build(trigger.Options{Type: "invoice.paid", Thin: true, EventID: "evt_thin_fails"}))
	if r.Code < 500 || len(rec.All()) == 0 {
		t.Errorf("answered %d after %d calls, want 5xx after a call", r.Code, len(rec.All()))
	}
	if e, _ := h.event("evt_thin_fails"); e.Status != "failed" || h.count("invoices") != 0 {
		t.Errorf("stored %+v with %d invoices, want failed and none", e, h.count("invoices"))
	}
}
