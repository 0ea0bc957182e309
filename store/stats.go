package store

import (
	"context"

	"github.com/acme/billing"
)

// FailedEvents counts the stored events whose last attempt failed and that
// no retry or replay has applied since.
func (db *DB) FailedEvents(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE status = $1`, billing.StatusFailed).Scan(&n)
	return n, err
}

// OpenDisputes counts the disputes waiting for an answer or a decision.
func (db *DB) OpenDisputes(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM disputes WHERE status IN `+openDisputeStatuses).Scan(&n)
	return n, err
}

// CreditTotals sums the ledger: credits ever granted (positive entries) and
// ever spent by the app (consumptions: keys spend:…, and consume:… of the
// releases before keys were escaped). The ledger is append-only, so both
// only grow, as Prometheus counters must. They are summed as floating point,
// as Prometheus keeps them: an integer sum would fail on a ledger that an
// older release let grow past 64 bits, and the scrape would lose the series.
func (db *DB) CreditTotals(ctx context.Context) (granted, spent float64, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CAST(CASE WHEN amount > 0 THEN amount ELSE 0 END AS DOUBLE PRECISION)), 0),
			COALESCE(SUM(CAST(CASE WHEN amount < 0 AND (idempotency_key LIKE 'spend:%' OR idempotency_key LIKE 'consume:%') THEN -amount ELSE 0 END AS DOUBLE PRECISION)), 0)
		FROM credit_ledger`).Scan(&granted, &spent)
	return granted, spent, err
}
