package store

import (
	"context"

	"github.com/acme/billing"
)

const paymentColumns = `id, customer_id, COALESCE(workspace_id, ''), invoice_id, status, amount, amount_refunded,
	currency, purpose, credits, credits_refunded, error_message, created_at, last_event_at`

func scanPayment(s scanner) (billing.Payment, error) {
	var p billing.Payment
	var created, last int64
	err := s.Scan(&p.ID, &p.CustomerID, &p.WorkspaceID, &p.InvoiceID, &p.Status, &p.Amount, &p.AmountRefunded,
		&p.Currency, &p.Purpose, &p.Credits, &p.CreditsRefunded, &p.ErrorMessage, &created, &last)
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

func savePayment(p *billing.Payment) stmt {
	return stmt{`INSERT INTO payments (id, customer_id, workspace_id, invoice_id, status, amount,
			amount_refunded, currency, purpose, credits, credits_refunded, error_message, created_at, last_event_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, workspace_id = excluded.workspace_id,
			invoice_id = excluded.invoice_id, status = excluded.status, amount = excluded.amount,
			amount_refunded = excluded.amount_refunded, currency = excluded.currency, purpose = excluded.purpose,
			credits = excluded.credits, credits_refunded = excluded.credits_refunded,
			error_message = excluded.error_message, created_at = excluded.created_at,
			last_event_at = excluded.last_event_at`, []any{p.ID, p.CustomerID, null(p.WorkspaceID), p.InvoiceID, p.Status, p.Amount, p.AmountRefunded, p.Currency,
		p.Purpose, p.Credits, p.CreditsRefunded, p.ErrorMessage, sec(p.CreatedAt), sec(p.LastEventAt)}}
}
