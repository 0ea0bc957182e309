package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/acme/billing"
)

// The subscriptions commands change a workspace's subscription at Stripe,
// as the app API's subscription routes do, and print it as stored once
// Stripe's answer is applied.

func subscriptionsSwap(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "subscriptions swap")
	plan := fs.String("plan", "", "the plan to move to: the price of it the subscription has, else its first")
	price := fs.String("price", "", "a price a plan sells, instead of --plan")
	var quantity optionalCount
	fs.Var(&quantity, "quantity", "seats, 1 to 10000 (default: keep)")
	proration := fs.String("proration", billing.ProrationCreate, "create_prorations, always_invoice or none")
	return changeCommand(ctx, env, fs, args, 1, func(a *app, pos []string) (*billing.Subscription, error) {
		return a.svc.SwapSubscription(ctx, pos[0], "", billing.Swap{Plan: *plan, Price: *price, Quantity: quantity.n, Proration: *proration})
	})
}

func subscriptionsCancel(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "subscriptions cancel")
	now := fs.Bool("now", false, "end the subscription now instead of at the end of its period")
	return changeCommand(ctx, env, fs, args, 1, func(a *app, pos []string) (*billing.Subscription, error) {
		return a.svc.CancelSubscription(ctx, pos[0], "", !*now)
	})
}

func subscriptionsResume(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "subscriptions resume")
	return changeCommand(ctx, env, fs, args, 1, func(a *app, pos []string) (*billing.Subscription, error) {
		return a.svc.ResumeSubscription(ctx, pos[0], "")
	})
}

func subscriptionsQuantity(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "subscriptions quantity")
	return changeCommand(ctx, env, fs, args, 2, func(a *app, pos []string) (*billing.Subscription, error) {
		n, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("N %q: want a whole number of seats", pos[1])
		}
		return a.svc.SetSubscriptionQuantity(ctx, pos[0], "", n)
	})
}

// changeCommand runs a change with Stripe configured and prints the
// subscription it answers.
func changeCommand(ctx context.Context, env *Env, fs *flag.FlagSet, args []string, positional int,
	change func(a *app, pos []string) (*billing.Subscription, error)) error {
	return withApp(ctx, env, fs, args, positional, func(a *app, pos []string) error {
		if _, err := a.stripeClient(); err != nil {
			return err
		}
		sub, err := change(a, pos)
		if err != nil {
			return err
		}
		return printSubscription(env.Stdout, sub, a.svc.Entitle(sub))
	})
}

func printSubscription(w io.Writer, s *billing.Subscription, e billing.Entitlement) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cancels := "no"
	if s.CancelAtPeriodEnd {
		cancels = "at period end, " + when(s.CurrentPeriodEnd)
	} else if !s.CancelAt.IsZero() {
		cancels = when(s.CancelAt)
	}
	entitled, paused := "no", "no"
	if e.Entitled {
		entitled = "yes"
	}
	if p := s.Pause; p != nil {
		paused = p.Behavior + ", resumes " + when(p.ResumesAt)
	}
	for _, row := range [][2]string{
		{"subscription", s.ID}, {"workspace", s.WorkspaceID}, {"status", s.Status},
		{"plan", s.PlanID}, {"price", s.PriceID}, {"quantity", strconv.FormatInt(s.Quantity, 10)},
		{"period", when(s.CurrentPeriodStart) + " to " + when(s.CurrentPeriodEnd)},
		{"cancels", cancels}, {"paused", paused}, {"ended", when(s.EndedAt)}, {"entitled", entitled + " (" + e.Reason + ")"},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// when is a time for a person to read, "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// optionalCount is a flag whose value is nil until it is given.
type optionalCount struct{ n *int64 }

func (c *optionalCount) String() string {
	if c == nil || c.n == nil {
		return ""
	}
	return strconv.FormatInt(*c.n, 10)
}

func (c *optionalCount) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a whole number")
	}
	c.n = &n
	return nil
}
