// Package config builds the service's configuration from defaults, an
// optional .env file and the environment (which wins), and validates it.
package config

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/joho/godotenv"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/redact"
)

// Config is the service's configuration.
type Config struct {
	StripeSecretKey      string
	StripePublishableKey string
	// WebhookSecrets are tried in turn, so one can be rotated without downtime.
	WebhookSecrets []string
	DatabaseURL    string
	Addr           string
	APIKey         string
	PlansPath      string
	Plans          *billing.Plans
	Tolerance      time.Duration
	Mode           billing.Mode
	// PostgreSQL pool: 0 takes the store's defaults.
	DBMaxOpenConns    int
	DBMaxIdleConns    int
	DBWriters         int
	DBConnMaxLifetime time.Duration
	DBTimeout         time.Duration
	// StripeAPIURL replaces Stripe's API address, e.g. with stripe-mock's.
	StripeAPIURL string
	// StripeTimeout bounds each call to Stripe, retries included.
	StripeTimeout time.Duration
	// CreditPrice is one purchased credit's price; zero disables purchases.
	CreditPrice billing.CreditPrice
	// StripeRefetch applies subscriptions and invoices as Stripe has them
	// now rather than as the event carried them.
	StripeRefetch bool
	// ConnectAccounts are the connected accounts whose events are applied.
	ConnectAccounts []string
	// SMTPURL and EmailFrom configure the email outbox's sender; without
	// them notifications stay queued (the dashboard lists them).
	SMTPURL   string
	EmailFrom string
	// OperatorEmail receives the operator's emails (a dispute opened).
	OperatorEmail string
	// EmailInterval is how often the outbox is polled.
	EmailInterval time.Duration
	// PastDueGrace is how long a past-due subscription stays entitled.
	PastDueGrace time.Duration
	// UpgradeCredits is what an upgrade mid-period grants.
	UpgradeCredits billing.UpgradeCredits
	// MaxConns caps the client connections served at once; it fits in
	// FileLimit, the process's open-file limit, with fileReserve to spare.
	MaxConns  int
	FileLimit uint64
	// AppWebhookURLs are the app's webhook endpoints; each gets every
	// message (of AppWebhookTypes, when set), signed with AppWebhookSecret.
	AppWebhookURLs   []string
	AppWebhookSecret string
	AppWebhookTypes  []string
	// CreditsLow is the balance under which credits.low is sent; 0 for never.
	CreditsLow int64
	// FeedRetention is how long the app's messages are kept.
	FeedRetention time.Duration
}

// Defaults.
const (
	DefaultAddr          = ":8000"
	DefaultDatabaseURL   = "sqlite:billing.db"
	DefaultPlansPath     = "plans.json"
	DefaultTolerance     = 300 * time.Second
	DefaultStripeTimeout = 10 * time.Second
	DefaultEmailInterval = 10 * time.Second
	// DefaultMaxConns is far more connections than Stripe and an app need,
	// and costs about 75 MB when all are idle (some 19 KB each).
	DefaultMaxConns = 4096
)

// fileReserve is how many file descriptors are kept for other than client
// connections: the SQLite files or the PostgreSQL pool (a
// DATABASE_MAX_OPEN_CONNS is kept on top), Stripe and SMTP connections,
// logs, the runtime.
const fileReserve = 256

// Load reads configuration from getenv, falling back to the .env file at
// dotenvPath (missing is fine), and validates it. Errors are one line.
func Load(getenv func(string) string, dotenvPath string) (*Config, error) {
	file := map[string]string{}
	if dotenvPath != "" {
		m, err := godotenv.Read(dotenvPath)
		switch {
		case err == nil:
			file = m
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%s: %w", dotenvPath, err)
		}
	}
	get := func(key string) string {
		if v := getenv(key); v != "" {
			return strings.TrimSpace(v)
		}
		return strings.TrimSpace(file[key])
	}
	if err := refusePlaceholders(get); err != nil {
		return nil, err
	}
	c := &Config{
		StripeSecretKey:      get("STRIPE_SECRET_KEY"),
		StripePublishableKey: get("STRIPE_PUBLISHABLE_KEY"),
		DatabaseURL:          get("DATABASE_URL"),
		Addr:                 get("BILLING_ADDR"),
		APIKey:               get("BILLING_API_KEY"),
		PlansPath:            get("BILLING_PLANS"),
		Tolerance:            DefaultTolerance,
	}
	c.WebhookSecrets = splitList(get("STRIPE_WEBHOOK_SECRET"))
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultDatabaseURL
	}
	if v := get("STRIPE_WEBHOOK_TOLERANCE"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return nil, fmt.Errorf("STRIPE_WEBHOOK_TOLERANCE %q: want a duration such as 300s or 5m", v)
		}
		c.Tolerance = d
	}
	if err := c.loadPool(get); err != nil {
		return nil, err
	}
	if err := c.loadStripe(get); err != nil {
		return nil, err
	}
	if err := c.loadEmail(get); err != nil {
		return nil, err
	}
	if err := c.loadEntitlements(get); err != nil {
		return nil, err
	}
	if err := c.loadMaxConns(get("BILLING_MAX_CONNS")); err != nil {
		return nil, err
	}
	if err := c.validateKeys(); err != nil {
		return nil, err
	}
	if err := c.loadAppWebhooks(get); err != nil {
		return nil, err
	}
	if err := c.CheckAppWebhookLoop(); err != nil {
		return nil, err
	}
	if err := c.loadPlans(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseSeconds reads "300", "300s", "5m" or "7d".
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("bad duration")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return d, nil
}

