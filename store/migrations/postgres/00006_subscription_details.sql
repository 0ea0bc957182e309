-- +goose Up
-- What an app shows of a subscription, changes and its entitlements need:
-- the plan item (its id, quantity and billing interval), a scheduled cancellation, the
-- trial's start, the first discount, and since when it is past due (the
-- entitlements' grace counts from it). Rows of earlier releases take their
-- values from the subscription's next event; a past-due one counts from its
-- last event.
ALTER TABLE subscriptions ADD COLUMN item_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN price_interval TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN price_interval_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN cancel_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN trial_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN discount_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN discount_coupon TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN discount_percent_off DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN discount_amount_off BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN discount_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN discount_ends_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN past_due_since BIGINT NOT NULL DEFAULT 0;
-- The grant that paid the current period, and its start: the monthly grants
-- of a yearly period are keyed by it.
ALTER TABLE subscriptions ADD COLUMN paid_period_key TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN paid_period_start BIGINT NOT NULL DEFAULT 0;
-- The monthly_credits the current paid period was granted at (0: not known),
-- which an upgrade in it tops up to the new plan's.
ALTER TABLE subscriptions ADD COLUMN period_credits BIGINT NOT NULL DEFAULT 0;
UPDATE subscriptions SET past_due_since = last_event_at WHERE status = 'past_due';
-- A workspace's current lot is its live subscription's latest paid period,
-- when it has one live subscription: the monthly grants of a yearly period
-- stored before this release continue from it.
UPDATE subscriptions SET
    paid_period_key = (SELECT w.sub_lot_key FROM workspaces w WHERE w.id = subscriptions.workspace_id),
    paid_period_start = (SELECT w.sub_lot_start FROM workspaces w WHERE w.id = subscriptions.workspace_id)
WHERE status NOT IN ('', 'canceled', 'incomplete_expired')
    AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = subscriptions.workspace_id AND w.sub_lot_key <> '')
    AND (SELECT COUNT(*) FROM subscriptions o WHERE o.workspace_id = subscriptions.workspace_id
        AND o.status NOT IN ('', 'canceled', 'incomplete_expired')) = 1;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN period_credits;
ALTER TABLE subscriptions DROP COLUMN paid_period_start;
ALTER TABLE subscriptions DROP COLUMN paid_period_key;
ALTER TABLE subscriptions DROP COLUMN past_due_since;
ALTER TABLE subscriptions DROP COLUMN discount_ends_at;
ALTER TABLE subscriptions DROP COLUMN discount_currency;
ALTER TABLE subscriptions DROP COLUMN discount_amount_off;
ALTER TABLE subscriptions DROP COLUMN discount_percent_off;
ALTER TABLE subscriptions DROP COLUMN discount_coupon;
ALTER TABLE subscriptions DROP COLUMN discount_id;
ALTER TABLE subscriptions DROP COLUMN trial_start;
ALTER TABLE subscriptions DROP COLUMN cancel_at;
ALTER TABLE subscriptions DROP COLUMN price_interval_count;
ALTER TABLE subscriptions DROP COLUMN price_interval;
ALTER TABLE subscriptions DROP COLUMN quantity;
ALTER TABLE subscriptions DROP COLUMN item_id;
