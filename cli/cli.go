// Package cli is the `billing` command: serve, migrate, workspaces, events
// and trigger. cmd/billing only calls Run.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/acme/billing"
	"github.com/acme/billing/config"
	"github.com/acme/billing/redact"
	"github.com/acme/billing/store"
	"github.com/acme/billing/stripeapi"
	"github.com/acme/billing/webhook"
)

// Env is what a run of the command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// DotEnv is the .env file to read; "" reads none.
	DotEnv string
	// Ready, when set, is told the address serve listens on, or the feed
	// cursor app-webhooks listen starts after.
	Ready func(addr string)
	// redactor masks the configured secrets in what the run prints to
	// Stderr itself; open sets it once the configuration is read.
	redactor *redact.Redactor
}

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "[--addr ADDR] [--log-format text|json]", "Run the webhook receiver and API (migrates first).", serve},
		{"migrate", "", "Apply database migrations.", migrate},
		{"workspaces create", "ID [--name NAME] [--email EMAIL]", "Create a workspace.", workspacesCreate},
		{"workspaces list", "[--status STATUS] [--limit N] [--offset N]", "List workspaces by id: customer, subscription, credits.", workspacesList},
		{"workspaces show", "ID", "Show a workspace: its customer, subscription, entitlement and credits.", workspacesShow},
		{"events list", "[--status STATUS] [--type TYPE] [--limit N]", "List stored webhook events, newest first.", eventsList},
		{"events show", "ID", "Show a stored event with its payload.", eventsShow},
		{"events replay", "ID", "Apply a stored event again (idempotent).", eventsReplay},
		{"events recover", "[--since 72h]", "Apply the events Stripe failed to deliver, from its Events API.", eventsRecover},
		{"credits adjust", "WORKSPACE AMOUNT --reason TEXT [--bucket purchased|subscription] [--key KEY]",
			"Correct a workspace's credits with a signed ledger entry (idempotent by key).", creditsAdjust},
		{"subscriptions swap", "WORKSPACE --plan PLAN | --price PRICE [--quantity N] [--proration create_prorations|always_invoice|none]",
			"Move a workspace's subscription to another plan or price at Stripe.", subscriptionsSwap},
		{"subscriptions cancel", "WORKSPACE [--now]", "Cancel a workspace's subscription at the end of its period, or now.", subscriptionsCancel},
		{"subscriptions resume", "WORKSPACE", "Undo a cancellation at period end that has not taken effect.", subscriptionsResume},
		{"subscriptions quantity", "WORKSPACE N", "Set the seats of a workspace's subscription.", subscriptionsQuantity},
		{"sync", "[--since DATE] [--workspace ID] [--check]", "Reconcile the database with Stripe's customers, subscriptions, invoices and payments.", syncCmd},
		{"app-webhooks listen", "[--forward-to URL] [--after CURSOR] [--types a,b] [--workspace ID] [--secret S]",
			"Print each app message as it commits, and optionally forward it signed.", appWebhooksListen},
		{"stripe setup-webhook", "--url URL", "Create or update the Stripe webhook endpoint for every handled event type.", stripeSetupWebhook},
		{"trigger scenario", "NAME [--workspace ID] [--url URL] [--secret S]",
			"Send a whole flow of events (subscribe, renew, …), printing the workspace after each.", triggerScenario},
		{"trigger", "EVENT_TYPE [--workspace ID] [--url URL] [--mode payment] [--api-version V] [--price PRICE]",
			"Send a realistic signed test event to a running service.", triggerCmd},
		{"admin sessions list", "", "List the dashboard's live sessions (no tokens).", sessionsList},
		{"admin sessions revoke", "ID | --all", "End a dashboard session, or all of them, on every instance.", sessionsRevoke},
		{"version", "", "Print the version, commit and Go version.", versionCmd},
		{"bench", "[--concurrency 1,16,64] [--workspaces N] [--database URL] [--url URL --secret S --api-key K]",
			"Measure webhook throughput and latency against the verify-only ceiling.", benchCmd},
	}
}

