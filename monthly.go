package billing

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Credits of periods longer than a month. A yearly price's payment pays
// twelve months: the grant that paid the period (the first period's, or
// the renewal's) gives the first month's monthly_credits, and each later
// month starts a lot of its own on its monthly anniversary, keyed
// <period grant>:month:<n>, expiring the month before as a renewal does.
// GrantDueMonths makes them, from a scheduler that any number of instances
// may run: every grant is keyed and taken under the subscription's lock,
// and a run after downtime makes every month that fell due meanwhile.

// multiMonth reports whether a subscription's price bills a year or several
// months, and how many months that is.
func (s *Subscription) multiMonth() (months int, ok bool) {
	n := int(max(s.IntervalCount, 1))
	switch {
	case s.Interval == "year":
		return 12 * n, true
	case s.Interval == "month" && n > 1:
		return n, true
	}
	return 0, false
}

// addMonths is t n months later on the same day, or the month's last day
// when it is shorter, as Stripe bills the 31st of a month.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// monthKey is the key of month n (from 1) of the period paid by grant key.
func monthKey(periodKey string, n int) string {
	return periodKey + ":month:" + strconv.Itoa(n)
}

// GrantDueMonths grants, for every subscription billed a year or several
// months at a time, the monthly credits of each month of its paid period
// that began by now and has not been granted. It returns how many grants
// it made.
func (s *Service) GrantDueMonths(ctx context.Context) (int, error) {
	subs, err := s.Store.MultiMonthSubscriptions(ctx)
	if err != nil {
		return 0, fmt.Errorf("monthly grants: %w", err)
	}
	now, made := s.now(), 0
	for _, sub := range subs {
		months, ok := sub.multiMonth()
		if !ok {
			continue
		}
		for n := 1; n < months && !addMonths(sub.PaidPeriodStart, n).After(now); n++ {
			granted, err := s.grantMonth(ctx, sub.ID, sub.PaidPeriodKey, n)
			if err != nil {
				return made, fmt.Errorf("monthly grant %d of subscription %s: %w", n, sub.ID, err)
			}
			if granted {
				made++
			}
		}
	}
	return made, nil
}

// grantMonth grants month n of the period the subscription's grant
// periodKey paid, unless done, or unless the subscription has ended or
// moved on to another paid period meanwhile.
func (s *Service) grantMonth(ctx context.Context, subID, periodKey string, n int) (granted bool, err error) {
	key := monthKey(periodKey, n)
	err = s.Store.InTx(ctx, func(tx Tx) error {
		granted = false
		sub, err := tx.Subscription(ctx, subID)
		if err != nil {
			return err
		}
		if err := tx.Lock(ctx, sub.ID, sub.CustomerID); err != nil {
			return err
		}
		plan, ok := s.Plans.ByID(sub.PlanID)
		if done, err := tx.HasLedgerKey(ctx, key); err != nil || done || !ok ||
			sub.PaidPeriodKey != periodKey || sub.Status == SubCanceled || sub.Status == SubIncompleteExpired {
			return err
		}
		start := addMonths(sub.PaidPeriodStart, n)
		a := &applier{Service: s, tx: tx, e: &Event{Type: "monthly_grant", Created: start},
			log: s.logger().With("subscription", sub.ID, "month", n)}
		granted = true
		return a.grant(ctx, &Grant{
			Key: key, Kind: GrantPeriod, Bucket: BucketSubscription, Amount: plan.MonthlyCredits, PeriodStart: start,
			WorkspaceID: sub.WorkspaceID, CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
			Reason: fmt.Sprintf("plan %s: month %d of the period", plan.ID, n+1),
		})
	})
	return granted, err
}
