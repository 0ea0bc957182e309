package cli

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/acme/billing"
)

// creditsAdjust appends an operator's correction to a workspace's ledger.
func creditsAdjust(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "credits adjust")
	reason := fs.String("reason", "", "why, kept in the ledger (required)")
	key := fs.String("key", "", "idempotency key of the correction (default: derived from amount, bucket and reason)")
	bucket := fs.String("bucket", string(billing.BucketPurchased), "purchased (never expire) or subscription (expire with the current period)")
	amount, rest := takeAmount(fs, args)
	return withApp(ctx, env, fs, rest, 1, func(a *app, pos []string) error {
		if amount == "" {
			return fmt.Errorf("AMOUNT is required: a signed whole number of credits, e.g. 500 or -500")
		}
		n, err := strconv.ParseInt(amount, 10, 64)
		if err != nil {
			return fmt.Errorf("AMOUNT %q: want a signed whole number of credits", amount)
		}
		adj, err := a.svc.AdjustCredits(ctx, billing.Adjustment{WorkspaceID: pos[0], Amount: n,
			Bucket: billing.Bucket(*bucket), Reason: *reason, Key: *key})
		if err != nil {
			return err
		}
		b := adj.Balance
		if adj.Replayed {
			fmt.Fprintf(env.Stdout, "Already applied (key %s, %s): nothing changed.\n", adj.Key, adj.CreatedAt.Format("2006-01-02 15:04:05 UTC"))
		} else {
			fmt.Fprintf(env.Stdout, "Adjusted workspace %s by %+d %s credits (key %s).\n", adj.WorkspaceID, adj.Amount, adj.Bucket, adj.Key)
		}
		fmt.Fprintf(env.Stdout, "Balance: %d (%d subscription, %d purchased).\n", b.Total(), b.Subscription, b.Purchased)
		return nil
	})
}

var signedWhole = regexp.MustCompile(`^[+-]?[0-9]+$`)

// takeAmount takes AMOUNT, the second positional argument, out of args, so
// that the flag package does not read "-500" as a flag. Arguments are read
// in order, skipping flags and their values; a signed number in the first
// position is the workspace (ids may be digits).
func takeAmount(fs *flag.FlagSet, args []string) (amount string, rest []string) {
	positional := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && !signedWhole.MatchString(a) {
			if awaitsValue(fs, a) {
				i++
			}
			continue
		}
		if positional++; positional == 2 {
			return a, append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
	}
	return "", args
}

// awaitsValue reports whether arg is a flag whose value is the next argument.
func awaitsValue(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if !strings.HasPrefix(arg, "-") || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}
