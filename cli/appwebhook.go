package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/signal"
	"syscall"
	"time"

	"github.com/acme/billing/appwebhook"

	"github.com/acme/billing"
)

// appWebhooksListen prints each app message as it commits, from the feed,
// and with --forward-to posts it signed, as `stripe listen` does for
// Stripe's events.
func appWebhooksListen(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "app-webhooks listen")
	forward := fs.String("forward-to", "", "POST each message, signed per Standard Webhooks, to this http(s) URL")
	after := fs.String("after", "", "start after this feed cursor, 0-0 for every message kept (default: from now on)")
	types := fs.String("types", "", "only these message types, comma-separated")
	workspace := fs.String("workspace", "", "only this workspace's messages")
	secret := fs.String("secret", "", "signing secret, whsec_ + base64 (default BILLING_APP_WEBHOOK_SECRET, else the development one serve uses)")
	every := fs.Duration("interval", 500*time.Millisecond, "how often to read the feed")
	return withApp(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		q := billing.FeedQuery{After: *after, Limit: billing.MaxFeedLimit, WorkspaceID: *workspace}
		var err error
		if q.Types, err = billing.ParseMessageTypes("--types", *types); err != nil {
			return err
		}
		if *workspace != "" {
			if err := billing.ValidateWorkspaceID(*workspace); err != nil {
				return err
			}
		}
		if *every <= 0 {
			return billing.Errorf(billing.EINVALID, "--interval must be positive")
		}
		l := &listener{env: env, feed: a.db}
		if *forward != "" {
			if l.forward, err = a.forwarder(ctx, env, *forward, *secret); err != nil {
				return err
			}
		}
		if q.After == "" {
			if q.After, err = a.db.FeedEnd(ctx); err != nil {
				return err
			}
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return l.run(ctx, q, *every)
	})
}

// listener follows the feed from a cursor.
type listener struct {
	env     *Env
	feed    billing.Feed
	forward *forwarder // nil to only print
}

func (l *listener) run(ctx context.Context, q billing.FeedQuery, every time.Duration) error {
	start := "after " + q.After
	if q.After == "" {
		start = "from the start of the feed"
	}
	fmt.Fprintf(l.env.Stderr, "Ready! Listening for app messages %s (^C to quit)\n", start)
	if l.env.Ready != nil {
		l.env.Ready(q.After)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		page, err := l.feed.Feed(ctx, q)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			l.show(ctx, m)
		}
		q.After = page.Next
		if len(page.Messages) == q.Limit {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// show prints m's body as a line of stdout and a summary on stderr, then
// forwards it.
func (l *listener) show(ctx context.Context, m billing.Message) {
	fmt.Fprintf(l.env.Stdout, "%s\n", m.Body)
	fmt.Fprintf(l.env.Stderr, "%s  --> %s workspace %s #%d [%s]\n", m.CreatedAt.UTC().Format(time.RFC3339),
		m.Type, m.WorkspaceID, m.Sequence, m.ID)
	if l.forward == nil {
		return
	}
	status, err := l.forward.post(ctx, m)
	if err != nil {
		fmt.Fprintf(l.env.Stderr, "%s  <-- error: POST %s [%s]: %s\n", time.Now().UTC().Format(time.RFC3339),
			l.forward.url, m.ID, l.env.redactor.String(err.Error()))
		return
	}
	fmt.Fprintf(l.env.Stderr, "%s  <-- [%d] POST %s [%s]\n", time.Now().UTC().Format(time.RFC3339), status, l.forward.url, m.ID)
}

// forwarder posts messages signed as the service's own deliveries are.
type forwarder struct {
	url, secret string
	client      *http.Client
}

// forwarder checks the target and finds the secret: --secret, else the
// service's own (BILLING_APP_WEBHOOK_SECRET, else the development secret
// serve uses), which it prints when it is the development one so that the
// receiver can be configured with it.
func (a *app) forwarder(ctx context.Context, env *Env, target, secret string) (*forwarder, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, billing.Errorf(billing.EINVALID, "--forward-to %q: want an absolute http or https URL", target)
	}
	if secret != "" {
		if err := appwebhook.CheckSecret(secret); err != nil {
			return nil, billing.Errorf(billing.EINVALID, "--secret: %v", err)
		}
	} else {
		var dev bool
		if secret, dev, err = a.appWebhookSecret(ctx); err != nil {
			return nil, err
		}
		if dev {
			fmt.Fprintf(env.Stderr, "Your app webhook signing secret is %s (set BILLING_APP_WEBHOOK_SECRET to choose your own)\n", secret)
		}
	}
	return &forwarder{url: target, secret: secret, client: appwebhook.NewClient()}, nil
}

// post sends m once and returns the receiver's status.
func (f *forwarder) post(ctx context.Context, m billing.Message) (int, error) {
	req, err := appwebhook.NewRequest(ctx, f.url, f.secret, m.ID, m.Body, time.Now())
	if err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}
