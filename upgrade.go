package billing

import (
	"context"
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// UpgradeCredits says what an upgrade mid-period grants: the customer pays
// the new plan's price for the rest of the period (a proration), so the
// workspace gets the new plan's credits for it too.
type UpgradeCredits string

// Upgrade credit policies (BILLING_UPGRADE_CREDITS).
const (
	// UpgradeDifference grants the new plan's monthly_credits minus the old
	// one's, once per period.
	UpgradeDifference UpgradeCredits = "difference"
	// UpgradeProrated grants that difference scaled by the share of the
	// period left when the plan changed.
	UpgradeProrated UpgradeCredits = "prorated"
	// UpgradeNone grants nothing until the next period.
	UpgradeNone UpgradeCredits = "none"
)

// ParseUpgradeCredits reads a policy name; "" is UpgradeDifference.
func ParseUpgradeCredits(s string) (UpgradeCredits, error) {
	switch p := UpgradeCredits(s); p {
	case "":
		return UpgradeDifference, nil
	case UpgradeDifference, UpgradeProrated, UpgradeNone:
		return p, nil
	}
	return "", fmt.Errorf("%q: want difference, prorated or none", s)
}

// grantUpgrade grants what moving sub from plan from to the plan of price
// at changedAt gives, when that is an upgrade of a live subscription: the
// difference of the plans' monthly credits for the period ending at
// periodEnd, into the current lot, so it expires with it. It is keyed by
// the subscription, the new price and the period, so the subscription's
// event and the paid proration invoice that both report one upgrade grant
// once; a downgrade keeps the lot as it is.
func (a *applier) grantUpgrade(ctx context.Context, sub *Subscription, from, price string, periodStart, periodEnd, changedAt time.Time) error {
	old, okOld := a.Plans.ByID(from)
	next, okNew := a.Plans.ByPrice(price)
	if !okOld || !okNew || old.ID == next.ID || next.MonthlyCredits <= old.MonthlyCredits ||
		a.UpgradeCredits == UpgradeNone || (sub.Status != SubActive && sub.Status != SubTrialing) {
		return nil
	}
	amount := next.MonthlyCredits - old.MonthlyCredits
	if a.UpgradeCredits == UpgradeProrated {
		amount = prorate(amount, periodStart, periodEnd, changedAt)
	}
	if amount <= 0 {
		return nil
	}
	return a.grant(ctx, &Grant{
		Key:  joinKey("sub", sub.ID, "upgrade", price, strconv.FormatInt(periodEnd.Unix(), 10)),
		Kind: GrantAdd, Bucket: BucketSubscription, Amount: amount,
		WorkspaceID: sub.WorkspaceID, CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
		Reason: fmt.Sprintf("plan %s to %s: upgrade within the period", old.ID, next.ID),
	})
}

// prorate scales amount by the share of the period [start, end) left at
// at, rounded down.
func prorate(amount int64, start, end, at time.Time) int64 {
	total, left := end.Sub(start), end.Sub(at)
	switch {
	case total <= 0 || left >= total:
		return amount
	case left <= 0:
		return 0
	}
	hi, lo := bits.Mul64(uint64(amount), uint64(left))
	q, _ := bits.Div64(hi, lo, uint64(total))
	return int64(q)
}
