package store

import (
	"context"

	"github.com/acme/billing"
)

const disputeColumns = `id, payment_intent_id, charge_id, amount, currency, status, reason, evidence_due_by,
	created_at, last_event_at`

func scanDispute(s scanner) (billing.Dispute, error) {
	var d billing.Dispute
	var due, created, last int64
	err := s.Scan(&d.ID, &d.PaymentIntentID, &d.ChargeID, &d.Amount, &d.Currency, &d.Status, &d.Reason, &due, &created, &last)
	d.EvidenceDueBy, d.CreatedAt, d.LastEventAt = billing.Unix(due), billing.Unix(created), billing.Unix(last)
	return d, err
}

// openDisputeStatuses are those of billing.Dispute.Open.
const openDisputeStatuses = `('warning_needs_response', 'warning_under_review', 'needs_response', 'under_review')`

// Disputes implements billing.Store: those of the workspace's payments,
// newest first.
func (db *DB) Disputes(ctx context.Context, workspaceID string) ([]billing.Dispute, error) {
	return queryAll(ctx, db.read, scanDispute, `SELECT `+disputeColumns+` FROM disputes
		WHERE COALESCE(NULLIF(payment_intent_id, ''), charge_id) IN (SELECT id FROM payments WHERE workspace_id = $1)
		ORDER BY created_at DESC, id DESC`, workspaceID)
}

func (t *tx) Dispute(ctx context.Context, id string) (*billing.Dispute, error) {
	d, err := scanDispute(t.queryRow(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "dispute", id)
	}
	return &d, nil
}

func (t *tx) SaveDispute(ctx context.Context, d *billing.Dispute) error {
	return t.run(ctx, disputesTable.one(disputeValues(d)...))
}
