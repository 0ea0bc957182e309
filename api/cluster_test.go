package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing/api"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// clusterEvents is the life cycles of n workspaces, in creation order.
func clusterEvents(n int) (events [][]byte, workspaces []string) {
	for i := 0; i < n; i++ {
		ws := fmt.Sprintf("ws_%03d", i)
		workspaces = append(workspaces, ws)
		lc, err := trigger.Lifecycle(ws, proPrice, i%2 == 0)
		if err != nil {
			panic(err)
		}
		events = append(events, lc...)
	}
	return events, workspaces
}

// post signs and posts one event; safe from any goroutine.
func post(client *http.Client, baseURL string, payload []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, baseURL+api.WebhookPath, bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", webhook.Sign(payload, testSecret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// stateOf is everything the read API shows of a workspace, with the ledger
// as a sorted set (its ids and times depend on the order of application).
func stateOf(h *harness, ws string) string {
	var w, invoices, payments any
	h.get("/api/billing/workspaces/"+ws, &w)
	h.get("/api/billing/workspaces/"+ws+"/invoices", &invoices)
	h.get("/api/billing/workspaces/"+ws+"/payments", &payments)
	var ledger []string
	for _, e := range h.ledger(ws) {
		ledger = append(ledger, fmt.Sprintf("%s %s %d %q", e.IdempotencyKey, e.Bucket, e.Amount, e.Reason))
	}
	slices.Sort(ledger)
	b, _ := json.MarshalIndent(map[string]any{"workspace": w, "invoices": invoices, "payments": payments, "ledger": ledger}, "", " ")
	return string(b)
}

// reference applies events once, in order, on a fresh PostgreSQL database.
func reference(t *testing.T, events [][]byte, workspaces []string) map[string]string {
	return referenceOn(t, storetest.PostgresURL(t), events, workspaces)
}

// referenceOn applies events once, in order, on the fresh database at url,
// and returns each workspace's state.
func referenceOn(t *testing.T, url string, events [][]byte, workspaces []string) map[string]string {
	logs := &billingtest.Buffer{}
	h := serve(t, storetest.OpenURL(t, url, slog.New(slog.NewJSONHandler(logs, nil))), logs)
	for _, p := range events {
		if r := h.send(p); r.Code != http.StatusOK {
			t.Fatalf("reference: %d %+v", r.Code, r.Error)
		}
	}
	out := map[string]string{}
	for _, ws := range workspaces {
		out[ws] = stateOf(h, ws)
	}
	return out
}

// checkReference makes sure the reference is what the life cycles mean, so
// that comparing with it proves something.
func checkReference(t *testing.T, want map[string]string) {
	t.Helper()
	for ws, cancel := range map[string]bool{"ws_000": true, "ws_001": false} {
		var st struct {
			Workspace workspaceView    `json:"workspace"`
			Invoices  []map[string]any `json:"invoices"`
			Payments  []map[string]any `json:"payments"`
			Ledger    []string         `json:"ledger"`
		}
		if err := json.Unmarshal([]byte(want[ws]), &st); err != nil {
			t.Fatal(err)
		}
		w := st.Workspace
		wantStatus, wantSub, wantInvoices := "canceled", int64(0), 2
		if !cancel {
			wantStatus, wantSub, wantInvoices = "active", 1000, 3
		}
		if w.Subscription == nil || w.Subscription.Status != wantStatus || w.Credits.Subscription != wantSub ||
			w.Credits.Purchased != 250 || len(st.Invoices) != wantInvoices || len(st.Payments) != 2 {
			t.Fatalf("reference state of %s is not what its events say:\n%s", ws, want[ws])
		}
	}
}

// TestClusterTwoInstancesOnePostgres: two instances on one PostgreSQL
// database receive 2,000 events (30 % of them twice) shuffled, from 32
// concurrent senders split across both, and end in the state one instance
// reaches applying each event once, in order.
func TestClusterTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	events, workspaces := clusterEvents(100)
	want := reference(t, events, workspaces)
	checkReference(t, want)

	url := storetest.PostgresURL(t)
	logs := &billingtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	a := serve(t, storetest.OpenURL(t, url, logger), logs)
	b := serve(t, storetest.OpenURL(t, url, logger), logs)

	rng := rand.New(rand.NewPCG(7, 11))
	deliveries := slices.Clone(events)
	for _, i := range rng.Perm(len(events))[:len(events)*3/10] {
		deliveries = append(deliveries, events[i])
	}
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	queue := make(chan []byte)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for s := 0; s < 32; s++ {
		base := []*harness{a, b}[s%2].srv.URL
		client := checkedClient(30*time.Second, http.DefaultTransport)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				code, err := post(client, base, p)
				if err != nil {
					code = -1
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for _, p := range deliveries {
		queue <- p
	}
	close(queue)
	wg.Wait()
	t.Logf("%d deliveries in %v: %v", len(deliveries), time.Since(start), codes)
	if codes[http.StatusOK] != len(deliveries) {
		t.Fatalf("answers %v, want %d × 200", codes, len(deliveries))
	}
	for _, ws := range workspaces {
		for _, h := range []*harness{a, b} {
			if got := stateOf(h, ws); got != want[ws] {
				t.Fatalf("%s differs from one instance applying in order:\n got %s\nwant %s", ws, got, want[ws])
			}
		}
	}
	var n int
	if err := a.sqlDB().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != len(events) {
		t.Errorf("%d events stored (%v), want %d", n, err, len(events))
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged")
	}
}

// eventID reads an event payload's id.
func eventID(payload []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &e)
	return e.ID
}
