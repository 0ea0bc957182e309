package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// object is the decoded data.object of an event built from o, as sync
// would get it from Stripe's API.
func (h *harness) object(o trigger.Options) any {
	h.t.Helper()
	e, err := webhook.Parse(h.build(o), billing.ModeTest)
	if err == nil {
		err = webhook.Decode(e)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return e.Object
}

func (h *harness) sync(obj any, at time.Time, dryRun bool) billing.SyncResult {
	h.t.Helper()
	r, err := h.svc.Sync(context.Background(), obj, at, dryRun)
	if err != nil {
		h.t.Fatalf("sync %T: %v", obj, err)
	}
	return r
}

// Sync goes through the webhook rules: a paid invoice already granted is
// not granted again, state from a newer event is not overwritten by an older
// fetch, a dry run keeps nothing, and objects of a linked customer land in
// its workspace.
func TestSyncAppliesStripeStateOnce(t *testing.T) {
	h := setup(t)
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
	now := time.Now()

	if r := h.sync(h.object(trigger.Options{Type: "invoice.paid"}), now, false); r.Outcome != billing.SyncUnchanged || r.Unlinked {
		t.Errorf("re-syncing the paid invoice: %+v, want unchanged", r)
	}
	if l := h.ledger("ws_1"); len(l) != 1 || h.workspace("ws_1").Credits.Subscription != 1000 {
		t.Errorf("ledger after sync = %+v: granted twice?", l)
	}

	pastDue := h.object(trigger.Options{Type: "customer.subscription.updated", Set: map[string]any{"data.object.status": "past_due"}})
	if r := h.sync(pastDue, t0.Add(-time.Hour), false); r.Outcome != billing.SyncUnchanged {
		t.Errorf("an older fetch: %+v, want unchanged", r)
	}
	if r := h.sync(pastDue, now, true); r.Outcome != billing.SyncUpdated {
		t.Errorf("dry run of a newer state: %+v, want updated", r)
	}
	if s := h.workspace("ws_1").Subscription; s == nil || s.Status != "active" {
		t.Fatalf("after the older fetch and the dry run, subscription = %+v, want still active", s)
	}
	if r := h.sync(pastDue, now, false); r.Outcome != billing.SyncUpdated {
		t.Errorf("a newer state: %+v, want updated", r)
	}
	if s := h.workspace("ws_1").Subscription; s.Status != "past_due" {
		t.Errorf("subscription = %+v, want past_due", s)
	}

	// A payment of the linked customer that no webhook reported.
	pi := h.object(trigger.Options{Type: "payment_intent.succeeded", Set: map[string]any{"data.object.metadata": map[string]any{}}})
	if r := h.sync(pi, now, false); r.Outcome != billing.SyncCreated || r.Unlinked {
		t.Errorf("new payment of a linked customer: %+v, want created, linked", r)
	}
	stranger := h.object(trigger.Options{Type: "customer.subscription.created", Key: "stranger", Set: map[string]any{"data.object.metadata": map[string]any{}}})
	if r := h.sync(stranger, now, false); r.Outcome != billing.SyncCreated || !r.Unlinked {
		t.Errorf("a subscription of an unknown customer: %+v, want created, unlinked", r)
	}
}
