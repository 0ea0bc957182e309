-- +goose Up
-- A customer's discount (customer.discount.*, or the customer's payload),
-- which applies to its subscriptions without one of their own; and on
-- customers and subscriptions the time of the last customer.discount.*
-- event applied, so that a late one, or an older payload, leaves a newer
-- discount alone.
ALTER TABLE subscriptions ADD COLUMN discount_event_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN discount_event_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN discount_id TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN discount_coupon TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN discount_percent_off DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN discount_amount_off BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN discount_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN discount_ends_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE customers DROP COLUMN discount_ends_at;
ALTER TABLE customers DROP COLUMN discount_currency;
ALTER TABLE customers DROP COLUMN discount_amount_off;
ALTER TABLE customers DROP COLUMN discount_percent_off;
ALTER TABLE customers DROP COLUMN discount_coupon;
ALTER TABLE customers DROP COLUMN discount_id;
ALTER TABLE customers DROP COLUMN discount_event_at;
ALTER TABLE subscriptions DROP COLUMN discount_event_at;
