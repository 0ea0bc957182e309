package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// A connected account's events are stored with their account and a note,
// and change nothing, unless STRIPE_CONNECT_ACCOUNTS lists the account; a
// replay once it is listed applies them.
func TestConnectedAccountEvents(t *testing.T) {
	forEachVersion(t, func(t *testing.T, v string) {
		t.Parallel()
		logs := &billingtest.Buffer{}
		h := serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs,
			func(s *billing.Service) { s.ConnectAccounts = []string{"acct_1Listed"} })

		other := ev("checkout.session.completed", "ws_other", v, 0, map[string]any{"account": "acct_1Other"})
		other.EventID = "evt_connect_other"
		h.deliver(other, billing.StatusIgnored)
		h.deliver(other, billing.StatusDuplicate)
		for _, table := range []string{"customers", "subscriptions", "credit_ledger", "app_messages"} {
			if n := h.count(table); n != 0 {
				t.Errorf("%s: %d rows after an unlisted account's checkout, want none", table, n)
			}
		}
		var e struct {
			Status  string  `json:"status"`
			Account *string `json:"account"`
			Note    *string `json:"note"`
		}
		if code := h.get("/api/billing/events/evt_connect_other", &e); code != http.StatusOK {
			t.Fatalf("GET event: %d", code)
		}
		if e.Status != "ignored" || e.Account == nil || *e.Account != "acct_1Other" || e.Note == nil ||
			!strings.Contains(*e.Note, "acct_1Other") || !strings.Contains(*e.Note, "STRIPE_CONNECT_ACCOUNTS") {
			t.Errorf("stored event = %+v, want ignored with its account and a note naming it", e)
		}

		listed := ev("checkout.session.completed", "ws_listed", v, 0, map[string]any{"account": "acct_1Listed"})
		h.deliver(listed, billing.StatusProcessed)
		if w := h.workspace("ws_listed"); w.Subscription == nil || w.Subscription.Status != "active" {
			t.Errorf("a listed account's checkout did not activate: %+v", w.Subscription)
		}
		var own struct {
			Account     *string `json:"account"`
			Note        *string `json:"note"`
			ObjectID    *string `json:"object_id"`
			WorkspaceID *string `json:"workspace_id"`
		}
		platform := ev("checkout.session.completed", "ws_platform", v, 0)
		platform.EventID = "evt_connect_platform"
		h.deliver(platform, billing.StatusProcessed)
		h.get("/api/billing/events/evt_connect_platform", &own)
		if own.Account != nil || own.Note != nil {
			t.Errorf("the platform's own event: account %v, note %v, want null", own.Account, own.Note)
		}
		if str(own.ObjectID) != trigger.ID("cs_test_Sub1", "ws_platform") || str(own.WorkspaceID) != "ws_platform" {
			t.Errorf("the event applied to object %s of workspace %s", str(own.ObjectID), str(own.WorkspaceID))
		}

		// Listed later (a restart with the setting), a replay applies it.
		later := &billing.Service{Store: h.db, Decoder: webhook.Decoder{}, Plans: testPlans, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			ConnectAccounts: []string{"acct_1Listed", "acct_1Other"}, Now: func() time.Time { return time.Now() }}
		if st, err := later.Replay(context.Background(), "evt_connect_other"); err != nil || st != billing.StatusProcessed {
			t.Fatalf("replay once listed: %s, %v", st, err)
		}
		if w := h.workspace("ws_other"); w.Subscription == nil || w.Subscription.Status != "active" {
			t.Errorf("replayed checkout did not activate: %+v", w.Subscription)
		}
		if code := h.get("/api/billing/events/evt_connect_other", &e); code != http.StatusOK || e.Status != "processed" || e.Note != nil {
			t.Errorf("after the replay: %d %+v, want processed without a note", code, e)
		}
	})
}
