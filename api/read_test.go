package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/acme/billing"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

func TestReadAPIAuth(t *testing.T) {
	h := setup(t)
	paths := []string{"/api/billing/workspaces/ws_1", "/api/billing/workspaces/ws_1/invoices",
		"/api/billing/workspaces/ws_1/payments", "/api/billing/workspaces/ws_1/credits/ledger", "/api/billing/events/evt_1"}
	for _, p := range paths {
		for _, auth := range []string{"", "Bearer wrong-key-0123456789", testAPIKey, "Basic " + testAPIKey} {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+p, nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			resp := h.do(r)
			if resp.Code != http.StatusUnauthorized || resp.Error.Code != "unauthorized" {
				t.Errorf("GET %s with %q: %d %+v", p, auth, resp.Code, resp.Error)
			}
		}
	}
}

func TestCreateAndReadWorkspace(t *testing.T) {
	h := setup(t)
	post := func(body string) (int, map[string]any) {
		r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/billing/workspaces", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+testAPIKey)
		resp, err := h.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, first := post(`{"id":"ws_1","name":"Acme","email":"a@example.com"}`)
	if code != http.StatusCreated || first["id"] != "ws_1" || first["name"] != "Acme" || first["subscription"] != nil {
		t.Fatalf("create: %d %v", code, first)
	}
	code, again := post(`{"id":"ws_1","name":"Acme","email":"a@example.com"}`)
	if code != http.StatusOK || !jsonEqual(first, again) {
		t.Errorf("create again: %d %v, want 200 and the same body", code, again)
	}
	for _, bad := range []string{`{"name":"no id"}`, `not json`, `{"id":"ws_2","plan":"unknown field"}`, `{"id":"` + strings.Repeat("x", 300) + `"}`} {
		if code, out := post(bad); code != http.StatusBadRequest || out["error"] == nil {
			t.Errorf("POST %.40s: %d %v, want 400", bad, code, out)
		}
	}
	if n := h.count("workspaces"); n != 1 {
		t.Errorf("%d workspaces after bad input", n)
	}

	w := h.workspace("ws_1")
	if w.Credits.Balance != 0 || w.StripeCustomerID != nil || w.Email != "a@example.com" {
		t.Errorf("workspace = %+v", w)
	}
	var e map[string]any
	for _, p := range []string{"/api/billing/workspaces/ws_nope", "/api/billing/workspaces/ws_nope/invoices", "/api/billing/events/evt_nope"} {
		if code := h.get(p, &e); code != http.StatusNotFound || e["error"].(map[string]any)["code"] != "not_found" {
			t.Errorf("GET %s: %d %v", p, code, e)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestHealthAndReadiness(t *testing.T) {
	h := setup(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code := h.getStatus(p); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

// /readyz answers 200 only while the database takes writes: a write that
// fails makes it 503 "database not writable" (the log says why), and it is
// 200 again once the fault is gone, with no restart.
func TestReadinessNeedsWrites(t *testing.T) {
	type fault struct {
		name  string
		apply func(t *testing.T, h *harness) (repair func())
		// why is what Ready's error must say.
		why string
	}
	faults := []fault{{"a write refused", func(t *testing.T, h *harness) func() {
		return storetest.Break(t, h.db, "settings", "disk on fire")
	}, "disk on fire"}}
	if !storetest.Postgres() {
		faults = append(faults, fault{"SQLite file full", func(t *testing.T, h *harness) func() {
			db := h.sqlDB()
			limit := pragma(t, db, "max_page_count")
			mustExec(t, db, `VACUUM`)
			mustExec(t, db, fmt.Sprintf(`PRAGMA max_page_count = %d`, pragma(t, db, "page_count")))
			return func() { mustExec(t, db, fmt.Sprintf(`PRAGMA max_page_count = %d`, limit)) }
		}, "left below max_page_count"})
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			h := setup(t)
			if code, body := h.ready(); code != http.StatusOK || body != "ready" {
				t.Fatalf("before the fault: %d %q", code, body)
			}
			repair := f.apply(t, h)
			if code, body := h.ready(); code != http.StatusServiceUnavailable || body != "database not writable" {
				t.Errorf("during the fault: %d %q, want 503 database not writable", code, body)
			}
			if err := h.db.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), f.why) {
				t.Errorf("Ready = %v, want it to say %q", err, f.why)
			}
			repair()
			if code, body := h.ready(); code != http.StatusOK {
				t.Errorf("after the repair: %d %q, want 200", code, body)
			}
		})
	}
}

// A SQLite connection that cannot write (query_only here; in production one
// SQLite opened read-only because a file was not writable then) is replaced
// after a failed probe, so readiness comes back once the files allow it.
func TestReadinessReplacesAReadOnlyConnection(t *testing.T) {
	if storetest.Postgres() {
		t.Skip("BILLING_TEST_DB=postgres: a SQLite connection's state; TestReadinessNeedsWrites covers PostgreSQL")
	}
	h := setup(t)
	mustExec(t, h.sqlDB(), `PRAGMA query_only = 1`)
	if code, body := h.ready(); code != http.StatusServiceUnavailable || body != "database not writable" {
		t.Errorf("read-only: %d %q, want 503 database not writable", code, body)
	}
	if code, body := h.ready(); code != http.StatusOK {
		t.Errorf("next probe, on a new connection: %d %q, want 200", code, body)
	}
	h.deliver(trigger.Options{Type: "invoice.finalized"}, billing.StatusProcessed)
}

// ready asks /readyz and returns its code and status.
func (h *harness) ready() (int, string) {
	h.t.Helper()
	var v struct {
		Status string `json:"status"`
	}
	code := h.get("/readyz", &v)
	return code, v.Status
}

func TestReadEvent(t *testing.T) {
	h := setup(t)
	r := h.deliver(trigger.Options{Type: "invoice.finalized"}, billing.StatusProcessed)
	var e map[string]any
	if code := h.get("/api/billing/events/"+r.Event, &e); code != http.StatusOK {
		t.Fatalf("GET event: %d", code)
	}
	for _, k := range []string{"id", "type", "status", "attempts", "last_error", "received_at", "processed_at"} {
		if _, ok := e[k]; !ok {
			t.Errorf("event JSON lacks %q: %v", k, e)
		}
	}
	if e["status"] != "processed" || e["attempts"] != 1.0 || e["type"] != "invoice.finalized" || e["last_error"] != nil {
		t.Errorf("event = %v", e)
	}
}

func TestLedgerNewestFirst(t *testing.T) {
	h := setup(t)
	ws := "ws_ledger"
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: ws}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Workspace: ws}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "customer.subscription.created", Workspace: ws}, billing.StatusProcessed)
	l := h.ledger(ws)
	if len(l) != 2 || l[0].Bucket != "subscription" || l[1].Bucket != "purchased" || l[1].IdempotencyKey != "purchase:"+trigger.ID("pi_TestCredits1", ws) {
		t.Errorf("ledger = %+v", l)
	}
	if l[0].CreatedAt == "" || !strings.HasSuffix(l[0].CreatedAt, "Z") {
		t.Errorf("created_at = %q, want RFC 3339 UTC", l[0].CreatedAt)
	}
}
