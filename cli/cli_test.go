package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/cli"
	"github.com/acme/billing/store/storetest"
)

// service runs `billing serve` on a free port with a fresh SQLite file and
// the example plans file the repository ships.
type service struct {
	t    *testing.T
	env  map[string]string
	addr string
	out  *billingtest.Buffer
	// stop stops serve, as SIGTERM does, and checks the balances; cleanup
	// calls it if the test did not.
	stop func()
}

// startService starts serve; env adds to or overrides its environment.
func startService(t *testing.T, env ...map[string]string) *service {
	t.Helper()
	s := &service{t: t, out: &billingtest.Buffer{}, env: map[string]string{
		"DATABASE_URL":  storetest.URL(t),
		"BILLING_PLANS": filepath.Join("..", "plans.json"),
		"BILLING_ADDR":  "127.0.0.1:0",
	}}
	for _, e := range env {
		maps.Copy(s.env, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, &cli.Env{Stdout: s.out, Stderr: s.out, Getenv: s.getenv,
			Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case s.addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d:\n%s", code, s.out)
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start:\n%s", s.out)
	}
	s.env["BILLING_ADDR"] = s.addr
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d", code)
			}
			db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
			if bad, err := db.CheckBalances(context.Background()); err != nil || len(bad) > 0 {
				t.Errorf("cached balance differs from the ledger for %v (%v)", bad, err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (s *service) getenv(k string) string { return s.env[k] }

// run runs a CLI command against the same database and configuration.
func (s *service) run(args ...string) (int, string) {
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: s.getenv})
	return code, out.String()
}

func (s *service) apiKey() string {
	m := regexp.MustCompile(`bk_dev_[0-9a-f]+`).FindString(s.out.String())
	if m == "" {
		s.t.Fatalf("serve printed no development API key:\n%s", s.out)
	}
	return m
}

func (s *service) getJSON(path string, v any) int {
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.apiKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode
}

// The README's first steps: serve, create a workspace, trigger a checkout
// and its first invoice, read an active subscription and the plan's
// credits; then an upgrade, and what the workspace is entitled to.
func TestQuickstart(t *testing.T) {
	s := startService(t)
	if !regexp.MustCompile(`Ready! Your webhook signing secret is whsec_[0-9a-f]{48} \(\^C to quit\)`).MatchString(s.out.String()) {
		t.Errorf("serve did not print its development secret:\n%s", s.out)
	}
	if code, out := s.run("workspaces", "create", "ws_1", "--name", "Acme", "--email", "billing@acme.example"); code != 0 {
		t.Fatalf("workspaces create: %d %s", code, out)
	}
	for _, typ := range []string{"checkout.session.completed", "invoice.payment_succeeded", "invoice.paid"} {
		code, out := s.run("trigger", typ, "--workspace", "ws_1")
		if code != 0 || !strings.Contains(out, `"status":"processed"`) {
			t.Fatalf("trigger %s: %d %s", typ, code, out)
		}
	}
	var ws struct {
		Name         string `json:"name"`
		Subscription struct {
			Status string `json:"status"`
			Plan   string `json:"plan"`
		} `json:"subscription"`
		Credits struct {
			Balance int64 `json:"balance"`
		} `json:"credits"`
	}
	if code := s.getJSON("/api/billing/workspaces/ws_1", &ws); code != 200 {
		t.Fatalf("GET workspace: %d", code)
	}
	if ws.Name != "Acme" || ws.Subscription.Status != "active" || ws.Subscription.Plan != "pro" || ws.Credits.Balance != 1000 {
		t.Errorf("workspace = %+v, want active pro with 1000 credits", ws)
	}
	var ledger []map[string]any
	s.getJSON("/api/billing/workspaces/ws_1/credits/ledger", &ledger)
	if len(ledger) != 1 {
		t.Errorf("ledger = %v, want one grant", ledger)
	}
	// The plan change, as Stripe reports an upgrade to team.
	code, out := s.run("trigger", "customer.subscription.updated", "--workspace", "ws_1", "--price", "price_1TeamMonthlyUSD")
	if code != 0 || !strings.Contains(out, `"status":"processed"`) {
		t.Fatalf("trigger the plan change: %d %s", code, out)
	}
	var ent struct {
		Entitled bool           `json:"entitled"`
		Plan     string         `json:"plan"`
		Features map[string]any `json:"features"`
		Credits  struct {
			Balance int64 `json:"balance"`
		} `json:"credits"`
	}
	if code := s.getJSON("/api/billing/workspaces/ws_1/entitlements", &ent); code != 200 || !ent.Entitled || ent.Plan != "team" ||
		ent.Features["sso"] != true || ent.Credits.Balance != 5000 {
		t.Errorf("entitlements after the upgrade = %d %+v, want team with sso and 5000 credits", code, ent)
	}
}

func TestEventsCommands(t *testing.T) {
	s := startService(t)
	code, out := s.run("trigger", "payment_intent.succeeded", "--workspace", "ws_cli")
	if code != 0 {
		t.Fatalf("trigger: %d %s", code, out)
	}
	id := regexp.MustCompile(`evt_[0-9a-f]+`).FindString(out)
	if code, out := s.run("trigger", "invoice.upcoming"); code != 0 || !strings.Contains(out, `"ignored"`) {
		t.Errorf("trigger ignored type: %d %s", code, out)
	}
	// Without STRIPE_SECRET_KEY a thin event is stored, not applied.
	if code, out := s.run("trigger", "invoice.paid", "--thin"); code != 0 || !strings.Contains(out, `"ignored"`) {
		t.Errorf("trigger --thin: %d %s", code, out)
	}

	code, out = s.run("events", "list", "--type", "payment_intent.succeeded")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "processed") || strings.Contains(out, "invoice.upcoming") {
		t.Errorf("events list --type: %d\n%s", code, out)
	}
	if code, out = s.run("events", "list", "--status", "ignored"); code != 0 || strings.Contains(out, id) || !strings.Contains(out, "invoice.upcoming") {
		t.Errorf("events list --status ignored: %d\n%s", code, out)
	}
	code, out = s.run("events", "show", id)
	var shown struct {
		ID      string          `json:"id"`
		Status  string          `json:"status"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil || shown.ID != id || !bytes.Contains(shown.Payload, []byte(`"pi_T`)) {
		t.Errorf("events show: %d %v\n%s", code, err, out)
	}
	for i := 0; i < 2; i++ {
		if code, out = s.run("events", "replay", id); code != 0 || !strings.Contains(out, "processed") {
			t.Errorf("events replay: %d %s", code, out)
		}
	}
	var ws struct {
		Credits struct {
			Purchased int64 `json:"purchased"`
		} `json:"credits"`
	}
	s.getJSON("/api/billing/workspaces/ws_cli", &ws)
	if ws.Credits.Purchased != 500 {
		t.Errorf("after two replays purchased = %d, want 500 once", ws.Credits.Purchased)
	}
	if code, out = s.run("events", "list", "--status", "done"); code != 1 || !strings.Contains(out, `--status "done"`) {
		t.Errorf("events list --status done: %d %s", code, out)
	}
	if code, out = s.run("migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("migrate: %d %s", code, out)
	}
	if code, out = s.run("events", "show", "evt_missing"); code != 1 || !strings.Contains(out, "not found") {
		t.Errorf("events show missing: %d %s", code, out)
	}
}

func TestUsageAndHelp(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		return code, out.String()
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "billing trigger"},
		{[]string{}, 2, "Usage:"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"serve", "--help"}, 0, "-addr"},
		{[]string{"trigger", "--help"}, 0, "-workspace"},
		{[]string{"events", "list", "--help"}, 0, "-status"},
		{[]string{"app-webhooks", "--help"}, 0, "billing app-webhooks listen"},
		{[]string{"app-webhooks"}, 2, "billing app-webhooks listen"},
		{[]string{"app-webhooks", "listen", "--help"}, 0, "-forward-to"},
		{[]string{"workspaces", "create"}, 2, "usage: billing workspaces create ID"},
		{[]string{"events", "show"}, 2, "usage: billing events show ID"},
		{[]string{"version"}, 0, "billing "},
		{[]string{"version"}, 0, runtime.Version()},
		{[]string{"version", "extra"}, 2, "usage: billing version"},
	}
	for _, tt := range tests {
		code, out := run(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("billing %v: %d %q, want %d and %q", tt.args, code, out, tt.code, tt.want)
		}
	}
}

func TestStartupConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STRIPE_SECRET_KEY": "pk_test_123"}, "STRIPE_SECRET_KEY pk_test_****: want a key starting sk_test_"},
		{map[string]string{"STRIPE_SECRET_KEY": "sk_live_abcdefghijkl"}, "STRIPE_WEBHOOK_SECRET is required in live mode"},
		{map[string]string{"BILLING_PLANS": filepath.Join("testdata", "missing.json")}, "BILLING_PLANS"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := cli.Run(context.Background(), []string{"serve"}, &cli.Env{Stdout: &out, Stderr: &out,
			Getenv: func(k string) string { return tt.env[k] }})
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
			t.Errorf("serve with %v: exit %d, output %q; want 1 and one line with %q", tt.env, code, out.String(), tt.want)
		}
		if strings.Contains(out.String(), "abcdefghijkl") {
			t.Errorf("a key was printed: %s", out.String())
		}
	}
}

// A service started where there is no plans file says so at WARN, with how
// to set one; its start-up line writes durations as durations.
func TestServeWithoutPlansWarns(t *testing.T) {
	s := startService(t, map[string]string{"BILLING_PLANS": ""}) // the tests run in cli/, which has no plans.json
	out := s.out.String()
	if !strings.Contains(out, `"level":"WARN","msg":"No plans: subscriptions get no plan, no entitlement and no credits. Set BILLING_PLANS`) ||
		!strings.Contains(out, `"looked_for":"plans.json"`) {
		t.Errorf("no WARN about the missing plans:\n%s", out)
	}
	if !strings.Contains(out, `"tolerance":"5m0s"`) || !strings.Contains(out, `"feed_retention":"720h0m0s"`) {
		t.Errorf("the start-up line's durations:\n%s", out)
	}
	with := startService(t)
	if strings.Contains(with.out.String(), "No plans") {
		t.Errorf("a service with plans warned:\n%s", with.out)
	}
}

