package cli_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/acme/billing/bench"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

const crashAppSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestAppWebhooksSurviveKill9 kills `billing serve` with SIGKILL in the
// middle of an app webhook attempt, while deliveries are under way, starts
// it again, and checks that every message in app_messages reaches the
// receiver, signed, at least once. The attempt cut short is retried once
// its lease (60 s) runs out, so the test takes about a minute.
func TestAppWebhooksSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to run out")
	}
	bin := buildBilling(t)
	plans := filepath.Join(t.TempDir(), "plans.json")
	if err := os.WriteFile(plans, []byte(`{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["`+crashPrice+`"],"monthly_credits":1000}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := bench.NewWorkload("ws_apphook", 10, 0, 20260402, crashPrice)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(crashAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		got      = map[string]int{}
		arrived  = make(chan struct{}, 1)
		crash    = make(chan struct{})
		requests int
	)
	const killAt = 5
	receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature of %s: %v", r.Header.Get("webhook-id"), err)
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == killAt {
			close(crash) // killed mid-attempt: this one is never answered
			<-r.Context().Done()
			return
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	}))
	defer receiver.Close()
	dbURL := storetest.URL(t)
	env := []string{"BILLING_APP_WEBHOOK_URL=" + receiver.URL + "/billing", "BILLING_APP_WEBHOOK_SECRET=" + crashAppSecret}

	a := startBilling(t, bin, dbURL, plans, env...)
	client := newClient()
	go func() {
		for _, p := range w.Deliveries {
			select {
			case <-crash:
				return
			default:
			}
			post(client, a.base, p)
		}
	}()
	select {
	case <-crash:
	case <-time.After(60 * time.Second):
		t.Fatalf("no %d app webhooks arrived:\n%s", killAt, a.logTail())
	}
	a.kill()
	client.CloseIdleConnections()

	b := startBilling(t, bin, dbURL, plans, env...)
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := messageIDs(t, db)
	if len(ids) < killAt {
		t.Fatalf("only %d messages written", len(ids))
	}
	deadline := time.After(150 * time.Second)
	for {
		mu.Lock()
		var missing []string
		for _, id := range ids {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		select {
		case <-arrived:
		case <-time.After(time.Second): // the lease runs out on the service's clock
		case <-deadline:
			t.Fatalf("%d of %d messages never arrived, e.g. %s:\n%s", len(missing), len(ids), missing[0], b.logTail())
		}
	}
	t.Logf("%d messages, all delivered after the kill at request %d", len(ids), killAt)
}

// messageIDs lists the ids of every message the database holds.
func messageIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT id FROM app_messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
