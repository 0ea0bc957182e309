package api_test

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
)

// TestClusterPostgresOutage stops PostgreSQL mid-load, as a crash would, and
// starts it again: meanwhile webhooks answer 503 fast (never 200, never a
// hang), no event answered 200 is missing afterwards, the service recovers
// without a restart, and re-sending what was not answered 200 completes the
// state exactly.
func TestClusterPostgresOutage(t *testing.T) {
	t.Parallel()
	server := storetest.StartServer(t)
	events, workspaces := clusterEvents(30)
	want := reference(t, events, workspaces)

	logs := &billingtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	a := serve(t, storetest.OpenURL(t, server.URL(), logger), logs)
	b := serve(t, storetest.OpenURL(t, server.URL(), logger), logs)

	rng := rand.New(rand.NewPCG(3, 5))
	order := rng.Perm(len(events))

	type result struct {
		event int
		code  int
		took  time.Duration
	}
	queue := make(chan int)
	results := make(chan result, len(events))
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		base := []*harness{a, b}[s%2].srv.URL
		client := checkedClient(20*time.Second, http.DefaultTransport)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				start := time.Now()
				code, err := post(client, base, events[i])
				if err != nil {
					code = -1
				}
				results <- result{i, code, time.Since(start)}
			}
		}()
	}
	stopAt, startAt := len(order)/3, len(order)/3+120
	for n, i := range order {
		switch n {
		case stopAt:
			server.Stop()
			if code := a.getStatus("/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("GET /readyz while the database is down: %d, want 503", code)
			}
		case startAt:
			server.Start()
		}
		queue <- i
	}
	close(queue)
	wg.Wait()
	close(results)

	codes := map[int]int{}
	var failed []int
	var ok []int
	for r := range results {
		codes[r.code]++
		if r.took > 10*time.Second {
			t.Errorf("event %d answered %d after %v, want under 10 s", r.event, r.code, r.took)
		}
		switch r.code {
		case http.StatusOK:
			ok = append(ok, r.event)
		case http.StatusServiceUnavailable:
			failed = append(failed, r.event)
		default:
			t.Errorf("event %d answered %d, want 200 or 503", r.event, r.code)
		}
	}
	t.Logf("answers during the outage run: %v", codes)
	if len(failed) == 0 {
		t.Fatal("no 503 at all: the outage did not happen")
	}
	if code := a.getStatus("/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz after recovery: %d", code)
	}

	// Nothing answered 200 is missing.
	for _, i := range ok {
		id := eventID(events[i])
		var status string
		if err := a.sqlDB().QueryRow(`SELECT status FROM events WHERE id = $1`, id).Scan(&status); err != nil ||
			!slices.Contains([]string{"processed", "ignored", "stale"}, status) {
			t.Errorf("event %s was answered 200 but is stored as %q (%v)", id, status, err)
		}
	}
	// Re-sending what was not answered 200, as Stripe does, completes the state.
	client := checkedClient(20*time.Second, http.DefaultTransport)
	for _, i := range failed {
		if code, err := post(client, b.srv.URL, events[i]); code != http.StatusOK {
			t.Fatalf("re-send after recovery: %d %v", code, err)
		}
	}
	for _, ws := range workspaces {
		if got := stateOf(a, ws); got != want[ws] {
			t.Fatalf("%s differs from one instance applying in order:\n got %s\nwant %s", ws, got, want[ws])
		}
	}
}

// getStatus answers the status code of an unauthenticated GET.
func (h *harness) getStatus(path string) int {
	resp, err := h.srv.Client().Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
