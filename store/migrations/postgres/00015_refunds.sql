-- +goose Up
-- Refunds as their own events tell them (refund.*, charge.refund.updated),
-- and on each payment the sum of those that may still go through or went
-- through: its amount_refunded is the larger of that and its charge's. A
-- refund's workspace is its payment's.
CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    payment_intent_id TEXT NOT NULL DEFAULT '',
    charge_id         TEXT NOT NULL DEFAULT '',
    amount            BIGINT NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL DEFAULT 0,
    last_event_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refunds_payment ON refunds (payment_intent_id);
CREATE INDEX refunds_charge ON refunds (charge_id);
ALTER TABLE payments ADD COLUMN refunds_total BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE payments DROP COLUMN refunds_total;
DROP TABLE refunds;
