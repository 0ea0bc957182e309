package billing

import (
	"context"
	"errors"
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
// that began by now and has not been granted. It returns how many grants it
// made. A subscription whose grant fails is reported, and the others are
// still granted.
func (s *Service) GrantDueMonths(ctx context.Context) (int, error) {
	subs, err := s.Store.MultiMonthSubscriptions(ctx)
	if err != nil {
		return 0, fmt.Errorf("monthly grants: %w", err)
	}
	now, made := s.now(), 0
	var errs []error
	for _, sub := range subs {
		n, err := s.grantDueMonthsOf(ctx, &sub, now)
		made += n
		if err != nil {
			errs = append(errs, fmt.Errorf("monthly grants of subscription %s: %w", sub.ID, err))
		}
	}
	return made, errors.Join(errs...)
}

// grantDueMonthsOf grants the months of sub's paid period begun by now. The
// months are granted in order, so when the last one begun is in the ledger
// there is nothing to do, and nothing is written.
func (s *Service) grantDueMonthsOf(ctx context.Context, sub *Subscription, now time.Time) (int, error) {
	months, ok := sub.multiMonth()
	due := 0
	for ok && due+1 < months && !addMonths(sub.PaidPeriodStart, due+1).After(now) {
		due++
	}
	if due == 0 {
		return 0, nil
	}
	if done, err := s.Store.HasLedgerKey(ctx, monthKey(sub.PaidPeriodKey, due)); err != nil || done {
		return 0, err
	}
	made := 0
	for n := 1; n <= due; n++ {
		granted, err := s.grantMonth(ctx, sub, n)
		if err != nil {
			return made, fmt.Errorf("month %d: %w", n+1, err)
		}
		if granted {
			made++
		}
	}
	return made, nil
}

// grantMonth grants month n of the period listed's grant paid, unless done,
// or unless the subscription has ended, moved on to another paid period or
// belongs to no workspace yet.
func (s *Service) grantMonth(ctx context.Context, listed *Subscription, n int) (granted bool, err error) {
	key := monthKey(listed.PaidPeriodKey, n)
	err = s.inTx(ctx, func(tx Tx) error {
		granted = false
		// Locked as the subscription's events lock it, then read.
		if err := tx.Lock(ctx, listed.ID, listed.CustomerID); err != nil {
			return err
		}
		sub, err := tx.Subscription(ctx, listed.ID)
		if err != nil {
			return err
		}
		plan, ok := s.Plans.ByID(sub.PlanID)
		if !ok || sub.WorkspaceID == "" || sub.PaidPeriodKey != listed.PaidPeriodKey ||
			sub.Status == SubCanceled || sub.Status == SubIncompleteExpired {
			return nil
		}
		start := addMonths(sub.PaidPeriodStart, n)
		a := &applier{Service: s, tx: tx, e: &Event{Type: "monthly_grant", Created: start},
			log: s.logger().With("subscription", sub.ID, "month", n+1)}
		granted, err = a.grantOnce(ctx, &Grant{
			Key: key, Kind: GrantPeriod, Bucket: BucketSubscription, Amount: plan.MonthlyCredits, PeriodStart: start,
			WorkspaceID: sub.WorkspaceID, CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
			Reason: fmt.Sprintf("plan %s: month %d of the period", plan.ID, n+1),
		})
		if err != nil || !granted {
			return err
		}
		return a.notePeriodCredits(ctx, sub, plan.MonthlyCredits)
	})
	return granted, err
}