func (c *Config) loadPool(get func(string) string) error {
	for _, v := range []struct {
		key string
		dst *int
	}{{"DATABASE_MAX_OPEN_CONNS", &c.DBMaxOpenConns}, {"DATABASE_MAX_IDLE_CONNS", &c.DBMaxIdleConns},
		{"DATABASE_WRITERS", &c.DBWriters}} {
		if s := get(v.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				return fmt.Errorf("%s %q: want a whole number from 1 to 1000", v.key, s)
			}
			*v.dst = n
		}
	}
	if open := cmp.Or(c.DBMaxOpenConns, 10); c.DBWriters >= open {
		return fmt.Errorf("DATABASE_WRITERS %d: want fewer than DATABASE_MAX_OPEN_CONNS (%d), whose other connections serve reads", c.DBWriters, open)
	}
	for _, v := range []struct {
		key string
		dst *time.Duration
	}{{"DATABASE_CONN_MAX_LIFETIME", &c.DBConnMaxLifetime}, {"DATABASE_TIMEOUT", &c.DBTimeout}} {
		if s := get(v.key); s != "" {
			d, err := parseSeconds(s)
			if err != nil {
				return fmt.Errorf("%s %q: want a duration such as 5s or 30m", v.key, s)
			}
			*v.dst = d
		}
	}
	return nil
}

func (c *Config) loadStripe(get func(string) string) error {
	c.StripeTimeout = DefaultStripeTimeout
	if v := get("STRIPE_TIMEOUT"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return fmt.Errorf("STRIPE_TIMEOUT %q: want a duration such as 10s", v)
		}
		c.StripeTimeout = d
	}
	if v := get("STRIPE_API_URL"); v != "" {
		if _, ok := billing.WebURL(v); !ok {
			return fmt.Errorf("STRIPE_API_URL %q: want an http(s) URL such as http://127.0.0.1:12111", v)
		}
		c.StripeAPIURL = strings.TrimSuffix(v, "/")
	}
	switch v := get("STRIPE_REFETCH"); v {
	case "", "0", "false":
	case "1", "true":
		if c.StripeSecretKey == "" {
			return fmt.Errorf("STRIPE_REFETCH=%s needs STRIPE_SECRET_KEY to fetch objects from Stripe", v)
		}
		c.StripeRefetch = true
	default:
		return fmt.Errorf("STRIPE_REFETCH %q: want 1 or 0", v)
	}
	c.ConnectAccounts = splitList(get("STRIPE_CONNECT_ACCOUNTS"))
	for _, a := range c.ConnectAccounts {
		if !strings.HasPrefix(a, "acct_") || strings.ContainsFunc(a, unicode.IsSpace) {
			return fmt.Errorf("STRIPE_CONNECT_ACCOUNTS %q: want connected account ids such as acct_1Nv0FGQ9RKHgCVdK, separated by commas", a)
		}
	}
	if v := get("BILLING_CREDIT_PRICE"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1_000_000 {
			return fmt.Errorf("BILLING_CREDIT_PRICE %q: want one credit's price in the currency's minor unit (cents), 1 to 1000000", v)
		}
		c.CreditPrice = billing.CreditPrice{UnitAmount: n, Currency: "usd"}
	}
	if v := strings.ToLower(get("BILLING_CREDIT_CURRENCY")); v != "" {
		if len(v) != 3 || strings.IndexFunc(v, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
			return fmt.Errorf("BILLING_CREDIT_CURRENCY %q: want a three-letter ISO code such as usd", v)
		}
		c.CreditPrice.Currency = v
	}
	return nil
}

