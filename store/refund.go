package store

import (
	"context"

	"github.com/acme/billing"
)

const refundColumns = `id, payment_intent_id, charge_id, amount, currency, status, reason, created_at, last_event_at`

func scanRefund(s scanner) (billing.Refund, error) {
	var r billing.Refund
	var created, last int64
	err := s.Scan(&r.ID, &r.PaymentIntentID, &r.ChargeID, &r.Amount, &r.Currency, &r.Status, &r.Reason, &created, &last)
	r.CreatedAt, r.LastEventAt = billing.Unix(created), billing.Unix(last)
	return r, err
}

// Refunds implements billing.Store: those of the workspace's payments,
// newest first.
func (db *DB) Refunds(ctx context.Context, workspaceID string) ([]billing.Refund, error) {
	return queryAll(ctx, db.read, scanRefund, `SELECT `+refundColumns+` FROM refunds
		WHERE COALESCE(NULLIF(payment_intent_id, ''), charge_id) IN (SELECT id FROM payments WHERE workspace_id = $1)
		ORDER BY created_at DESC, id DESC`, workspaceID)
}

func (t *tx) Refund(ctx context.Context, id string) (*billing.Refund, error) {
	r, err := scanRefund(t.queryRow(ctx, `SELECT `+refundColumns+` FROM refunds WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "refund", id)
	}
	return &r, nil
}

func (t *tx) SaveRefund(ctx context.Context, r *billing.Refund) error {
	return t.run(ctx, refundsTable.one(refundValues(r)...))
}
