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

// grantUpgrade tops the current period's credits up to the plan of price,
// when that plan grants more than the period was granted at (PeriodCredits,
// else the plan from): the difference, into the current lot, so it expires
// with it. It is keyed by the subscription, the new price and the period's
// end, so the subscription's event and the paid proration invoice that both
// report one upgrade grant once, and a downgrade then an upgrade back in one
// period grant nothing. paid says the proration was paid; otherwise only an
// active subscription is upgraded (a trial has its own credits, and a past-due
// one has not paid for the change).
func (a *applier) grantUpgrade(ctx context.Context, sub *Subscription, from, price string, periodStart, periodEnd, changedAt time.Time, paid bool) error {
	next, ok := a.Plans.ByPrice(price)
	level := sub.PeriodCredits
	if old, known := a.Plans.ByID(from); level == 0 && known {
		level = old.MonthlyCredits // a period paid before this was recorded
	}
	live := sub.Status == SubActive || (paid && sub.Status != SubCanceled && sub.Status != SubIncompleteExpired)
	if !ok || level == 0 || next.MonthlyCredits <= level || a.UpgradeCredits == UpgradeNone || !live {
		return nil
	}
	amount := next.MonthlyCredits - level
	if a.UpgradeCredits == UpgradeProrated {
		amount = prorate(amount, periodStart, periodEnd, changedAt)
	}
	if amount > 0 {
		err := a.grant(ctx, &Grant{
			Key:  joinKey("sub", sub.ID, "upgrade", price, strconv.FormatInt(periodEnd.Unix(), 10)),
			Kind: GrantAdd, Bucket: BucketSubscription, Amount: amount,
			WorkspaceID: sub.WorkspaceID, CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
			Reason: fmt.Sprintf("plan %s: upgrade within the period, from %d to %d credits a month", next.ID, level, next.MonthlyCredits),
		})
		if err != nil {
			return err
		}
	}
	return a.notePeriodCredits(ctx, sub, next.MonthlyCredits)
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
