package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/trigger"
)

type consumeView struct {
	Code           int    `json:"-"`
	Replayed       string `json:"-"` // the Idempotent-Replayed header
	Body           string `json:"-"`
	WorkspaceID    string `json:"workspace_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Amount         int64  `json:"amount"`
	Reason         string `json:"reason"`
	Spent          struct {
		Subscription int64 `json:"subscription"`
		Purchased    int64 `json:"purchased"`
	} `json:"spent"`
	Credits struct {
		Balance      int64 `json:"balance"`
		Subscription int64 `json:"subscription"`
		Purchased    int64 `json:"purchased"`
	} `json:"credits"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// consume posts body to the consume endpoint of ws; safe from any goroutine.
func (h *harness) consume(ws, body string) (consumeView, error) {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/billing/workspaces/"+ws+"/credits/consume", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return consumeView{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	v := consumeView{Code: resp.StatusCode, Replayed: resp.Header.Get("Idempotent-Replayed"), Body: string(raw)}
	return v, json.Unmarshal(raw, &v)
}

func (h *harness) mustConsume(ws, body string, wantCode int) consumeView {
	h.t.Helper()
	v, err := h.consume(ws, body)
	if err != nil || v.Code != wantCode {
		h.t.Fatalf("consume %s: %d %s (%v), want %d", body, v.Code, v.Body, err, wantCode)
	}
	return v
}

// fund gives ws_1 1000 subscription credits (a paid first period) and 500
// purchased ones, through webhooks.
func fund(h *harness) {
	h.deliver(trigger.Options{Type: "customer.subscription.created", Created: at(0)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Created: at(2 * time.Second)}, billing.StatusProcessed)
	if w := h.workspace("ws_1"); w.Credits.Subscription != 1000 || w.Credits.Purchased != 500 {
		h.t.Fatalf("funded workspace = %+v", w.Credits)
	}
}

func TestConsumeSpendsSubscriptionCreditsFirst(t *testing.T) {
	h := setup(t)
	fund(h)
	a := h.mustConsume("ws_1", `{"amount":900,"idempotency_key":"job-1","reason":"export"}`, http.StatusOK)
	if a.Spent.Subscription != 900 || a.Spent.Purchased != 0 || a.Credits.Subscription != 100 || a.Credits.Purchased != 500 ||
		a.Credits.Balance != 600 || a.Reason != "export" || a.Replayed != "" {
		t.Errorf("first = %s", a.Body)
	}
	b := h.mustConsume("ws_1", `{"amount":300,"idempotency_key":"job-2"}`, http.StatusOK)
	if b.Spent.Subscription != 100 || b.Spent.Purchased != 200 || b.Credits.Balance != 300 || b.Reason != "consume" {
		t.Errorf("second = %s", b.Body)
	}
	if w := h.workspace("ws_1"); w.Credits.Subscription != 0 || w.Credits.Purchased != 300 {
		t.Errorf("workspace credits = %+v", w.Credits)
	}
	var spent []string
	for _, e := range h.ledger("ws_1") {
		if e.Amount < 0 {
			spent = append(spent, fmt.Sprintf("%s %d %s %s", e.IdempotencyKey, e.Amount, e.Bucket, e.Reason))
		}
	}
	want := []string{
		"spend:ws_1:job-2:purchased -200 purchased consume",
		"spend:ws_1:job-2:subscription -100 subscription consume",
		"spend:ws_1:job-1:subscription -900 subscription export",
	}
	if strings.Join(spent, "\n") != strings.Join(want, "\n") {
		t.Errorf("ledger spending, newest first:\n%s\nwant:\n%s", strings.Join(spent, "\n"), strings.Join(want, "\n"))
	}
}

func TestConsumeIsIdempotent(t *testing.T) {
	h := setup(t)
	fund(h)
	first := h.mustConsume("ws_1", `{"amount":30,"idempotency_key":"job-42","reason":"export"}`, http.StatusOK)
	h.mustConsume("ws_1", `{"amount":5,"idempotency_key":"job-43"}`, http.StatusOK)
	again := h.mustConsume("ws_1", `{"amount":30,"idempotency_key":"job-42","reason":"export"}`, http.StatusOK)
	if again.Replayed != "true" || strings.Replace(again.Body, `"replayed":true`, `"replayed":false`, 1) != first.Body {
		t.Errorf("replay = %s (Idempotent-Replayed %q), want the first answer %s", again.Body, again.Replayed, first.Body)
	}
	if w := h.workspace("ws_1"); w.Credits.Balance != 1500-35 {
		t.Errorf("balance = %d, want 1465: the replay spent again", w.Credits.Balance)
	}
	// The key names one request: another amount under it is refused.
	conflict := h.mustConsume("ws_1", `{"amount":31,"idempotency_key":"job-42"}`, http.StatusConflict)
	if conflict.Error.Code != billing.ECONFLICT || !strings.Contains(conflict.Error.Message, "was used for 30 credits") {
		t.Errorf("conflict = %s", conflict.Body)
	}
	// Keys are per workspace.
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Workspace: "ws_2"}, billing.StatusProcessed)
	if other := h.mustConsume("ws_2", `{"amount":30,"idempotency_key":"job-42"}`, http.StatusOK); other.Replayed != "" || other.Credits.Balance != 470 {
		t.Errorf("ws_2 = %s", other.Body)
	}
}

