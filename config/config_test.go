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
		{"connect account", map[string]string{"STRIPE_CONNECT_ACCOUNTS": "acct_1, cus_2"}, `STRIPE_CONNECT_ACCOUNTS "cus_2": want connected account ids`},
		{"placeholder secret key", map[string]string{"STRIPE_SECRET_KEY": "sk_test_..."}, `STRIPE_SECRET_KEY is .env.example's placeholder "sk_test_..."`},
		{"placeholder webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_..."}, `STRIPE_WEBHOOK_SECRET is .env.example's placeholder`},
		{"placeholder API key", map[string]string{"BILLING_API_KEY": "change-me-to-a-long-random-string"}, `BILLING_API_KEY is .env.example's placeholder`},
		{"placeholder publishable key", map[string]string{"STRIPE_PUBLISHABLE_KEY": "pk_test_..."}, `STRIPE_PUBLISHABLE_KEY is .env.example's placeholder`},
		{"operator email with a name", map[string]string{"BILLING_OPERATOR_EMAIL": "Ops <ops@example.com>"}, "BILLING_OPERATOR_EMAIL"},
		{"operator email header injection", map[string]string{"BILLING_OPERATOR_EMAIL": "ops@example.com\r\nBcc: x@evil.example"}, "want one address"},
		{"operator emails", map[string]string{"BILLING_OPERATOR_EMAIL": "a@example.com, b@example.com"}, "want one address"},
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
		"DATABASE_CONN_MAX_LIFETIME": "10m", "DATABASE_TIMEOUT": "3s", "DATABASE_WRITERS": "3"}, "")
	if err != nil || c.DBMaxOpenConns != 20 || c.DBMaxIdleConns != 4 || c.DBConnMaxLifetime != 10*time.Minute || c.DBTimeout != 3*time.Second ||
		c.DBWriters != 3 {
		t.Errorf("pool = %+v, %v", c, err)
	}
	for _, env := range []map[string]string{
		{"DATABASE_WRITERS": "0"},
		{"DATABASE_WRITERS": "10"}, // the default pool's size
		{"DATABASE_WRITERS": "8", "DATABASE_MAX_OPEN_CONNS": "8"},
	} {
		if _, err := load(t, env, ""); err == nil || !strings.Contains(err.Error(), "DATABASE_WRITERS") {
			t.Errorf("%v: %v, want an error naming DATABASE_WRITERS", env, err)
		}
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

func TestAppWebhookSettings(t *testing.T) {
	const good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	live := map[string]string{"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_1", "BILLING_API_KEY": "0123456789abcdef"}
	for _, tt := range []struct {
		name string
		env  map[string]string
		live bool
		err  string // "" for none
	}{
		{"several urls", map[string]string{"BILLING_APP_WEBHOOK_URL": "https://app.example.com/hook, http://10.0.0.7:3000/b"}, false, ""},
		{"relative url", map[string]string{"BILLING_APP_WEBHOOK_URL": "/hook"}, false, `BILLING_APP_WEBHOOK_URL "/hook": want absolute http(s) URLs`},
		{"ftp url", map[string]string{"BILLING_APP_WEBHOOK_URL": "https://ok.example.com,ftp://app.example.com/"}, false, `BILLING_APP_WEBHOOK_URL "ftp://app.example.com/"`},
		{"url password hidden", map[string]string{"BILLING_APP_WEBHOOK_URL": "mailto://u:hunter2@x"}, false, "mailto://u:****@x"},
		{"loopback on our port", map[string]string{"BILLING_APP_WEBHOOK_URL": "http://127.0.0.1:8000/hook"}, false, "points at this service"},
		{"localhost on our port", map[string]string{"BILLING_APP_WEBHOOK_URL": "http://localhost:9000/", "BILLING_ADDR": "127.0.0.1:9000"}, false, "points at this service"},
		{"0.0.0.0 on port 80", map[string]string{"BILLING_APP_WEBHOOK_URL": "http://0.0.0.0/", "BILLING_ADDR": ":80"}, false, "points at this service"},
		{"own addr host", map[string]string{"BILLING_APP_WEBHOOK_URL": "https://billing.internal:8443/", "BILLING_ADDR": "billing.internal:8443"}, false, "points at this service"},
		{"loopback on another port", map[string]string{"BILLING_APP_WEBHOOK_URL": "http://127.0.0.1:3000/hook"}, false, ""},
		{"good secret", map[string]string{"BILLING_APP_WEBHOOK_SECRET": good}, false, ""},
		{"secret without prefix", map[string]string{"BILLING_APP_WEBHOOK_SECRET": strings.TrimPrefix(good, "whsec_")}, false, "BILLING_APP_WEBHOOK_SECRET ****: want whsec_ and the base64"},
		{"secret not base64", map[string]string{"BILLING_APP_WEBHOOK_SECRET": "whsec_not*base64*at*all*****************"}, false, "BILLING_APP_WEBHOOK_SECRET whsec_****"},
		{"secret too short", map[string]string{"BILLING_APP_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, false, "at least 24 random bytes"},
		{"live url without secret", map[string]string{"BILLING_APP_WEBHOOK_URL": "https://app.example.com/"}, true, "BILLING_APP_WEBHOOK_SECRET is required with BILLING_APP_WEBHOOK_URL in live mode"},
		{"live url with secret", map[string]string{"BILLING_APP_WEBHOOK_URL": "https://app.example.com/", "BILLING_APP_WEBHOOK_SECRET": good}, true, ""},
		{"types", map[string]string{"BILLING_APP_WEBHOOK_TYPES": "invoice.paid, credits.low"}, false, ""},
		{"unknown type", map[string]string{"BILLING_APP_WEBHOOK_TYPES": "invoice.paid,invoice.created"}, false, `BILLING_APP_WEBHOOK_TYPES "invoice.created": not a message type`},
		{"credits low", map[string]string{"BILLING_CREDITS_LOW": "100"}, false, ""},
		{"credits low negative", map[string]string{"BILLING_CREDITS_LOW": "-1"}, false, `BILLING_CREDITS_LOW "-1": want a whole number`},
		{"credits low over max", map[string]string{"BILLING_CREDITS_LOW": "1000000000000000001"}, false, "BILLING_CREDITS_LOW"},
		{"retention days", map[string]string{"BILLING_FEED_RETENTION": "7d"}, false, ""},
		{"retention too short", map[string]string{"BILLING_FEED_RETENTION": "71h"}, false, `BILLING_FEED_RETENTION "71h": want a duration of at least 3d`},
		{"retention word", map[string]string{"BILLING_FEED_RETENTION": "forever"}, false, "BILLING_FEED_RETENTION"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.live {
				for k, v := range live {
					tt.env[k] = v
				}
			}
			_, err := load(t, tt.env, "")
			if tt.err == "" && err != nil {
				t.Errorf("err = %v, want none", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") || err != nil && strings.Contains(err.Error(), "ILPZ") {
				t.Errorf("a secret in the error: %v", err)
			}
		})
	}
	c, err := load(t, map[string]string{"BILLING_APP_WEBHOOK_URL": "https://a.example.com/h,https://u:pw@b.example.com/h",
		"BILLING_APP_WEBHOOK_SECRET": good, "BILLING_APP_WEBHOOK_TYPES": "invoice.paid", "BILLING_CREDITS_LOW": "50",
		"BILLING_FEED_RETENTION": "72h"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AppWebhookURLs) != 2 || c.AppWebhookSecret != good || !slices.Equal(c.AppWebhookTypes, []string{"invoice.paid"}) ||
		c.CreditsLow != 50 || c.FeedRetention != 72*time.Hour {
		t.Errorf("config = %+v", c)
	}
	if s := c.Secrets(); !slices.Contains(s, good) || !slices.Contains(s, "pw") {
		t.Errorf("Secrets() = %q lacks the app webhook secret or the URL's password", s)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), good[6:]) || strings.Contains(buf.String(), ":pw@") {
		t.Errorf("a secret was logged: %s", buf.String())
	}
	if c, err := load(t, map[string]string{}, ""); err != nil || c.FeedRetention != billing.DefaultFeedRetention || c.CreditsLow != 0 {
		t.Errorf("defaults: retention %v, credits low %d (%v); want 30 days, 0", c.FeedRetention, c.CreditsLow, err)
	}
}

// .env.example copied as it is starts nothing: its placeholders are refused
// by name.
func TestEnvExampleAsItIsIsRefused(t *testing.T) {
	_, err := config.Load(func(string) string { return "" }, filepath.Join("..", ".env.example"))
	if err == nil || !strings.Contains(err.Error(), ".env.example's placeholder") {
		t.Fatalf("Load(.env.example) = %v, want a placeholder refused", err)
	}
}
