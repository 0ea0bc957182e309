-- +goose Up
-- stripe_prices caches the plans' prices as Stripe has them, for
-- GET /api/billing/plans: serve refreshes it at start and billing sync on
-- demand, and every instance sharing the database answers from it. The
-- settings row stripe_prices_refresh records the last refresh's time and
-- error; a failed refresh leaves the rows as they were.
CREATE TABLE stripe_prices (
    id             TEXT PRIMARY KEY,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    interval       TEXT NOT NULL,
    interval_count BIGINT NOT NULL,
    active         INTEGER NOT NULL,
    fetched_at     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE stripe_prices;
DELETE FROM settings WHERE key = 'stripe_prices_refresh';
