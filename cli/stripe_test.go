package cli_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acme/billing/cli"
	"github.com/acme/billing/stripeapi/stripetest"
)

// runWith runs the CLI with only env set, in a fresh SQLite database.
func runWith(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	if env["DATABASE_URL"] == "" {
		env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
	}
	env["BILLING_PLANS"] = filepath.Join("..", "plans.json")
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }})
	return code, out.String()
}

func TestStripeSetupWebhook(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": stripetest.Start(t)}
	code, out := runWith(t, env, "stripe", "setup-webhook", "--url", "https://billing.example.com/api/billing/webhooks/stripe/")
	if code != 0 || !strings.Contains(out, "Created webhook endpoint we_") || !strings.Contains(out, "API version 2026-03-25.dahlia") ||
		!strings.Contains(out, "set STRIPE_WEBHOOK_SECRET=") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out = runWith(t, env, "stripe", "setup-webhook", "--url", "https://example.com/my/webhook/endpoint")
	if code != 0 || !strings.Contains(out, "Updated webhook endpoint we_") || strings.Contains(out, "STRIPE_WEBHOOK_SECRET=") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, []string{"stripe", "setup-webhook", "--url", "https://b.example/"}, "set STRIPE_SECRET_KEY"},
		{env, []string{"stripe", "setup-webhook"}, "want the absolute URL"},
		{env, []string{"stripe", "setup-webhook", "--url", "/api/billing/webhooks/stripe/"}, "want the absolute URL"},
	} {
		if code, out := runWith(t, tt.env, tt.args...); code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d %q, want %q", tt.args, code, out, tt.want)
		}
	}
}

// stripe-mock's Events API returns one event (plan.created): recovered once
// it is stored, as ignored; a second recovery finds it stored.
func TestEventsRecover(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": stripetest.Start(t)}
	env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
	code, out := runWith(t, env, "events", "recover", "--since", "24h")
	if code != 0 || !strings.Contains(out, "evt_") || !strings.Contains(out, "Recovered: 0 applied, 0 already stored, 1 ignored") {
		t.Fatalf("first recover: exit %d\n%s", code, out)
	}
	code, out = runWith(t, env, "events", "recover")
	if code != 0 || !strings.Contains(out, "Recovered: 0 applied, 1 already stored, 0 ignored") {
		t.Errorf("second recover: exit %d\n%s", code, out)
	}
	if code, out := runWith(t, env, "events", "list", "--status", "ignored"); code != 0 || !strings.Contains(out, "plan.created") {
		t.Errorf("events list: exit %d\n%s", code, out)
	}
	if code, out := runWith(t, env, "events", "recover", "--since", "800h"); code == 0 || !strings.Contains(out, "up to 720h") {
		t.Errorf("--since 800h: exit %d %q", code, out)
	}
}

// billing sync against stripe-mock, whose lists hold one customer,
// subscription, invoice and payment intent, none naming a workspace.
func TestSyncCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_URL": stripetest.Start(t)}
	env["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
	row := func(out, kind string) string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 5 && f[0] == kind {
				return strings.Join(f[1:], " ")
			}
		}
		return "no row for " + kind
	}
	code, out := runWith(t, env, "sync", "--check")
	if code != 1 || !strings.Contains(out, "Checked (nothing changed) 4 objects") || row(out, "subscriptions") != "1 0 0 1" ||
		!strings.Contains(out, "Drift") {
		t.Fatalf("check of an empty database: exit %d\n%s", code, out)
	}
	code, out = runWith(t, env, "sync")
	if code != 0 || !strings.Contains(out, "Synced 4 objects") {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	for _, kind := range []string{"customers", "subscriptions", "invoices", "payments"} {
		if got := row(out, kind); got != "1 0 0 1" {
			t.Errorf("sync %s: created updated unchanged unlinked = %s, want 1 0 0 1", kind, got)
		}
	}
	code, out = runWith(t, env, "sync", "--since", "2020-01-01")
	if code != 0 || row(out, "invoices") != "0 0 1 1" {
		t.Errorf("second sync: exit %d\n%s", code, out)
	}
	if code, out = runWith(t, env, "sync", "--check"); code != 0 || strings.Contains(out, "Drift") {
		t.Errorf("check after sync: exit %d\n%s", code, out)
	}
	if code, out := runWith(t, env, "workspaces", "create", "ws_new"); code != 0 {
		t.Fatalf("workspaces create: %s", out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--workspace", "ws_new"}, `workspace "ws_new" has no Stripe customer yet`},
		{[]string{"sync", "--workspace", "ws_nobody"}, "ws_nobody"},
		{[]string{"sync", "--since", "yesterday"}, "want a date such as 2026-01-31"},
	} {
		if code, out := runWith(t, env, tt.args...); code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d %q, want %q", tt.args, code, out, tt.want)
		}
	}
}
