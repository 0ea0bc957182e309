package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/acme/billing"
	"github.com/acme/billing/stripeapi"
)

// errDrift makes sync --check exit 1.
var errDrift = errors.New("the database differs from Stripe")

func syncCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "sync")
	since := fs.String("since", "", "only objects created on or after this date (YYYY-MM-DD)")
	workspace := fs.String("workspace", "", "only this workspace's Stripe customer and its objects")
	check := fs.Bool("check", false, "report drift without changing anything; exit 1 when there is drift")
	return withApp(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		c, err := a.stripeClient()
		if err != nil {
			return err
		}
		var f stripeapi.SyncFilter
		if *since != "" {
			if f.Since, err = time.Parse(time.DateOnly, *since); err != nil {
				return fmt.Errorf("--since %q: want a date such as 2026-01-31", *since)
			}
		}
		if *workspace != "" {
			ws, err := a.db.Workspace(ctx, *workspace)
			if err != nil {
				return err
			}
			if ws.StripeCustomerID == "" {
				return fmt.Errorf("workspace %q has no Stripe customer yet: nothing to sync", *workspace)
			}
			f.CustomerID = ws.StripeCustomerID
		}
		var pricesErr error
		if !*check {
			pricesErr = refreshPricesNow(ctx, env, a)
		}
		tally := newSyncTally(env)
		started := time.Now()
		err = c.Objects(ctx, f, func(obj any) error {
			r, err := a.svc.Sync(ctx, obj, started, *check)
			if err != nil {
				return err
			}
			tally.add(obj, r)
			return nil
		})
		tally.done()
		if err != nil {
			return err
		}
		tally.print(*check)
		if *check && tally.drift() {
			return errDrift
		}
		return pricesErr
	})
}

// refreshPricesNow refreshes the price cache that every running serve
// answers GET /api/billing/plans from. Its failure is returned for the
// exit code only after the objects are synced: a bad price id in the plans
// file must not hold up the recovery of lost webhooks.
func refreshPricesNow(ctx context.Context, env *Env, a *app) error {
	n, err := a.svc.RefreshPrices(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "Prices not refreshed: %s\n", env.redactor.String(err.Error()))
		return errors.New("the plans' prices were not refreshed (see above)")
	}
	fmt.Fprintf(env.Stdout, "Fetched %d prices of %d plans from Stripe.\n", n, len(a.cfg.Plans.List()))
	return nil
}

// syncTally counts outcomes by kind of object and shows progress on a terminal.
type syncTally struct {
	env    *Env
	tty    bool
	total  int
	counts map[string]map[billing.SyncOutcome]int
	// unlinked counts, by kind, objects no workspace is known for yet.
	unlinked map[string]int
}

var syncKinds = []string{"customers", "subscriptions", "invoices", "payments"}

func newSyncTally(env *Env) *syncTally {
	f, ok := env.Stderr.(*os.File)
	return &syncTally{env: env, tty: ok && isatty.IsTerminal(f.Fd()), counts: map[string]map[billing.SyncOutcome]int{},
		unlinked: map[string]int{}}
}

func kindOf(obj any) string {
	switch obj.(type) {
	case *billing.Customer:
		return "customers"
	case *billing.Subscription:
		return "subscriptions"
	case *billing.Invoice:
		return "invoices"
	}
	return "payments"
}

func (t *syncTally) add(obj any, r billing.SyncResult) {
	k := kindOf(obj)
	if t.counts[k] == nil {
		t.counts[k] = map[billing.SyncOutcome]int{}
	}
	t.counts[k][r.Outcome]++
	if r.Unlinked {
		t.unlinked[k]++
	}
	t.total++
	if t.tty {
		var parts []string
		for _, k := range syncKinds {
			n := 0
			for _, c := range t.counts[k] {
				n += c
			}
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
		bar := strings.Repeat("█", t.total%30) + strings.Repeat("░", 30-t.total%30)
		fmt.Fprintf(t.env.Stderr, "\rsyncing %s %s", bar, strings.Join(parts, ", "))
	}
}

func (t *syncTally) done() {
	if t.tty {
		fmt.Fprint(t.env.Stderr, "\r\033[K")
	}
}

func (t *syncTally) drift() bool {
	for _, c := range t.counts {
		if c[billing.SyncCreated]+c[billing.SyncUpdated] > 0 {
			return true
		}
	}
	return false
}

func (t *syncTally) print(check bool) {
	head := "Synced"
	if check {
		head = "Checked (nothing changed)"
	}
	fmt.Fprintf(t.env.Stdout, "%s %d objects from Stripe:\n", head, t.total)
	tw := tabwriter.NewWriter(t.env.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	verb := map[bool][4]string{false: {"created", "updated", "unchanged", "unlinked"},
		true: {"missing", "differ", "same", "unlinked"}}[check]
	fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t\n", verb[0], verb[1], verb[2], verb[3])
	for _, k := range syncKinds {
		c := t.counts[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", k, c[billing.SyncCreated], c[billing.SyncUpdated], c[billing.SyncUnchanged], t.unlinked[k])
	}
	_ = tw.Flush()
	if check && t.drift() {
		fmt.Fprintln(t.env.Stdout, "Drift: run billing sync to apply Stripe's state.")
	}
}