// loadEntitlements reads the grace of a past-due subscription and what an
// upgrade grants.
func (c *Config) loadEntitlements(get func(string) string) error {
	c.PastDueGrace = billing.DefaultPastDueGrace
	switch v := get("BILLING_PAST_DUE_GRACE"); v {
	case "":
	case "0":
		c.PastDueGrace = billing.NoGrace
	default:
		d, err := parseSeconds(v)
		if err != nil {
			return fmt.Errorf("BILLING_PAST_DUE_GRACE %q: want a duration such as 7d, 36h or 0", v)
		}
		c.PastDueGrace = d
	}
	p, err := billing.ParseUpgradeCredits(get("BILLING_UPGRADE_CREDITS"))
	if err != nil {
		return fmt.Errorf("BILLING_UPGRADE_CREDITS %w", err)
	}
	c.UpgradeCredits = p
	return nil
}

// loadEmail reads the outbox sender's settings; package email checks the
// URL and the address when it is built from them.
func (c *Config) loadEmail(get func(string) string) error {
	c.SMTPURL, c.EmailFrom, c.EmailInterval = get("SMTP_URL"), get("BILLING_EMAIL_FROM"), DefaultEmailInterval
	if c.SMTPURL != "" && c.EmailFrom == "" {
		return fmt.Errorf("SMTP_URL is set but BILLING_EMAIL_FROM is not: set the address emails come from, e.g. Billing <billing@example.com>")
	}
	if c.OperatorEmail = get("BILLING_OPERATOR_EMAIL"); c.OperatorEmail != "" {
		// One plain address: it becomes the To header.
		a, err := mail.ParseAddress(c.OperatorEmail)
		if err != nil || a.Name != "" || a.Address != c.OperatorEmail {
			return fmt.Errorf("BILLING_OPERATOR_EMAIL %q: want one address such as billing-ops@example.com", c.OperatorEmail)
		}
	}
	if v := get("BILLING_EMAIL_INTERVAL"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return fmt.Errorf("BILLING_EMAIL_INTERVAL %q: want a duration such as 10s", v)
		}
		c.EmailInterval = d
	}
	return nil
}

// loadMaxConns reads BILLING_MAX_CONNS and checks that it fits in the
// open-file limit, raised to its maximum first: each connection takes a
// descriptor, and a process that has none left cannot accept a delivery.
func (c *Config) loadMaxConns(v string) error {
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	c.FileLimit = limit
	reserve := fileReserve + uint64(c.DBMaxOpenConns)
	if limit <= reserve {
		return fmt.Errorf("the open-file limit of %d leaves no descriptors for connections after the %d kept for the database, Stripe and SMTP: raise it (ulimit -n, systemd LimitNOFILE=)", limit, reserve)
	}
	allowed := int(min(limit-reserve, 1<<30))
	c.MaxConns = min(DefaultMaxConns, allowed)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 1:
		return fmt.Errorf("BILLING_MAX_CONNS %q: want a whole number of connections, at least 1", v)
	case n > allowed:
		return fmt.Errorf("BILLING_MAX_CONNS %d: the open-file limit of %d allows at most %d connections, %d descriptors being kept for the database, Stripe and SMTP: raise the limit (ulimit -n, systemd LimitNOFILE=) or lower BILLING_MAX_CONNS", n, limit, allowed, reserve)
	}
	c.MaxConns = n
	return nil
}

