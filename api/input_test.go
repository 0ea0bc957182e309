package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/trigger"
)

// raw sends a request with the API key and returns its status and body.
func (h *harness) raw(method, path string, body io.Reader, header ...string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Workspace W consuming with key x:job1 and workspace W:x consuming with
// key job1 are two consumptions: each spends its own credits.
func TestConsumeKeysOfTwoWorkspacesNeverCollide(t *testing.T) {
	h := setup(t)
	for _, ws := range []string{"W", "W:x"} {
		h.createWorkspace(ws)
		if _, err := h.svc.AdjustCredits(t.Context(), billing.Adjustment{WorkspaceID: ws, Amount: 10, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	a := h.mustConsume("W", `{"amount":5,"idempotency_key":"x:job1"}`, http.StatusOK)
	b := h.mustConsume("W:x", `{"amount":5,"idempotency_key":"job1"}`, http.StatusOK)
	if a.Credits.Balance != 5 || b.Credits.Balance != 5 || b.Replayed != "" {
		t.Errorf("answers: W %s, W:x %s; want 5 left each", a.Body, b.Body)
	}
	for _, ws := range []string{"W", "W:x"} {
		if w := h.workspace(ws); w.Credits.Balance != 5 {
			t.Errorf("%s has %d credits, want 5", ws, w.Credits.Balance)
		}
		if l := h.ledger(ws); len(l) != 2 || l[0].Amount != -5 {
			t.Errorf("%s ledger = %+v, want the adjustment and one spend", ws, l)
		}
	}
}

// Workspace ids follow one rule (billing.ValidateWorkspaceID) wherever they
// come from: the app's create and routes answer 400; an id in Stripe
// metadata names no workspace, and the event is still processed.
func TestWorkspaceIDRules(t *testing.T) {
	h := setup(t)
	for _, id := range []string{"ws 1", "ws%1", "ws#1", "wsé", `ws"1`, "..", strings.Repeat("w", 256)} {
		body := `{"id":` + jsonString(id) + `}`
		if code, out := h.raw(http.MethodPost, "/api/billing/workspaces", strings.NewReader(body)); code != http.StatusBadRequest ||
			!strings.Contains(out, "workspace id") {
			t.Errorf("create %q: %d %s, want 400", id, code, out)
		}
	}
	for _, path := range []string{"/api/billing/workspaces/ws%201", "/api/billing/workspaces/ws%00/payments",
		"/api/billing/workspaces/ws%FF/credits/ledger", "/api/billing/workspaces/ws%251/invoices"} {
		if code, out := h.raw(http.MethodGet, path, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, code, out)
		}
	}
	if code, out := h.raw(http.MethodPost, "/api/billing/workspaces/ws%0A1/credits/consume",
		strings.NewReader(`{"amount":1,"idempotency_key":"k"}`)); code != http.StatusBadRequest {
		t.Errorf("consume with a newline in the id: %d %s, want 400", code, out)
	}
	for _, ok := range []string{"org:42", "billing@acme.example", "a+b=c~d.e-f_g"} {
		if code, out := h.raw(http.MethodPost, "/api/billing/workspaces", strings.NewReader(`{"id":"`+ok+`"}`)); code != http.StatusCreated {
			t.Errorf("create %q: %d %s, want 201", ok, code, out)
		}
	}
	h.deliver(trigger.Options{Type: "checkout.session.completed", Set: map[string]any{
		"data.object.metadata.workspace_id": "ws 1", "data.object.client_reference_id": "ws/2"}}, billing.StatusProcessed)
	if n := h.count("workspaces"); n != 3 {
		t.Errorf("%d workspaces, want only the three the app created", n)
	}
	for _, id := range []string{`"workspace":"ws 1"`, `"workspace":"ws/2"`} {
		if !strings.Contains(h.logs.String(), id) {
			t.Errorf("no WARN naming %s", id)
		}
	}
}

// Every string the app sends is UTF-8 text without control characters, or
// a 400 that stores nothing: PostgreSQL refused NUL with a 500, SQLite kept
// it.
func TestAppInputRefusesOddBytes(t *testing.T) {
	h := setup(t)
	h.createWorkspace("ws_1")
	for _, tt := range []struct {
		name, path, body string
	}{
		{"NUL in the id", "/api/billing/workspaces", `{"id":"ws_\u0000"}`},
		{"NUL in the name", "/api/billing/workspaces", `{"id":"ws_2","name":"Acme\u0000"}`},
		{"escape in the email", "/api/billing/workspaces", `{"id":"ws_2","email":"a\u001b[31m@b.example"}`},
		{"C1 control in the name", "/api/billing/workspaces", `{"id":"ws_2","name":"Ac\u0085me"}`},
		{"invalid UTF-8 in the name", "/api/billing/workspaces", "{\"id\":\"ws_2\",\"name\":\"Acme\xff\"}"},
		{"invalid UTF-8 in a key", "/api/billing/workspaces/ws_1/credits/consume", "{\"amount\":1,\"idempotency_key\":\"k\xc3\"}"},
		{"NUL in a reason", "/api/billing/workspaces/ws_1/credits/consume", `{"amount":1,"idempotency_key":"k","reason":"a\u0000"}`},
		{"invalid UTF-8 in a plan", "/api/billing/workspaces/ws_1/checkout", "{\"plan\":\"pro\xff\"," + urls + "}"},
		{"NUL in a URL", "/api/billing/workspaces/ws_1/portal", `{"return_url":"https://app.example/\u0000"}`},
	} {
		code, out := h.raw(http.MethodPost, tt.path, strings.NewReader(tt.body))
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tt.name, code, out)
		}
	}
	if code, out := h.raw(http.MethodGet, "/api/billing/events/evt_%00", nil); code != http.StatusBadRequest {
		t.Errorf("NUL in an event id: %d %s, want 400", code, out)
	}
	if n := h.count("workspaces"); n != 1 {
		t.Errorf("%d workspaces, want only ws_1", n)
	}
	if n := h.count("consumptions"); n != 0 {
		t.Errorf("%d consumptions stored", n)
	}
}

// Every body is capped before it is read: 413 for a declared length over
// the cap at once, and for a longer body sent without one at the cap.
func TestBodiesAreCapped(t *testing.T) {
	h := setup(t)
	h.createWorkspace("ws_1")
	over := func(n int) string { return `{"id":"ws_2","name":"` + strings.Repeat("a", n) + `"}` }
	for _, tt := range []struct {
		name, method, path string
		body               io.Reader
		want               int
	}{
		{"API, declared", http.MethodPost, "/api/billing/workspaces", strings.NewReader(over(api.MaxAPIBody)), 413},
		{"API, chunked", http.MethodPost, "/api/billing/workspaces", io.MultiReader(strings.NewReader(over(api.MaxAPIBody))), 413},
		{"API GET with a body", http.MethodGet, "/api/billing/workspaces/ws_1", bytes.NewReader(make([]byte, api.MaxAPIBody+1)), 413},
		{"webhook, declared", http.MethodPost, api.WebhookPath, bytes.NewReader(make([]byte, api.MaxWebhookBody+1)), 413},
		{"webhook, chunked", http.MethodPost, api.WebhookPath, io.MultiReader(bytes.NewReader(make([]byte, api.MaxWebhookBody+1))), 413},
		{"webhook without its slash", http.MethodPost, strings.TrimSuffix(api.WebhookPath, "/"), bytes.NewReader(make([]byte, api.MaxWebhookBody+1)), 413},
		{"unknown route", http.MethodPost, "/nowhere", bytes.NewReader(make([]byte, api.MaxAPIBody+1)), 413},
		// A webhook may be larger than an API request.
		{"webhook under its cap", http.MethodPost, api.WebhookPath, bytes.NewReader(make([]byte, api.MaxAPIBody+1)), 400},
	} {
		code, out := h.raw(tt.method, tt.path, tt.body)
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, out, tt.want)
		}
	}
	if n := h.count("workspaces"); n != 1 {
		t.Errorf("%d workspaces, want only ws_1", n)
	}
	if n := h.count("events"); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
