package store

import (
	"context"

	"github.com/acme/billing"
)

const subscriptionColumns = `id, customer_id, COALESCE(workspace_id, ''), status, price_id, plan_id,
	item_id, quantity, price_interval, price_interval_count,
	current_period_start, current_period_end, cancel_at_period_end, cancel_at, canceled_at, ended_at,
	trial_start, trial_end, discount_id, discount_coupon, discount_percent_off, discount_amount_off,
	discount_currency, discount_ends_at, past_due_since, paid_period_key, paid_period_start, period_credits,
	start_date, first_period_paid, last_event_at, pause_behavior, pause_resumes_at, pause_starts_at,
	action_invoice_id, action_url, discount_event_at`

func scanSubscription(s scanner) (*billing.Subscription, error) {
	var sub billing.Subscription
	var d billing.Discount
	var p billing.Pause
	var start, end, cancelAt, canceled, ended, trialStart, trial, discountEnds, pastDue, paidStart, startDate, last int64
	var resumes, pauseStarts, discountAt int64
	err := s.Scan(&sub.ID, &sub.CustomerID, &sub.WorkspaceID, &sub.Status, &sub.PriceID, &sub.PlanID,
		&sub.ItemID, &sub.Quantity, &sub.Interval, &sub.IntervalCount,
		&start, &end, &sub.CancelAtPeriodEnd, &cancelAt, &canceled, &ended,
		&trialStart, &trial, &d.ID, &d.Coupon, &d.PercentOff, &d.AmountOff,
		&d.Currency, &discountEnds, &pastDue, &sub.PaidPeriodKey, &paidStart, &sub.PeriodCredits, &startDate, &sub.FirstPeriodPaid, &last,
		&p.Behavior, &resumes, &pauseStarts, &sub.ActionInvoiceID, &sub.ActionURL, &discountAt)
	if err != nil {
		return nil, err
	}
	sub.CurrentPeriodStart, sub.CurrentPeriodEnd = billing.Unix(start), billing.Unix(end)
	sub.CancelAt, sub.CanceledAt, sub.EndedAt = billing.Unix(cancelAt), billing.Unix(canceled), billing.Unix(ended)
	sub.TrialStart, sub.TrialEnd = billing.Unix(trialStart), billing.Unix(trial)
	sub.PastDueSince, sub.PaidPeriodStart = billing.Unix(pastDue), billing.Unix(paidStart)
	sub.StartDate, sub.LastEventAt = billing.Unix(startDate), billing.Unix(last)
	sub.Discount, sub.DiscountEventAt = discountOrNil(d, discountEnds), billing.Unix(discountAt)
	if p.Behavior != "" {
		p.ResumesAt, p.StartsAt = billing.Unix(resumes), billing.Unix(pauseStarts)
		sub.Pause = &p
	}
	return &sub, nil
}

// MultiMonthSubscriptions implements billing.Store.
func (db *DB) MultiMonthSubscriptions(ctx context.Context) ([]billing.Subscription, error) {
	return queryAll(ctx, db.read, subscriptionRow, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE paid_period_key <> '' AND status NOT IN ('canceled', 'incomplete_expired')
			AND (price_interval = 'year' OR (price_interval = 'month' AND price_interval_count > 1))
		ORDER BY id`)
}

// Subscriptions implements billing.Store: newest first, by when each
// started; one whose status no event has told yet is left out.
func (db *DB) Subscriptions(ctx context.Context, workspaceID string) ([]billing.Subscription, error) {
	return queryAll(ctx, db.read, subscriptionRow, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE workspace_id = $1 AND status <> ''
		ORDER BY start_date DESC, current_period_end DESC, id`, workspaceID)
}

// subscriptionRow scans a subscription for queryAll.
func subscriptionRow(s scanner) (billing.Subscription, error) {
	sub, err := scanSubscription(s)
	if err != nil {
		return billing.Subscription{}, err
	}
	return *sub, nil
}

func (t *tx) Subscription(ctx context.Context, id string) (*billing.Subscription, error) {
	s, err := scanSubscription(t.queryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`, id))
	return s, notFound(err, "subscription", id)
}

func (t *tx) SaveSubscription(ctx context.Context, s *billing.Subscription) error {
	return t.run(ctx, saveSubscription(s))
}

func saveSubscription(s *billing.Subscription) stmt {
	return subscriptionsTable.one(subscriptionValues(s)...)
}
