package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/acme/billing/admin"
	"github.com/acme/billing/api"
	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/config"
	"github.com/acme/billing/email"
	"github.com/acme/billing/metrics"
	"github.com/acme/billing/webhook"
)

func serve(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve")
	addr := fs.String("addr", "", "listen address (default BILLING_ADDR or :8000)")
	logFormat := fs.String("log-format", "", "text or json (default: text on a terminal, else json)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	a, err := open(ctx, env, *logFormat, false)
	if err != nil {
		return err
	}
	defer a.db.Close()
	// The background work (readiness, monthly grants) ends before the
	// database closes.
	ctx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	if err := a.db.CheckWritable(ctx); err != nil {
		return err
	}
	if *addr != "" {
		a.cfg.Addr = *addr
		if err := a.cfg.CheckAppWebhookLoop(); err != nil {
			return err
		}
	}
	secrets, devWebhook, err := a.webhookSecrets(ctx)
	if err != nil {
		return err
	}
	if err := a.db.CheckFeedClock(ctx); err != nil {
		return err
	}
	key, devKey, err := a.apiKey(ctx)
	if err != nil {
		return err
	}
	m := metrics.New(a.db)
	a.svc.OnBatch = m.ObserveBatch
	var deliveries appwebhook.Store // nil: the dashboard says how to set app webhooks up
	if len(a.cfg.AppWebhookURLs) > 0 {
		deliveries = a.db
		m.WatchAppWebhooks(a.db)
	}
	dashboard, err := admin.New(&admin.Handler{Service: a.svc, Store: a.db, APIKey: key, Logger: a.logger,
		EmailEnabled: a.cfg.SMTPURL != "", AppWebhooks: deliveries, Mode: a.cfg.Mode})
	if err != nil {
		return err
	}
	srv := &api.Server{
		Service:  a.svc,
		Verifier: &webhook.Verifier{Secrets: secrets, Tolerance: a.cfg.Tolerance, Mode: a.cfg.Mode},
		APIKey:   key,
		Logger:   a.logger,
		Ready:    a.db.WatchReadiness(ctx, readyEvery, a.logger).Ready,
		Observer: m,
		Metrics:  m.Handler(),
		Admin:    dashboard,
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	// Stopped after the server: requests in flight finish first.
	defer a.svc.StartBatching(a.db.Writers(), maxBatch)()
	a.logger.Info("Starting billing", "config", a.cfg, "listen", ln.Addr().String(), "plans", len(a.cfg.Plans.List()))
	if len(a.cfg.Plans.List()) == 0 {
		a.logger.Warn("No plans: subscriptions get no plan, no entitlement and no credits. Set BILLING_PLANS to a plans file (the repository's plans.json is an example)",
			"looked_for", cmp.Or(a.cfg.PlansPath, config.DefaultPlansPath))
	}
	if devWebhook {
		// Printed in full, as `stripe listen` prints its own: it exists only
		// for local testing and `billing trigger` reads it from the database.
		fmt.Fprintf(env.Stdout, "Ready! Your webhook signing secret is %s (^C to quit)\n", secrets[0])
	}
	if devKey {
		fmt.Fprintf(env.Stdout, "Development API key (set BILLING_API_KEY to choose your own): %s\n", key)
	}
	fmt.Fprintf(env.Stdout, "Listening on http://%s%s (%s mode)\n", ln.Addr(), api.WebhookPath, a.cfg.Mode)
	fmt.Fprintf(env.Stdout, "Dashboard on http://%s%s (log in with the API key)\n", ln.Addr(), admin.Prefix)
	stopMail, err := a.startEmail(ctx)
	if err != nil {
		return err
	}
	defer stopMail()
	defer a.grantDueMonths(ctx, monthlyGrantsEvery)()
	defer a.checkEntitlements(ctx, entitlementsEvery)()
	defer a.pruneMessages(ctx, pruneEvery)()
	stopAppWebhooks, err := a.startAppWebhooks(ctx, env.Stdout, m)
	if err != nil {
		return err
	}
	defer stopAppWebhooks()
	defer a.refreshPrices(ctx)()
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	return run(ctx, ln, m.Middleware(srv.Handler()), a.cfg.MaxConns, m, a.logger)
}

// startEmail starts the outbox's sender when SMTP is configured. The
// returned stop waits for an attempt in progress to be recorded.
func (a *app) startEmail(ctx context.Context) (stop func(), err error) {
	if a.cfg.SMTPURL == "" {
		a.logger.Info("SMTP_URL is not set: notifications stay in the outbox, listed on /admin/outbox")
		return func() {}, nil
	}
	mailer, err := email.NewMailer(a.cfg.SMTPURL, a.cfg.EmailFrom, 30*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&email.Sender{Outbox: a.db, Mailer: mailer, Logger: a.logger, Interval: a.cfg.EmailInterval}).Run(ctx)
	}()
	a.logger.Info("Sending notifications", "smtp", mailer.Server(), "every", a.cfg.EmailInterval)
	return func() { cancel(); <-done }, nil
}

// How often serve runs its periodic work: a monthly grant, or an
// entitlement change caused by time (a past-due grace running out), is at
// most a minute late.
const (
	monthlyGrantsEvery = time.Minute
	entitlementsEvery  = time.Minute
	pruneEvery         = time.Hour
)

// grantDueMonths makes the monthly grants of yearly periods
// (billing.Service.GrantDueMonths) now and then every interval.
func (a *app) grantDueMonths(ctx context.Context, every time.Duration) (stop func()) {
	return a.periodically(ctx, every, func(ctx context.Context) {
		if n, err := a.svc.GrantDueMonths(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("Monthly grants failed; retried next minute", "error", err)
		} else if n > 0 {
			a.logger.Info("Granted the monthly credits of yearly periods", "grants", n)
		}
	})
}

// checkEntitlements tells the app of the entitlements time changed
// (billing.Service.CheckEntitlements).
func (a *app) checkEntitlements(ctx context.Context, every time.Duration) (stop func()) {
	return a.periodically(ctx, every, func(ctx context.Context) {
		if _, err := a.svc.CheckEntitlements(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("Entitlement checks failed; retried next minute", "error", err)
		}
	})
}

// pruneMessages deletes the app's messages older than the feed's retention.
func (a *app) pruneMessages(ctx context.Context, every time.Duration) (stop func()) {
	return a.periodically(ctx, every, func(ctx context.Context) {
		n, err := a.db.PruneMessages(ctx, time.Now().Add(-a.cfg.FeedRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Error("Pruning the app's messages failed; retried next hour", "error", err)
		case n > 0:
			a.logger.Info("Pruned the app's messages past BILLING_FEED_RETENTION", "messages", n, "retention", a.cfg.FeedRetention)
		}
	})
}

// periodically runs fn now and then every interval, in the background; the
// returned stop ends it and waits for a run under way.
func (a *app) periodically(ctx context.Context, every time.Duration, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// startAppWebhooks starts the app webhooks' sender when an endpoint is
// configured; the returned stop waits for an attempt under way.
func (a *app) startAppWebhooks(ctx context.Context, out io.Writer, obs appwebhook.Observer) (stop func(), err error) {
	if len(a.cfg.AppWebhookURLs) == 0 {
		return func() {}, nil
	}
	secret, dev, err := a.appWebhookSecret(ctx)
	if err != nil {
		return nil, err
	}
	if dev {
		// Printed in full like the Stripe development secret: the app
		// under development verifies with it.
		fmt.Fprintf(out, "App webhooks to %s, signed with %s\n", strings.Join(a.cfg.AppWebhookURLs, ", "), secret)
	}
	s := &appwebhook.Sender{Store: a.db, URLs: a.cfg.AppWebhookURLs, Types: a.cfg.AppWebhookTypes, Secret: secret,
		Client: appwebhook.NewClient(), Logger: a.logger, Observer: obs}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	a.logger.Info("Sending app webhooks", "endpoints", len(a.cfg.AppWebhookURLs), "types", a.cfg.AppWebhookTypes)
	return func() { cancel(); <-done }, nil
}

// refreshPrices refreshes the price cache in the background, so that
// neither a slow nor an unreachable Stripe delays or fails the start. The
// returned stop cancels it and waits for it to end.
func (a *app) refreshPrices(ctx context.Context) (stop func()) {
	if a.stripe == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err := a.svc.RefreshPrices(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			a.logger.Warn("Could not fetch the plans' prices from Stripe; GET /api/billing/plans answers from the cache",
				"error", err)
		default:
			a.logger.Info("Fetched the plans' prices from Stripe", "prices", n)
		}
	}()
	return func() { cancel(); <-done }
}

// readyEvery is how often serve probes that the database takes writes, for
// /readyz to answer from.
const readyEvery = 2 * time.Second

// maxBatch bounds the events one group commit takes.
const maxBatch = 64

// run serves at most maxConns connections until ctx ends or SIGINT/SIGTERM,
// then lets requests in flight finish, so no webhook is cut off between its
// commit and its answer. What net/http itself logs (a panic, a bad TLS
// handshake) goes to logger, masked like every other line.
func run(ctx context.Context, ln net.Listener, h http.Handler, maxConns int, obs api.ConnObserver, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hs := api.NewHTTPServer(h)
	hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	ln = api.LimitConns(hs, ln, maxConns, obs)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func migrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate")
	return withApp(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		fmt.Fprintf(env.Stdout, "Database %s is up to date.\n", a.db.Name())
		return nil
	})
}