// errUsage asks Run to print the usage and exit 2.
var errUsage = errors.New("usage")

// Run runs the command line args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, env *Env) int {
	run := *env // open records the configured secrets here, for this run only
	env = &run
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		return boolCode(len(args) == 0)
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.name {
			continue
		}
		err := c.run(ctx, env, args[len(words):])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.Stderr, "usage: billing %s %s\n", c.name, c.args)
			return 2
		}
		fmt.Fprintf(env.Stderr, "billing %s: %s\n", c.name, env.redactor.String(err.Error()))
		return 1
	}
	if group := args[0] + " "; len(args) <= 2 && hasGroup(group) {
		// A group's commands, e.g. billing app-webhooks --help.
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
			groupUsage(env.Stdout, group)
			return 0
		}
		if len(args) == 1 {
			groupUsage(env.Stderr, group)
			return 2
		}
	}
	fmt.Fprintf(env.Stderr, "billing: unknown command %q\n\n", strings.Join(args, " "))
	usage(env.Stderr)
	return 2
}

func hasGroup(prefix string) bool {
	return slices.ContainsFunc(commands(), func(c command) bool { return strings.HasPrefix(c.name, prefix) })
}

func boolCode(fail bool) int {
	if fail {
		return 2
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "billing keeps a SaaS app's billing state in sync with Stripe.\n\nUsage:")
	listCommands(w, "")
	fmt.Fprintln(w, "\nRun billing COMMAND --help for its flags. Configuration: see README.md.")
}

// groupUsage is the usage of a group of commands, such as app-webhooks.
func groupUsage(w io.Writer, prefix string) {
	fmt.Fprintln(w, "Usage:")
	listCommands(w, prefix)
	fmt.Fprintln(w, "\nRun billing COMMAND --help for its flags.")
}

// listCommands lists the commands whose name starts with prefix.
func listCommands(w io.Writer, prefix string) {
	for _, c := range commands() {
		if strings.HasPrefix(c.name, prefix) {
			fmt.Fprintf(w, "  billing %-22s %s\n", c.name, c.help)
		}
	}
}

// newFlags returns a flag set whose --help prints the command's usage.
func newFlags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("billing "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	for _, c := range commands() {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(env.Stderr, "usage: billing %s %s\n\n%s\n", c.name, c.args, c.help)
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parse parses flags that may stand before, between or after the
// positional arguments, and checks their count; a negative positional
// leaves the count to the caller.
func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if positional >= 0 && len(pos) != positional {
		return nil, errUsage
	}
	return pos, nil
}

// app is what the commands share: configuration, database and service.
type app struct {
	cfg    *config.Config
	db     *store.DB
	svc    *billing.Service
	logger *slog.Logger
	// stripe calls Stripe's API; nil without STRIPE_SECRET_KEY.
	stripe *stripeapi.Client
}

// open reads the configuration and opens, migrates and wraps the database.
// readOnly lets a command that only reads run on a SQLite file this user
// cannot write, as SQLite allows; any other refuses such a file up front.
func open(ctx context.Context, env *Env, logFormat string, readOnly bool) (*app, error) {
	cfg, err := config.Load(env.Getenv, env.DotEnv)
	if err != nil {
		return nil, err
	}
	env.redactor = redact.New(cfg.Secrets()...)
	logger, err := newLogger(env.Stderr, logFormat, env.redactor)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DBMaxOpenConns, Writers: cfg.DBWriters,
		MaxIdleConns: cfg.DBMaxIdleConns, ConnMaxLifetime: cfg.DBConnMaxLifetime, Timeout: cfg.DBTimeout,
		Redactor: env.redactor, ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, logger); err != nil {
		db.Close()
		return nil, err
	}
	svc := &billing.Service{Store: db, Decoder: webhook.Decoder{}, Plans: cfg.Plans, Logger: logger, CreditPrice: cfg.CreditPrice,
		PastDueGrace: cfg.PastDueGrace, UpgradeCredits: cfg.UpgradeCredits, CreditsLow: cfg.CreditsLow,
		ConnectAccounts: cfg.ConnectAccounts, OperatorEmail: cfg.OperatorEmail}
	a := &app{cfg: cfg, db: db, svc: svc, logger: logger}
	if cfg.StripeSecretKey != "" {
		a.stripe = stripeapi.New(stripeapi.Options{Key: cfg.StripeSecretKey, URL: cfg.StripeAPIURL,
			Timeout: cfg.StripeTimeout, Logger: logger, Redactor: env.redactor})
		svc.Payments, svc.Thin = a.stripe, a.stripe
		if cfg.StripeRefetch {
			svc.Refetch = a.stripe
		}
	}
	return a, nil
}

