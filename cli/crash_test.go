package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/bench"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

const (
	crashSecret  = "whsec_crash_test_secret"
	crashAPIKey  = "crash-test-api-key-0123456789"
	crashPrice   = "price_CrashPro"
	crashSenders = 16
)

// TestCrashKill9DuringLoad kills `billing serve` with SIGKILL while 16
// senders post a shuffled workload with duplicates, once a third of the
// deliveries have been answered. It then proves that
//   - every delivery answered 200 is in the database, with the status it was
//     answered with, and nothing is half applied (no event received or
//     failed, cached balances equal the ledger), right after the crash;
//   - after a restart on the same database and a resend of every delivery
//     not answered 200, each workspace's status, plan, periods, invoices,
//     payments, credit balances and ledger are those of the same events
//     applied once, in order, on a fresh database, and no event is failed.
//
// It runs on the backend storetest names (SQLite by default, PostgreSQL
// with BILLING_TEST_DB=postgres).
func TestCrashKill9DuringLoad(t *testing.T) { stopDuringLoad(t, syscall.SIGKILL) }

// TestShutdownDuringLoad is the same with SIGTERM: serve stops accepting,
// finishes what is in flight and exits 0; every answer is 200, 503 or no
// answer, and nothing answered 200 is missing.
func TestShutdownDuringLoad(t *testing.T) { stopDuringLoad(t, syscall.SIGTERM) }

