package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/stripeapi"
	"github.com/acme/billing/webhook"
)

// stripeClient is the Stripe client a command needs, or an error that says
// how to configure it.
func (a *app) stripeClient() (*stripeapi.Client, error) {
	if a.stripe == nil {
		return nil, fmt.Errorf("this command calls Stripe: set STRIPE_SECRET_KEY")
	}
	return a.stripe, nil
}

func stripeSetupWebhook(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "stripe setup-webhook")
	endpoint := fs.String("url", "", "the public URL Stripe should post to, e.g. https://billing.example.com/api/billing/webhooks/stripe/")
	return withApp(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		u, ok := billing.WebURL(*endpoint)
		if !ok {
			return fmt.Errorf("--url %q: want the absolute URL of this service's webhook endpoint", *endpoint)
		}
		if u.Scheme != "https" && a.cfg.Mode == billing.ModeLive {
			return fmt.Errorf("--url %q: Stripe sends live events only to https URLs", *endpoint)
		}
		c, err := a.stripeClient()
		if err != nil {
			return err
		}
		we, err := c.SetupWebhook(ctx, *endpoint, billing.SubscribedEventTypes())
		if err != nil {
			return err
		}
		if !we.Created {
			fmt.Fprintf(env.Stdout, "Updated webhook endpoint %s at %s: %d event types (API version %s, fixed when it was created).\n",
				we.ID, we.URL, len(billing.SubscribedEventTypes()), we.APIVersion)
			fmt.Fprintln(env.Stdout, "Stripe shows an endpoint's signing secret only once; find it in the Dashboard under Developers → Webhooks.")
			return nil
		}
		fmt.Fprintf(env.Stdout, "Created webhook endpoint %s at %s: %d event types, API version %s.\n",
			we.ID, we.URL, len(billing.SubscribedEventTypes()), we.APIVersion)
		fmt.Fprintf(env.Stdout, "Its signing secret, shown only now: set STRIPE_WEBHOOK_SECRET=%s\n", we.Secret)
		return nil
	})
}

func eventsRecover(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "events recover")
	since := fs.Duration("since", 72*time.Hour, "how far back to look (Stripe retries for 3 days; its Events API keeps 30)")
	return withApp(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		if *since <= 0 || *since > 30*24*time.Hour {
			return fmt.Errorf("--since %v: want a duration up to 720h (30 days)", *since)
		}
		c, err := a.stripeClient()
		if err != nil {
			return err
		}
		counts := map[billing.EventStatus]int{}
		err = c.UndeliveredEvents(ctx, time.Now().Add(-*since), billing.SubscribedEventTypes(), func(payload []byte) error {
			e, err := webhook.Parse(payload, a.cfg.Mode)
			if err != nil {
				return fmt.Errorf("an event from Stripe's Events API: %w", err)
			}
			status, err := a.svc.Process(ctx, e, false)
			counts[status]++
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", e.ID, e.Type, status)
			if err != nil {
				fmt.Fprintf(env.Stderr, "%s: %s\n", e.ID, env.redactor.String(err.Error()))
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Recovered: %d applied, %d already stored, %d ignored, %d stale, %d failed.\n",
			counts[billing.StatusProcessed], counts[billing.StatusDuplicate], counts[billing.StatusIgnored],
			counts[billing.StatusStale], counts[billing.StatusFailed])
		if counts[billing.StatusFailed] > 0 {
			return fmt.Errorf("%d events failed; see billing events list --status failed", counts[billing.StatusFailed])
		}
		return nil
	})
}
