package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/config"
)

func load(t *testing.T, env map[string]string, dotenv string) (*config.Config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if dotenv != "" {
		if err := os.WriteFile(path, []byte(dotenv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if env["BILLING_PLANS"] == "" {
		// Keep the working directory's plans.json out of the test.
		env["BILLING_PLANS"] = writePlans(t, dir, `{"plans":[]}`)
	}
	return config.Load(func(k string) string { return env[k] }, path)
}

func writePlans(t *testing.T, dir, data string) string {
	p := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := load(t, map[string]string{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8000" || c.DatabaseURL != "sqlite:billing.db" || c.Tolerance != 300*time.Second || c.Mode != billing.ModeTest || len(c.WebhookSecrets) != 0 {
		t.Errorf("defaults = %+v", c)
	}
	// README's defaults: Stripe calls bounded at 10 s, no refetch, credit
	// purchases off, the outbox polled every 10 s.
	if c.StripeTimeout != 10*time.Second || c.StripeRefetch || c.CreditPrice.UnitAmount != 0 || c.EmailInterval != 10*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	// At most 4096 connections, fewer if the open-file limit is lower.
	if want := min(4096, int(c.FileLimit)-256); c.FileLimit == 0 || c.MaxConns != want {
		t.Errorf("MaxConns = %d with a file limit of %d, want %d", c.MaxConns, c.FileLimit, want)
	}
	// A past-due subscription entitled for 7 days; an upgrade grants the difference.
	if c.PastDueGrace != 7*24*time.Hour || c.UpgradeCredits != billing.UpgradeDifference {
		t.Errorf("grace %v, upgrade credits %q; want 7 days and difference", c.PastDueGrace, c.UpgradeCredits)
	}
	if c, err := load(t, map[string]string{"BILLING_CREDIT_PRICE": "10"}, ""); err != nil || c.CreditPrice.Currency != "usd" {
		t.Errorf("credit currency without BILLING_CREDIT_CURRENCY = %+v (%v), want usd", c, err)
	}
}

func TestEntitlementSettings(t *testing.T) {
	for _, tt := range []struct {
		grace, upgrade string
		wantGrace      time.Duration
		wantUpgrade    billing.UpgradeCredits
		err            string
	}{
		{"3d", "prorated", 3 * 24 * time.Hour, billing.UpgradeProrated, ""},
		{"36h", "none", 36 * time.Hour, billing.UpgradeNone, ""},
		{"0", "difference", billing.NoGrace, billing.UpgradeDifference, ""},
		{"600", "", 10 * time.Minute, billing.UpgradeDifference, ""},
		{"-1d", "", 0, "", "BILLING_PAST_DUE_GRACE"},
		{"1w", "", 0, "", "BILLING_PAST_DUE_GRACE"},
		{"7d", "all", 0, "", `BILLING_UPGRADE_CREDITS "all": want difference, prorated or none`},
	} {
		c, err := load(t, map[string]string{"BILLING_PAST_DUE_GRACE": tt.grace, "BILLING_UPGRADE_CREDITS": tt.upgrade}, "")
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q/%q: err = %v, want %q", tt.grace, tt.upgrade, err, tt.err)
			}
		case err != nil || c.PastDueGrace != tt.wantGrace || c.UpgradeCredits != tt.wantUpgrade:
			t.Errorf("%q/%q: %v, %q (%v); want %v, %q", tt.grace, tt.upgrade, c.PastDueGrace, c.UpgradeCredits, err, tt.wantGrace, tt.wantUpgrade)
		}
	}
}

func TestEnvironmentWinsOverDotEnv(t *testing.T) {
	c, err := load(t, map[string]string{"BILLING_ADDR": ":9000"},
		"BILLING_ADDR=:7000\nSTRIPE_WEBHOOK_SECRET=whsec_new, whsec_old\nSTRIPE_WEBHOOK_TOLERANCE=60s\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9000" || len(c.WebhookSecrets) != 2 || c.WebhookSecrets[1] != "whsec_old" || c.Tolerance != time.Minute {
		t.Errorf("config = %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"secret key prefix", map[string]string{"STRIPE_SECRET_KEY": "sk_foo_123"}, "STRIPE_SECRET_KEY sk_****: want a key starting"},
		{"publishable key prefix", map[string]string{"STRIPE_PUBLISHABLE_KEY": "sk_test_123"}, "STRIPE_PUBLISHABLE_KEY sk_test_****: want a key starting pk_test_"},
		{"webhook secret prefix", map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_ok,sec_bad"}, "STRIPE_WEBHOOK_SECRET sec_****"},
		{"test beside live", map[string]string{"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_y", "STRIPE_WEBHOOK_SECRET": "whsec_1", "BILLING_API_KEY": "0123456789abcdef"}, "different modes"},
		{"live without webhook secret", map[string]string{"STRIPE_SECRET_KEY": "rk_live_x"}, "STRIPE_WEBHOOK_SECRET is required in live mode"},
		{"live without api key", map[string]string{"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_1"}, "BILLING_API_KEY is required in live mode"},
		{"short api key", map[string]string{"BILLING_API_KEY": "short"}, "shorter than 16"},
		{"tolerance", map[string]string{"STRIPE_WEBHOOK_TOLERANCE": "soon"}, "STRIPE_WEBHOOK_TOLERANCE"},
		{"pool size", map[string]string{"DATABASE_MAX_OPEN_CONNS": "0"}, "DATABASE_MAX_OPEN_CONNS \"0\": want a whole number"},
		{"pool lifetime", map[string]string{"DATABASE_CONN_MAX_LIFETIME": "forever"}, "DATABASE_CONN_MAX_LIFETIME"},
		{"plans missing", map[string]string{"BILLING_PLANS": "/nonexistent/plans.json"}, "BILLING_PLANS"},
		{"stripe timeout", map[string]string{"STRIPE_TIMEOUT": "-1s"}, "STRIPE_TIMEOUT"},
		{"refetch without key", map[string]string{"STRIPE_REFETCH": "1"}, "STRIPE_REFETCH=1 needs STRIPE_SECRET_KEY"},
		{"refetch value", map[string]string{"STRIPE_REFETCH": "yes", "STRIPE_SECRET_KEY": "sk_test_1"}, "STRIPE_REFETCH \"yes\": want 1 or 0"},
		{"stripe url", map[string]string{"STRIPE_API_URL": "localhost:12111"}, "STRIPE_API_URL \"localhost:12111\": want an http(s) URL"},
		{"credit price", map[string]string{"BILLING_CREDIT_PRICE": "0.10"}, "BILLING_CREDIT_PRICE \"0.10\": want one credit's price in the currency's minor unit"},
		{"credit currency", map[string]string{"BILLING_CREDIT_PRICE": "10", "BILLING_CREDIT_CURRENCY": "dollars"}, "BILLING_CREDIT_CURRENCY"},
		{"smtp without sender", map[string]string{"SMTP_URL": "smtp://mail.example.com"}, "SMTP_URL is set but BILLING_EMAIL_FROM is not"},
		{"email interval", map[string]string{"BILLING_EMAIL_INTERVAL": "often"}, "BILLING_EMAIL_INTERVAL"},
		{"max conns zero", map[string]string{"BILLING_MAX_CONNS": "0"}, `BILLING_MAX_CONNS "0": want a whole number of connections, at least 1`},
		{"max conns word", map[string]string{"BILLING_MAX_CONNS": "many"}, `BILLING_MAX_CONNS "many": want a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line with %q", err, tt.want)
			}
		})
	}
	t.Run("malformed plans", func(t *testing.T) {
		p := writePlans(t, t.TempDir(), `{"plans":[{"id":"a","stripe_price_ids":["price_1"],"monthly_credits":-1}]}`)
		if _, err := load(t, map[string]string{"BILLING_PLANS": p}, ""); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPoolSettings(t *testing.T) {
	c, err := load(t, map[string]string{"DATABASE_MAX_OPEN_CONNS": "20", "DATABASE_MAX_IDLE_CONNS": "4",
		"DATABASE_CONN_MAX_LIFETIME": "10m", "DATABASE_TIMEOUT": "3s"}, "")
	if err != nil || c.DBMaxOpenConns != 20 || c.DBMaxIdleConns != 4 || c.DBConnMaxLifetime != 10*time.Minute || c.DBTimeout != 3*time.Second {
		t.Errorf("pool = %+v, %v", c, err)
	}
}

// BILLING_MAX_CONNS must leave 256 descriptors, and the PostgreSQL pool's,
// of the open-file limit (which Load has raised to the hard limit).
func TestMaxConns(t *testing.T) {
	c, err := load(t, map[string]string{}, "")
	if err != nil {
		t.Fatal(err)
	}
	files := int(c.FileLimit)
	for _, tt := range []struct {
		env  map[string]string
		want int    // MaxConns, or 0 for an error
		err  string // in the error
	}{
		{map[string]string{"BILLING_MAX_CONNS": "1000"}, 1000, ""},
		{map[string]string{"BILLING_MAX_CONNS": strconv.Itoa(files - 256)}, files - 256, ""},
		{map[string]string{"BILLING_MAX_CONNS": strconv.Itoa(files - 255)}, 0,
			fmt.Sprintf("BILLING_MAX_CONNS %d: the open-file limit of %d allows at most %d connections", files-255, files, files-256)},
		{map[string]string{"BILLING_MAX_CONNS": strconv.Itoa(files - 256), "DATABASE_MAX_OPEN_CONNS": "20"}, 0,
			fmt.Sprintf("allows at most %d connections, 276 descriptors being kept for the database", files-276)},
	} {
		c, err := load(t, tt.env, "")
		switch {
		case tt.want != 0 && (err != nil || c.MaxConns != tt.want):
			t.Errorf("%v: MaxConns %v, %v; want %d", tt.env, c, err, tt.want)
		case tt.want == 0 && (err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%v: err = %v, want one line with %q", tt.env, err, tt.err)
		}
	}
}

func TestStripeSettings(t *testing.T) {
	c, err := load(t, map[string]string{"STRIPE_TIMEOUT": "3s", "STRIPE_API_URL": "http://127.0.0.1:12111/",
		"BILLING_CREDIT_PRICE": "10", "BILLING_CREDIT_CURRENCY": "EUR"}, "")
	if err != nil || c.StripeTimeout != 3*time.Second || c.StripeAPIURL != "http://127.0.0.1:12111" ||
		c.CreditPrice != (billing.CreditPrice{UnitAmount: 10, Currency: "eur"}) {
		t.Errorf("stripe settings = %+v, %v", c, err)
	}
	c, err = load(t, map[string]string{}, "")
	if err != nil || c.StripeTimeout != config.DefaultStripeTimeout || c.CreditPrice.UnitAmount != 0 {
		t.Errorf("defaults = %+v, %v", c, err)
	}
}

func TestLiveMode(t *testing.T) {
	c, err := load(t, map[string]string{"STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_PUBLISHABLE_KEY": "pk_live_def",
		"STRIPE_WEBHOOK_SECRET": "whsec_1", "BILLING_API_KEY": "0123456789abcdef"}, "")
	if err != nil || c.Mode != billing.ModeLive {
		t.Fatalf("mode = %v, err %v", c, err)
	}
}

func TestSecretsAreMaskedInLogs(t *testing.T) {
	env := map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_51SecretValue", "STRIPE_PUBLISHABLE_KEY": "pk_test_51PublicValue",
		"STRIPE_WEBHOOK_SECRET": "whsec_SecretValue1,whsec_SecretValue2", "BILLING_API_KEY": "api_key_SecretValue",
		"DATABASE_URL": "postgres://user:dbSecretValue@localhost/db?password=dbSecretValue2",
		"SMTP_URL":     "smtps://mailer:smtpSecretValue@mail.example.com:465", "BILLING_EMAIL_FROM": "billing@example.com",
	}
	c, err := load(t, env, "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), "SecretValue") || strings.Contains(buf.String(), "PublicValue") {
		t.Errorf("a secret was logged: %s", buf.String())
	}
	for _, want := range []string{`"sk_test_****"`, `"whsec_****,whsec_****"`, `"api_****"`, `"postgres://user:****@localhost/db?password=****"`,
		`"smtps://mailer:****@mail.example.com:465"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q: %s", want, buf.String())
		}
	}
}

// Secrets lists every configured secret value, passwords in URLs included,
// as written and decoded.
func TestSecrets(t *testing.T) {
	c, err := load(t, map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_PUBLISHABLE_KEY": "pk_test_2", "STRIPE_WEBHOOK_SECRET": "whsec_3,whsec_4",
		"BILLING_API_KEY": "0123456789abcdef", "DATABASE_URL": "postgres://u:p%40ss@db/x?password=q",
		"SMTP_URL": "smtp://mailer:m@mail.example.com", "BILLING_EMAIL_FROM": "billing@example.com",
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sk_test_1", "pk_test_2", "0123456789abcdef", "whsec_3", "whsec_4", "p%40ss", "p@ss", "q", "m",
		"bQ==", "AG1haWxlcgBt"} // base64 of "m" (AUTH LOGIN) and of "\x00mailer\x00m" (AUTH PLAIN)
	if got := c.Secrets(); !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
}
