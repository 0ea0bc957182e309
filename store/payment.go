package store

import (
	"context"

	"github.com/acme/billing"
)

const paymentColumns = `id, customer_id, COALESCE(workspace_id, ''), invoice_id, status, amount, amount_refunded,
	currency, purpose, credits, credits_refunded, error_message, created_at, last_event_at, refunds_total, dispute_lost`

func scanPayment(s scanner) (billing.Payment, error) {
	var p billing.Payment
	var created, last int64
	err := s.Scan(&p.ID, &p.CustomerID, &p.WorkspaceID, &p.InvoiceID, &p.Status, &p.Amount, &p.AmountRefunded,
		&p.Currency, &p.Purpose, &p.Credits, &p.CreditsRefunded, &p.ErrorMessage, &created, &last, &p.RefundsTotal, &p.DisputeLost)
	p.CreatedAt, p.LastEventAt = billing.Unix(created), billing.Unix(last)
	return p, err
}

// Payments implements billing.Store: newest first.
func (db *DB) Payments(ctx context.Context, workspaceID string) ([]billing.Payment, error) {
	return queryAll(ctx, db.read, scanPayment, `SELECT `+paymentColumns+` FROM payments
		WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC`, workspaceID)
}

func (t *tx) Payment(ctx context.Context, id string) (*billing.Payment, error) {
	p, err := scanPayment(t.queryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "payment", id)
	}
	return &p, nil
}

func (t *tx) SavePayment(ctx context.Context, p *billing.Payment) error {
	return t.run(ctx, savePayment(p))
}

func savePayment(p *billing.Payment) stmt { return paymentsTable.one(paymentValues(p)...) }