func TestConsumeRefusesWhatItCannotSpend(t *testing.T) {
	h := setup(t)
	fund(h)
	entries := len(h.ledger("ws_1"))
	short := h.mustConsume("ws_1", `{"amount":1501,"idempotency_key":"big-job"}`, http.StatusPaymentRequired)
	if short.Error.Code != billing.EINSUFFICIENT || !strings.Contains(short.Error.Message, "has 1500 credits, 1501 needed") {
		t.Errorf("402 body = %s", short.Body)
	}
	if n := len(h.ledger("ws_1")); n != entries || h.workspace("ws_1").Credits.Balance != 1500 {
		t.Errorf("a refused consumption changed the ledger (%d entries, was %d)", n, entries)
	}
	// The refusal is not remembered: once credits are bought, the same key spends.
	h.deliver(trigger.Options{Type: "payment_intent.succeeded", Key: "more", Set: map[string]any{"data.object.id": "pi_More"}}, billing.StatusProcessed)
	if ok := h.mustConsume("ws_1", `{"amount":1501,"idempotency_key":"big-job"}`, http.StatusOK); ok.Credits.Balance != 499 {
		t.Errorf("after buying more = %s", ok.Body)
	}

	h.mustConsume("ws_1", `{"amount":1,"idempotency_key":"k"}`, http.StatusOK)
	for _, tt := range []struct {
		ws, body string
		code     int
		message  string
	}{
		{"ws_1", `{"amount":0,"idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":-5,"idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":1.5,"idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":1e3,"idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":"lots","idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":"3","idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":1000000001,"idempotency_key":"a"}`, 400, "whole number from 1"},
		{"ws_1", `{"amount":3}`, 400, "idempotency_key is required"},
		{"ws_1", `{"amount":3,"idempotency_key":"` + strings.Repeat("k", 256) + `"}`, 400, "idempotency_key is longer than 255 bytes"},
		{"ws_1", `{"amount":3,"idempotency_key":"a\u0000b"}`, 400, "without control characters"},
		{"ws_1", `{"amount":3,"idempotency_key":"a","reason":"` + strings.Repeat("r", 201) + `"}`, 400, "reason"},
		{"ws_1", `{"amount":3,"idempotency_key":"a","credits":3}`, 400, "unknown field"},
		{"ws_1", `not json`, 400, "request body"},
		{"ws_nobody", `{"amount":3,"idempotency_key":"a"}`, 404, "ws_nobody"},
	} {
		v, err := h.consume(tt.ws, tt.body)
		if err != nil || v.Code != tt.code || !strings.Contains(v.Error.Message, tt.message) {
			t.Errorf("%s %s: %d %s (%v), want %d %q", tt.ws, tt.body, v.Code, v.Body, err, tt.code, tt.message)
		}
	}
	if w := h.workspace("ws_1"); w.Credits.Balance != 498 {
		t.Errorf("bad requests changed the balance: %d, want 498", w.Credits.Balance)
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/billing/workspaces/ws_1/credits/consume",
		bytes.NewReader([]byte(`{"amount":1,"idempotency_key":"x"}`)))
	if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the API key: %v %v", resp.StatusCode, err)
	}
}

// 50 concurrent consumers of 40 credits each, 10 of them sent twice, draw
// from 1,500 credits: exactly 37 spend, the rest get 402, no key spends
// twice, and the balance and the ledger agree (checked at cleanup).
func TestConsumeConcurrently(t *testing.T) {
	h := setup(t)
	fund(h)
	const consumers, amount = 50, 40
	var mu sync.Mutex
	codes := map[int]int{}
	byKey := map[string][]consumeView{}
	var wg sync.WaitGroup
	for i := range consumers + 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("job-%d", i%consumers)
			v, err := h.consume("ws_1", fmt.Sprintf(`{"amount":%d,"idempotency_key":%q}`, amount, key))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", key, err)
				return
			}
			codes[v.Code]++
			byKey[key] = append(byKey[key], v)
		}()
	}
	wg.Wait()
	spentKeys := 0
	for key, vs := range byKey {
		if vs[0].Code == http.StatusOK {
			spentKeys++
		}
		if len(vs) == 2 && vs[0].Code == http.StatusOK && vs[1].Code == http.StatusOK && vs[0].Credits != vs[1].Credits {
			t.Errorf("%s answered differently: %s and %s", key, vs[0].Body, vs[1].Body)
		}
	}
	w := h.workspace("ws_1")
	if spentKeys != 1500/amount || w.Credits.Balance != 1500-amount*int64(spentKeys) || codes[http.StatusOK]+codes[http.StatusPaymentRequired] != consumers+10 {
		t.Errorf("%d keys spent, balance %d, answers %v; want %d keys, balance %d, only 200 and 402",
			spentKeys, w.Credits.Balance, codes, 1500/amount, 1500-amount*(1500/amount))
	}
	var spent int64
	for _, e := range h.ledger("ws_1") {
		if e.Amount < 0 {
			spent -= e.Amount
		}
	}
	if spent != amount*int64(spentKeys) {
		t.Errorf("ledger spent %d, want %d", spent, amount*spentKeys)
	}
}