// withApp parses a command's flags and positional arguments, then runs fn
// with the configuration, database and service open.
func withApp(ctx context.Context, env *Env, fs *flag.FlagSet, args []string, positional int, fn func(a *app, pos []string) error) error {
	return runApp(ctx, env, fs, args, positional, false, fn)
}

// withReader is withApp for a command that only reads.
func withReader(ctx context.Context, env *Env, fs *flag.FlagSet, args []string, positional int, fn func(a *app, pos []string) error) error {
	return runApp(ctx, env, fs, args, positional, true, fn)
}

func runApp(ctx context.Context, env *Env, fs *flag.FlagSet, args []string, positional int, readOnly bool, fn func(a *app, pos []string) error) error {
	pos, err := parse(fs, args, positional)
	if err != nil {
		return err
	}
	a, err := open(ctx, env, "", readOnly)
	if err != nil {
		return err
	}
	defer a.db.Close()
	return fn(a, pos)
}

// newLogger logs text on a terminal and JSON elsewhere, unless format says,
// every line passed through r.
func newLogger(w io.Writer, format string, r *redact.Redactor) (*slog.Logger, error) {
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(r.Handler(slog.NewTextHandler(w, nil))), nil
	case "json":
		return slog.New(r.Handler(slog.NewJSONHandler(w, nil))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// Settings under which generated development secrets are kept.
const (
	devWebhookSecretKey = "dev_webhook_secret"
	devAPIKeyKey        = "dev_api_key"
	devAppWebhookKey    = "dev_app_webhook_secret"
)

// devSecret returns the development secret stored under key, generating it
// on first use. Only test mode uses these.
func devSecret(ctx context.Context, db *store.DB, key, prefix string, encode func([]byte) string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return db.InitSetting(ctx, key, prefix+encode(b))
}

// webhookSecrets are the configured secrets, or in test mode the
// development secret.
func (a *app) webhookSecrets(ctx context.Context) ([]string, bool, error) {
	if len(a.cfg.WebhookSecrets) > 0 {
		return a.cfg.WebhookSecrets, false, nil
	}
	s, err := devSecret(ctx, a.db, devWebhookSecretKey, "whsec_", hex.EncodeToString)
	return []string{s}, true, err
}

func (a *app) apiKey(ctx context.Context) (string, bool, error) {
	if a.cfg.APIKey != "" {
		return a.cfg.APIKey, false, nil
	}
	s, err := devSecret(ctx, a.db, devAPIKeyKey, "bk_dev_", hex.EncodeToString)
	return s, true, err
}

// appWebhookSecret is the configured app webhook secret, or in test mode
// the development one: Standard Webhooks' whsec_ and base64.
func (a *app) appWebhookSecret(ctx context.Context) (string, bool, error) {
	if a.cfg.AppWebhookSecret != "" {
		return a.cfg.AppWebhookSecret, false, nil
	}
	s, err := devSecret(ctx, a.db, devAppWebhookKey, "whsec_", base64.StdEncoding.EncodeToString)
	return s, true, err
}