func stopDuringLoad(t *testing.T, sig syscall.Signal) {
	bin := buildBilling(t)
	plans := filepath.Join(t.TempDir(), "plans.json")
	if err := os.WriteFile(plans, []byte(`{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["`+crashPrice+`"],"monthly_credits":1000}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := bench.NewWorkload("ws_crash", 60, 0.2, 20260401, crashPrice)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(w.Deliveries))
	for i, p := range w.Deliveries {
		ids[i] = payloadEventID(t, p)
	}
	dbURL := storetest.URL(t)

	// 1. Load, and SIGKILL once a third of the deliveries are answered 200.
	a := startBilling(t, bin, dbURL, plans)
	n := len(w.Deliveries)
	killAt := n / 3
	results := make([]delivery, n)
	var (
		mu             sync.Mutex
		ok             int
		killed         bool
		inFlight       atomic.Int64
		inFlightAtKill int64
	)
	client := newClient()
	send(len(w.Deliveries), func(i int) {
		inFlight.Add(1)
		d := post(client, a.base, w.Deliveries[i])
		inFlight.Add(-1)
		mu.Lock()
		results[i] = d
		kill := false
		if d.code == http.StatusOK {
			ok++
			if ok >= killAt && !killed {
				killed, kill = true, true
				inFlightAtKill = inFlight.Load()
			}
		}
		mu.Unlock()
		if kill {
			a.signal(sig)
		}
	})
	client.CloseIdleConnections()
	if !killed {
		t.Fatalf("only %d of %d deliveries answered 200, never the %d the kill waits for:\n%s", ok, n, killAt, a.logTail())
	}
	if sig == syscall.SIGKILL && !a.exitedBy(syscall.SIGKILL) {
		t.Fatalf("serve did not die of SIGKILL: %v", a.waitErr)
	}
	if sig == syscall.SIGTERM && a.waitErr != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v\n%s", a.waitErr, a.logTail())
	}
	var connErrors int
	codes := map[int]int{}
	for i, d := range results {
		codes[d.code]++
		switch {
		case d.code == http.StatusOK:
		case d.err != nil:
			connErrors++
		case sig == syscall.SIGTERM && d.code == http.StatusServiceUnavailable:
		default:
			t.Errorf("delivery %d (%s) answered %d before or after the kill, want 200 or no answer", i, ids[i], d.code)
		}
	}
	t.Logf("%d deliveries (%d events); killed after %d answers with %d requests in flight; answers %v, %d connection errors",
		n, w.Unique, killAt, inFlightAtKill, codes, connErrors)
	if ok == n || connErrors == 0 {
		t.Fatalf("the kill did not land mid-load: %d of %d answered 200, %d connection errors", ok, n, connErrors)
	}

	// 2. Right after the crash: nothing answered 200 is lost, nothing is half done.
	checkAfterCrash(t, dbURL, results, ids)

	// 3. Restart on the same database; resend what was not answered 200.
	b := startBilling(t, bin, dbURL, plans)
	var resend []int
	for i, d := range results {
		if d.code != http.StatusOK {
			resend = append(resend, i)
		}
	}
	client = newClient()
	var resendErrs atomic.Int64
	send(len(resend), func(j int) {
		i := resend[j]
		if d := post(client, b.base, w.Deliveries[i]); d.code != http.StatusOK {
			resendErrs.Add(1)
			t.Errorf("resend of %s after restart: %d %v %s", ids[i], d.code, d.err, d.status)
		}
	})
	client.CloseIdleConnections()
	if resendErrs.Load() > 0 {
		t.Fatalf("%d resends failed:\n%s", resendErrs.Load(), b.logTail())
	}

	// 4. The reference: the same events, once each, in order, on a fresh database.
	events := referenceEvents(t, w)
	ref := startBilling(t, bin, storetest.URL(t), plans)
	client = newClient()
	for _, p := range events {
		if d := post(client, ref.base, p); d.code != http.StatusOK || d.status == string(billing.StatusDuplicate) {
			t.Fatalf("reference: %s answered %d %v %q", payloadEventID(t, p), d.code, d.err, d.status)
		}
	}
	for i, ws := range w.Workspaces {
		want := workspaceState(t, client, ref.base, ws)
		checkLifecycleState(t, ws, want, i%2 == 0)
		if got := workspaceState(t, client, b.base, ws); got != want {
			t.Errorf("%s after the crash and resend differs from applying its events once, in order:\n got %s\nwant %s", ws, got, want)
		}
	}
	client.CloseIdleConnections()

	// 5. A clean stop, then the database: balances match the ledger, every
	// event stored once and done.
	b.stop()
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	total, statuses := checkDatabase(t, db, "after the resend")
	if total != w.Unique {
		t.Errorf("%d events stored, want %d: %v", total, w.Unique, statuses)
	}
	t.Logf("final events by status: %v", statuses)
}

// delivery is what one post got: an HTTP answer, or a connection error.
type delivery struct {
	code   int
	status string // the answer's "status" on 200
	err    error
}

func newClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: crashSenders, MaxConnsPerHost: crashSenders}}
}

// send calls fn(0)…fn(n-1) from crashSenders goroutines and waits for all.
func send(n int, fn func(i int)) {
	queue := make(chan int)
	var wg sync.WaitGroup
	for range crashSenders {
		wg.Go(func() {
			for i := range queue {
				fn(i)
			}
		})
	}
	for i := range n {
		queue <- i
	}
	close(queue)
	wg.Wait()
}

// post signs payload now and posts it to the service at base.
func post(client *http.Client, base string, payload []byte) delivery {
	req, err := http.NewRequest(http.MethodPost, base+api.WebhookPath, bytes.NewReader(payload))
	if err != nil {
		return delivery{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", webhook.Sign(payload, crashSecret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return delivery{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		// Headers arrived but not the whole answer: not answered.
		return delivery{err: err}
	}
	var answer struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &answer)
	return delivery{code: resp.StatusCode, status: answer.Status}
}

// checkAfterCrash opens the database the killed process left and checks
// that every delivery answered 200 is stored with the status it was
// answered with, and that no transaction is half there.
func checkAfterCrash(t *testing.T, dbURL string, results []delivery, ids []string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	answered := map[string]bool{}
	for i, d := range results {
		if d.code != http.StatusOK {
			continue
		}
		answered[ids[i]] = true
		e, err := db.Event(ctx, ids[i])
		switch {
		case err != nil:
			t.Errorf("%s was answered 200 %q before the kill but is not stored: %v", ids[i], d.status, err)
		case !e.Status.Done():
			t.Errorf("%s was answered 200 %q before the kill but is stored %s", ids[i], d.status, e.Status)
		case d.status != string(billing.StatusDuplicate) && string(e.Status) != d.status:
			t.Errorf("%s was answered %q before the kill but is stored %s", ids[i], d.status, e.Status)
		}
	}
	stored, statuses := checkDatabase(t, db, "after the kill")
	// Events committed whose answer the kill cut off are stored too.
	t.Logf("after the kill: %d events answered 200, %d stored %v", len(answered), stored, statuses)
	if stored < len(answered) {
		t.Errorf("%d events stored, fewer than the %d answered 200", stored, len(answered))
	}
}

// checkDatabase asserts that cached balances equal the ledger and that no
// event is left half-done, and returns how many events are stored, by status.
func checkDatabase(t *testing.T, db *store.DB, when string) (int, map[string]int) {
	t.Helper()
	if bad, err := db.CheckBalances(context.Background()); err != nil || len(bad) > 0 {
		t.Errorf("%s the cached balance differs from the ledger for %v (%v)", when, bad, err)
	}
	statuses := eventStatuses(t, db)
	total := 0
	for status, count := range statuses {
		total += count
		if !billing.EventStatus(status).Done() {
			t.Errorf("%s %d events are stored %s", when, count, status)
		}
	}
	return total, statuses
}

func eventStatuses(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT status, COUNT(*) FROM events GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceEvents is the workload's events once each, in creation order:
// the life cycles bench.NewWorkload shuffled, checked to be the very
// payloads it delivered.
func referenceEvents(t *testing.T, w *bench.Workload) [][]byte {
	t.Helper()
	delivered := map[string]bool{}
	for _, p := range w.Deliveries {
		delivered[string(p)] = true
	}
	var events [][]byte
	for i, ws := range w.Workspaces {
		lc, err := trigger.Lifecycle(ws, crashPrice, i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range lc {
			if !delivered[string(p)] {
				t.Fatalf("reference event %s is not one the workload delivered", payloadEventID(t, p))
			}
		}
		events = append(events, lc...)
	}
	if len(events) != w.Unique || len(delivered) != w.Unique {
		t.Fatalf("reference has %d events, the workload %d distinct payloads, want %d", len(events), len(delivered), w.Unique)
	}
	return events
}

// workspaceState is everything the read API shows of a workspace (status,
// plan, periods, credits, invoices, payments), with the ledger as a sorted
// set: its ids and times depend on the order of application.
func workspaceState(t *testing.T, client *http.Client, base, ws string) string {
	t.Helper()
	var w, invoices, payments any
	var entries []struct {
		Amount         int64  `json:"amount"`
		Bucket         string `json:"bucket"`
		Reason         string `json:"reason"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	for path, v := range map[string]any{"": &w, "/invoices": &invoices, "/payments": &payments, "/credits/ledger": &entries} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/billing/workspaces/"+ws+path, nil)
		req.Header.Set("Authorization", "Bearer "+crashAPIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s%s: %d %v", ws, path, resp.StatusCode, err)
		}
	}
	var ledger []string
	for _, e := range entries {
		ledger = append(ledger, fmt.Sprintf("%s %s %d %q", e.IdempotencyKey, e.Bucket, e.Amount, e.Reason))
	}
	slices.Sort(ledger)
	out, _ := json.MarshalIndent(map[string]any{"workspace": w, "invoices": invoices, "payments": payments, "ledger": ledger}, "", " ")
	return string(out)
}

// checkLifecycleState makes sure the reference is what a life cycle means,
// so that matching it proves something.
func checkLifecycleState(t *testing.T, ws, state string, canceled bool) {
	t.Helper()
	var st struct {
		Workspace struct {
			Subscription *struct {
				Status string  `json:"status"`
				Plan   *string `json:"plan"`
			} `json:"subscription"`
			Credits struct {
				Subscription int64 `json:"subscription"`
				Purchased    int64 `json:"purchased"`
			} `json:"credits"`
		} `json:"workspace"`
		Invoices []json.RawMessage `json:"invoices"`
		Payments []json.RawMessage `json:"payments"`
		Ledger   []string          `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(state), &st); err != nil {
		t.Fatal(err)
	}
	wantStatus, wantSub, wantInvoices := "active", int64(1000), 3
	if canceled {
		wantStatus, wantSub, wantInvoices = "canceled", 0, 2
	}
	sub := st.Workspace.Subscription
	if sub == nil || sub.Status != wantStatus || sub.Plan == nil || *sub.Plan != "pro" || st.Workspace.Credits.Subscription != wantSub ||
		st.Workspace.Credits.Purchased != 250 || len(st.Invoices) != wantInvoices || len(st.Payments) != 2 || len(st.Ledger) == 0 {
		t.Fatalf("reference state of %s is not what its life cycle says:\n%s", ws, state)
	}
}

func payloadEventID(t *testing.T, p []byte) string {
	t.Helper()
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(p, &e); err != nil || e.ID == "" {
		t.Fatalf("payload without an event id: %v", err)
	}
	return e.ID
}

// buildBilling builds cmd/billing into a temporary directory.
func buildBilling(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "billing")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/billing")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// billingProcess is `billing serve` running as a child process.
type billingProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *billingtest.Buffer
	base    string // http://127.0.0.1:PORT
	done    chan struct{}
	waitErr error
}

var listeningRE = regexp.MustCompile(`Listening on http://(127\.0\.0\.1:\d+)/`)

// startBilling starts `billing serve` on databaseURL and a free loopback
// port, and waits until /readyz answers 200. It is killed at cleanup. env
// adds KEY=VALUE settings.
func startBilling(t *testing.T, bin, databaseURL, plans string, env ...string) *billingProcess {
	t.Helper()
	p := &billingProcess{t: t, out: &billingtest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--log-format", "json")
	p.cmd.Dir = t.TempDir() // no .env, no plans.json of the repository
	p.cmd.Env = append(childEnv(), "DATABASE_URL="+databaseURL, "STRIPE_WEBHOOK_SECRET="+crashSecret,
		"BILLING_API_KEY="+crashAPIKey, "BILLING_PLANS="+plans, "BILLING_ADDR=127.0.0.1:0")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("serve (pid %d) output, last lines:\n%s", p.cmd.Process.Pid, p.logTail())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for p.base == "" {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			p.base = "http://" + m[1]
			break
		}
		select {
		case <-p.done:
			t.Fatalf("serve exited (%v):\n%s", p.waitErr, p.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", p.out)
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready (%v):\n%s", err, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childEnv is this process's environment without the service's settings.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BILLING_") && !strings.HasPrefix(kv, "STRIPE_") && !strings.HasPrefix(kv, "DATABASE_") {
			env = append(env, kv)
		}
	}
	return env
}

// kill sends SIGKILL, unless the process has exited, and waits for it.
func (p *billingProcess) kill() { p.signal(syscall.SIGKILL) }

// signal sends sig and waits for the process to end.
func (p *billingProcess) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stop sends SIGTERM and expects a clean exit within 30 s.
func (p *billingProcess) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("serve did not stop on SIGTERM")
	}
	if p.waitErr != nil {
		p.t.Errorf("serve stopped with %v", p.waitErr)
	}
}

func (p *billingProcess) exitedBy(sig syscall.Signal) bool {
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func (p *billingProcess) logTail() string {
	lines := strings.Split(strings.TrimSpace(p.out.String()), "\n")
	return strings.Join(lines[max(len(lines)-40, 0):], "\n")
}