// billing trigger from another directory signs with another database's
// development secret: the service's 400 is explained, and --secret fixes it.
func TestTriggerExplainsAnUnknownSecret(t *testing.T) {
	s := startService(t)
	other := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "billing.db"), "BILLING_ADDR": s.addr,
		"BILLING_PLANS": filepath.Join("..", "plans.json")}
	code, out := runWith(t, other, "trigger", "payment_intent.succeeded")
	if code == 0 || !strings.Contains(out, "taken from the development secret of sqlite:") || !strings.Contains(out, "--secret") {
		t.Errorf("trigger with another database's secret: exit %d\n%s", code, out)
	}
	secret := regexp.MustCompile(`whsec_[0-9a-f]{48}`).FindString(s.out.String())
	if code, out := runWith(t, other, "trigger", "payment_intent.succeeded", "--secret", secret); code != 0 || !strings.Contains(out, `"processed"`) {
		t.Errorf("trigger --secret: exit %d\n%s", code, out)
	}
}

// billing workspaces list and show answer what the API does, from the
// command line.
func TestWorkspacesListAndShow(t *testing.T) {
	s := startService(t)
	s.run("workspaces", "create", "ws_a", "--name", "Acme", "--email", "billing@acme.example")
	s.run("workspaces", "create", "ws_b")
	for _, typ := range []string{"checkout.session.completed", "invoice.paid"} {
		if code, out := s.run("trigger", typ, "--workspace", "ws_a"); code != 0 {
			t.Fatalf("trigger %s: %d %s", typ, code, out)
		}
	}
	code, out := s.run("workspaces", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^ws_a +Acme +billing@acme\.example +cus_T\w+ +active +pro +1000$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^ws_b +- +- +- +- +- +0$`).MatchString(out) {
		t.Errorf("workspaces list: %d\n%s", code, out)
	}
	if code, out := s.run("workspaces", "list", "--status", "active"); code != 0 || !strings.Contains(out, "ws_a") || strings.Contains(out, "ws_b") {
		t.Errorf("workspaces list --status active: %d\n%s", code, out)
	}
	code, out = s.run("workspaces", "show", "ws_a")
	if code != 0 || !strings.Contains(out, "1000 (1000 subscription, 0 purchased)") || !regexp.MustCompile(`(?m)^entitled +yes \(active\)$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^status +active$`).MatchString(out) {
		t.Errorf("workspaces show: %d\n%s", code, out)
	}
	if code, out := s.run("workspaces", "show", "ws_nobody"); code == 0 || !strings.Contains(out, "ws_nobody") {
		t.Errorf("workspaces show of no workspace: %d\n%s", code, out)
	}
	if code, out := s.run("workspaces", "--help"); code != 0 || !strings.Contains(out, "workspaces list") || !strings.Contains(out, "workspaces show") {
		t.Errorf("workspaces --help: %d\n%s", code, out)
	}
}

// billing trigger tells a coherent story: times move with today (an ended
// subscription's credits expire, a trial reminder is due, a retry is in the
// future), each invoice event is a new invoice unless --invoice names one,
// and --set overrides any field, JSON values included.
func TestTriggerTellsAStory(t *testing.T) {
	s := startService(t)
	trig := func(args ...string) {
		t.Helper()
		if code, out := s.run(append([]string{"trigger"}, args...)...); code != 0 || !strings.Contains(out, `"status":"processed"`) {
			t.Fatalf("trigger %v: %d %s", args, code, out)
		}
	}
	var ws struct {
		Subscription struct {
			Status string `json:"status"`
		} `json:"subscription"`
		Credits struct {
			Subscription int64 `json:"subscription"`
		} `json:"credits"`
	}
	var invoices []map[string]any
	trig("customer.subscription.created", "--workspace", "ws_story")
	trig("invoice.paid", "--workspace", "ws_story")
	trig("invoice.paid", "--workspace", "ws_story", "--set", "data.object.billing_reason=subscription_update")
	if s.getJSON("/api/billing/workspaces/ws_story/invoices", &invoices); len(invoices) != 2 {
		t.Errorf("two invoice events made %d invoices, want 2", len(invoices))
	}
	trig("invoice.paid", "--workspace", "ws_story", "--invoice", "in_Story1")
	trig("invoice.paid", "--workspace", "ws_story", "--invoice", "in_Story1")
	if s.getJSON("/api/billing/workspaces/ws_story/invoices", &invoices); len(invoices) != 3 {
		t.Errorf("--invoice twice made %d invoices in all, want 3", len(invoices))
	}
	if s.getJSON("/api/billing/workspaces/ws_story", &ws); ws.Credits.Subscription != 1000 {
		t.Fatalf("the first period's credits: %+v", ws)
	}
	trig("customer.subscription.updated", "--workspace", "ws_story", "--set", "data.object.status=past_due",
		"--set", `data.object.metadata={"workspace_id":"ws_story","note":"set as JSON"}`)
	if s.getJSON("/api/billing/workspaces/ws_story", &ws); ws.Subscription.Status != "past_due" {
		t.Errorf("--set data.object.status=past_due: %+v", ws)
	}
	trig("invoice.payment_failed", "--workspace", "ws_story")
	trig("customer.subscription.trial_will_end", "--workspace", "ws_trial")
	trig("customer.subscription.deleted", "--workspace", "ws_story")
	if s.getJSON("/api/billing/workspaces/ws_story", &ws); ws.Subscription.Status != "canceled" || ws.Credits.Subscription != 0 {
		t.Errorf("after the triggered deletion: %+v, want canceled with its credits expired", ws)
	}
	db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	ns, err := db.Notifications(context.Background(), false, 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, n := range ns {
		kinds[n.Kind] = n.Body
	}
	if _, ok := kinds["customer.subscription.trial_will_end"]; !ok {
		t.Errorf("the triggered trial_will_end queued no reminder: %v", kinds)
	}
	retry := regexp.MustCompile(`try again on (\d+ \w+ \d{4})`).FindStringSubmatch(kinds["invoice.payment_failed"])
	if len(retry) < 2 {
		t.Fatalf("the failed payment's email: %q", kinds["invoice.payment_failed"])
	}
	if on, err := time.Parse("2 January 2006", retry[1]); err != nil || on.Before(time.Now().Truncate(24*time.Hour)) {
		t.Errorf("the retry is on %s, before today", retry[1])
	}
}

// billing trigger scenario runs each flow against the real service and
// prints the workspace after each step; each ends where Stripe's flow does.
func TestTriggerScenarios(t *testing.T) {
	s := startService(t)
	for _, tt := range []struct{ name, last string }{
		{"subscribe", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"renew", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"upgrade", "subscription active, plan team, credits 5000 (5000 subscription, 0 purchased)"},
		{"downgrade", "subscription active, plan pro, credits 5000 (5000 subscription, 0 purchased)"},
		{"cancel-at-period-end", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"resume", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"trial", "subscription trialing, plan pro, credits 1000 (1000 subscription, 0 purchased)"}, // trial_credits default to monthly_credits
		{"trial-converts", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"failed-renewal-recovered", "subscription active, plan pro, credits 1000 (1000 subscription, 0 purchased)"},
		{"failed-renewal-final", "subscription canceled, plan pro, credits 0 (0 subscription, 0 purchased)"},
		{"credit-purchase", "subscription none, plan -, credits 500 (0 subscription, 500 purchased)"},
		{"refund", "subscription none, plan -, credits 250 (0 subscription, 250 purchased)"},
	} {
		ws := "ws_" + strings.ReplaceAll(tt.name, "-", "_")
		code, out := s.run("trigger", "scenario", tt.name, "--workspace", ws)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || !strings.HasSuffix(lines[len(lines)-1], ws+": "+tt.last) || strings.Count(out, `"status":"processed"`) < 2 {
			t.Errorf("scenario %s: exit %d\n%s\nwant it to end with %q", tt.name, code, out, tt.last)
		}
	}
	var w struct {
		Subscription struct {
			CancelAtPeriodEnd bool `json:"cancel_at_period_end"`
		} `json:"subscription"`
	}
	if s.getJSON("/api/billing/workspaces/ws_cancel_at_period_end", &w); !w.Subscription.CancelAtPeriodEnd {
		t.Error("cancel-at-period-end left the subscription renewing")
	}
	if s.getJSON("/api/billing/workspaces/ws_resume", &w); w.Subscription.CancelAtPeriodEnd {
		t.Error("resume left the subscription canceling")
	}
	code, out := s.run("trigger", "--help")
	if code != 0 || !strings.Contains(out, "Event types:\n  checkout.session.completed") || !strings.Contains(out, "failed-renewal-recovered") {
		t.Errorf("trigger --help: %d\n%s", code, out)
	}
	if code, out := s.run("trigger", "scenario", "nope"); code == 0 || !strings.Contains(out, `no scenario "nope"`) {
		t.Errorf("an unknown scenario: %d %s", code, out)
	}
}