func (c *Config) validateKeys() error {
	sk, pk := c.StripeSecretKey, c.StripePublishableKey
	if sk != "" && !hasAnyPrefix(sk, "sk_test_", "sk_live_", "rk_test_", "rk_live_") {
		return fmt.Errorf("STRIPE_SECRET_KEY %s: want a key starting sk_test_, sk_live_, rk_test_ or rk_live_", redact.Mask(sk))
	}
	if pk != "" && !hasAnyPrefix(pk, "pk_test_", "pk_live_") {
		return fmt.Errorf("STRIPE_PUBLISHABLE_KEY %s: want a key starting pk_test_ or pk_live_", redact.Mask(pk))
	}
	for _, s := range c.WebhookSecrets {
		if !strings.HasPrefix(s, "whsec_") || len(s) <= len("whsec_") {
			return fmt.Errorf("STRIPE_WEBHOOK_SECRET %s: want secrets starting whsec_, comma-separated", redact.Mask(s))
		}
	}
	c.Mode = billing.ModeTest
	if strings.Contains(sk, "_live_") {
		c.Mode = billing.ModeLive
	}
	if pk != "" && sk != "" && strings.Contains(pk, "_live_") != (c.Mode == billing.ModeLive) {
		return fmt.Errorf("STRIPE_SECRET_KEY %s and STRIPE_PUBLISHABLE_KEY %s are of different modes (test and live)", redact.Mask(sk), redact.Mask(pk))
	}
	if c.Mode == billing.ModeLive {
		switch {
		case len(c.WebhookSecrets) == 0:
			return fmt.Errorf("STRIPE_WEBHOOK_SECRET is required in live mode (the secret of your live webhook endpoint)")
		case c.APIKey == "":
			return fmt.Errorf("BILLING_API_KEY is required in live mode")
		}
	}
	if c.APIKey != "" && len(c.APIKey) < 16 {
		return fmt.Errorf("BILLING_API_KEY is shorter than 16 characters")
	}
	return nil
}

// loadAppWebhooks reads the app's webhooks, the credits.low threshold and
// the feed's retention; it runs after validateKeys, which sets the mode.
func (c *Config) loadAppWebhooks(get func(string) string) error {
	for _, u := range splitList(get("BILLING_APP_WEBHOOK_URL")) {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("BILLING_APP_WEBHOOK_URL %q: want absolute http(s) URLs such as https://app.example.com/billing/webhook, comma-separated", redact.DSN(u))
		}
		c.AppWebhookURLs = append(c.AppWebhookURLs, u)
	}
	c.AppWebhookSecret = get("BILLING_APP_WEBHOOK_SECRET")
	if s := c.AppWebhookSecret; s != "" {
		if err := appwebhook.CheckSecret(s); err != nil {
			return fmt.Errorf("BILLING_APP_WEBHOOK_SECRET %s: %w", redact.Mask(s), err)
		}
	}
	if c.Mode == billing.ModeLive && len(c.AppWebhookURLs) > 0 && c.AppWebhookSecret == "" {
		return fmt.Errorf("BILLING_APP_WEBHOOK_SECRET is required with BILLING_APP_WEBHOOK_URL in live mode: whsec_ and base64 (openssl rand -base64 32)")
	}
	for _, t := range splitList(get("BILLING_APP_WEBHOOK_TYPES")) {
		if !billing.IsMessageType(t) {
			return fmt.Errorf("BILLING_APP_WEBHOOK_TYPES %q: not a message type; want some of %s", t, strings.Join(billing.MessageTypes, ", "))
		}
		c.AppWebhookTypes = append(c.AppWebhookTypes, t)
	}
	if v := get("BILLING_CREDITS_LOW"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > billing.MaxBalance {
			return fmt.Errorf("BILLING_CREDITS_LOW %q: want a whole number of credits from 0 (never) to %d", v, int64(billing.MaxBalance))
		}
		c.CreditsLow = n
	}
	c.FeedRetention = billing.DefaultFeedRetention
	if v := get("BILLING_FEED_RETENTION"); v != "" {
		d, err := parseSeconds(v)
		// Shorter than the retries, a message would go before its delivery
		// is settled: the app would lose it from the feed while it waits.
		if err != nil || d < appwebhook.RetryFor {
			return fmt.Errorf("BILLING_FEED_RETENTION %q: want a duration of at least 3d (the app webhooks' retries), such as 30d or 72h", v)
		}
		c.FeedRetention = d
	}
	return nil
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CheckAppWebhookLoop refuses an app webhook URL that names this service
// (a loopback, unspecified or own host name, on Addr's port): it would
// send the service its own messages.
func (c *Config) CheckAppWebhookLoop() error {
	addrHost, addrPort, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("BILLING_ADDR %q: want host:port such as :8000", c.Addr)
	}
	hostname, _ := os.Hostname()
	for _, u := range c.AppWebhookURLs {
		p, _ := url.Parse(u)
		port := p.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[p.Scheme]
		}
		host := strings.ToLower(p.Hostname())
		ip := net.ParseIP(host)
		self := host == "localhost" || strings.HasSuffix(host, ".localhost") || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) ||
			strings.EqualFold(host, hostname) || (addrHost != "" && strings.EqualFold(host, addrHost))
		if self && port == addrPort {
			return fmt.Errorf("BILLING_APP_WEBHOOK_URL %q points at this service (BILLING_ADDR %s): the app's webhooks would come back to it", redact.DSN(u), c.Addr)
		}
	}
	return nil
}

