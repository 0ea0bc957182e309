package store

import (
	"context"

	"github.com/acme/billing"
)

const subscriptionColumns = `id, customer_id, COALESCE(workspace_id, ''), status, price_id, plan_id,
	current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end,
	start_date, first_period_paid, last_event_at`

func scanSubscription(s scanner) (*billing.Subscription, error) {
	var sub billing.Subscription
	var start, end, canceled, ended, trial, startDate, last int64
	err := s.Scan(&sub.ID, &sub.CustomerID, &sub.WorkspaceID, &sub.Status, &sub.PriceID, &sub.PlanID,
		&start, &end, &sub.CancelAtPeriodEnd, &canceled, &ended, &trial, &startDate, &sub.FirstPeriodPaid, &last)
	if err != nil {
		return nil, err
	}
	sub.CurrentPeriodStart, sub.CurrentPeriodEnd = billing.Unix(start), billing.Unix(end)
	sub.CanceledAt, sub.EndedAt, sub.TrialEnd = billing.Unix(canceled), billing.Unix(ended), billing.Unix(trial)
	sub.StartDate, sub.LastEventAt = billing.Unix(startDate), billing.Unix(last)
	return &sub, nil
}

func (t *tx) Subscription(ctx context.Context, id string) (*billing.Subscription, error) {
	s, err := scanSubscription(t.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`, id))
	return s, notFound(err, "subscription", id)
}

func (t *tx) SaveSubscription(ctx context.Context, s *billing.Subscription) error {
	_, err := t.exec(ctx, `INSERT INTO subscriptions (id, customer_id, workspace_id, status, price_id, plan_id,
			current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end,
			start_date, first_period_paid, last_event_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, workspace_id = excluded.workspace_id,
			status = excluded.status, price_id = excluded.price_id, plan_id = excluded.plan_id,
			current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
			cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
			ended_at = excluded.ended_at, trial_end = excluded.trial_end, start_date = excluded.start_date, first_period_paid = excluded.first_period_paid,
			last_event_at = excluded.last_event_at`,
		s.ID, s.CustomerID, null(s.WorkspaceID), s.Status, s.PriceID, s.PlanID,
		sec(s.CurrentPeriodStart), sec(s.CurrentPeriodEnd), s.CancelAtPeriodEnd, sec(s.CanceledAt), sec(s.EndedAt),
		sec(s.TrialEnd), sec(s.StartDate), s.FirstPeriodPaid, sec(s.LastEventAt))
	return err
}