func (c *Config) loadPlans() error {
	path := c.PlansPath
	if path == "" {
		path = DefaultPlansPath
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && c.PlansPath == "":
		c.Plans, _ = billing.NewPlans(nil)
		return nil
	case err != nil:
		return fmt.Errorf("BILLING_PLANS: %w", err)
	}
	plans, err := billing.ParsePlans(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.PlansPath, c.Plans = path, plans
	return nil
}

// placeholders are .env.example's values, which a copied file still has
// until they are filled in.
var placeholders = map[string]string{
	"STRIPE_SECRET_KEY":          "sk_test_...",
	"STRIPE_PUBLISHABLE_KEY":     "pk_test_...",
	"STRIPE_WEBHOOK_SECRET":      "whsec_...",
	"BILLING_API_KEY":            "change-me-to-a-long-random-string",
	"BILLING_APP_WEBHOOK_SECRET": "whsec_...",
}

// refusePlaceholders refuses a setting left at .env.example's placeholder,
// which would otherwise start a service that refuses every webhook or
// every Stripe call.
func refusePlaceholders(get func(string) string) error {
	for _, key := range slices.Sorted(maps.Keys(placeholders)) {
		if v := get(key); v != "" && v == placeholders[key] {
			return fmt.Errorf("%s is .env.example's placeholder %q: set the real value, or remove the line to leave it unset", key, v)
		}
	}
	return nil
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// LogValue logs the configuration with every secret masked.
func (c *Config) LogValue() slog.Value {
	secrets := make([]string, len(c.WebhookSecrets))
	for i, s := range c.WebhookSecrets {
		secrets[i] = redact.Mask(s)
	}
	return slog.GroupValue(
		slog.String("mode", string(c.Mode)),
		slog.String("addr", c.Addr),
		slog.String("database", redact.DSN(c.DatabaseURL)),
		slog.String("stripe_secret_key", maskIfSet(c.StripeSecretKey)),
		slog.String("stripe_publishable_key", maskIfSet(c.StripePublishableKey)),
		slog.String("webhook_secrets", strings.Join(secrets, ",")),
		slog.String("api_key", maskIfSet(c.APIKey)),
		slog.String("plans", c.PlansPath),
		slog.String("tolerance", c.Tolerance.String()),
		slog.Int("max_conns", c.MaxConns),
		slog.Uint64("file_limit", c.FileLimit),
		slog.String("smtp", redact.DSN(c.SMTPURL)),
		slog.String("email_from", c.EmailFrom),
		slog.String("operator_email", c.OperatorEmail),
		slog.Any("app_webhooks", redactURLs(c.AppWebhookURLs)),
		slog.String("app_webhook_secret", maskIfSet(c.AppWebhookSecret)),
		slog.Any("app_webhook_types", c.AppWebhookTypes),
		slog.Int64("credits_low", c.CreditsLow),
		slog.String("feed_retention", c.FeedRetention.String()),
	)
}

// redactURLs shows URLs without their user info and query values, where a
// token may be.
func redactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = appwebhook.Redact(u)
	}
	return out
}

func maskIfSet(s string) string {
	if s == "" {
		return "(unset)"
	}
	return redact.Mask(s)
}

// Secrets are the configured secret values, for redact.New: the Stripe
// keys, the webhook secrets, the API key and the passwords of DATABASE_URL
// and SMTP_URL, the latter also as SMTP's AUTH PLAIN and LOGIN send them
// (base64), which a server's reply may quote.
func (c *Config) Secrets() []string {
	s := append([]string{c.StripeSecretKey, c.StripePublishableKey, c.APIKey}, c.WebhookSecrets...)
	s = append(s, redact.Passwords(c.DatabaseURL)...)
	s = append(s, redact.Passwords(c.SMTPURL)...)
	if c.AppWebhookSecret != "" {
		s = append(s, c.AppWebhookSecret)
	}
	for _, u := range c.AppWebhookURLs {
		s = append(s, redact.Passwords(u)...)
	}
	if u, err := url.Parse(c.SMTPURL); err == nil && u.User != nil {
		if pass, ok := u.User.Password(); ok && pass != "" {
			b64 := base64.StdEncoding.EncodeToString
			s = append(s, b64([]byte(pass)), b64([]byte("\x00"+u.User.Username()+"\x00"+pass)))
		}
	}
	return s
}
