package store

import (
	"context"

	"github.com/acme/billing"
)

const invoiceColumns = `id, customer_id, subscription_id, COALESCE(workspace_id, ''), status, billing_reason,
	amount_due, amount_paid, amount_remaining, currency, attempt_count, next_payment_attempt, number,
	hosted_invoice_url, invoice_pdf, due_date, period_start, period_end, paid_at, created_at, last_event_at,
	action_required_at`

func scanInvoice(s scanner) (billing.Invoice, error) {
	var i billing.Invoice
	var next, due, start, end, paid, created, last, action int64
	err := s.Scan(&i.ID, &i.CustomerID, &i.SubscriptionID, &i.WorkspaceID, &i.Status, &i.BillingReason,
		&i.AmountDue, &i.AmountPaid, &i.AmountRemaining, &i.Currency, &i.AttemptCount, &next, &i.Number,
		&i.HostedInvoiceURL, &i.InvoicePDF, &due, &start, &end, &paid, &created, &last, &action)
	i.NextPaymentAttempt, i.DueDate, i.PeriodStart, i.PeriodEnd = billing.Unix(next), billing.Unix(due), billing.Unix(start), billing.Unix(end)
	i.PaidAt, i.CreatedAt, i.LastEventAt = billing.Unix(paid), billing.Unix(created), billing.Unix(last)
	i.ActionRequiredAt = billing.Unix(action)
	return i, err
}

// Invoices implements billing.Store: newest first.
func (db *DB) Invoices(ctx context.Context, workspaceID string) ([]billing.Invoice, error) {
	return queryAll(ctx, db.read, scanInvoice, `SELECT `+invoiceColumns+` FROM invoices
		WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC`, workspaceID)
}

func (t *tx) Invoice(ctx context.Context, id string) (*billing.Invoice, error) {
	i, err := scanInvoice(t.queryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "invoice", id)
	}
	return &i, nil
}

func (t *tx) SaveInvoice(ctx context.Context, i *billing.Invoice) error {
	return t.run(ctx, saveInvoice(i))
}

func saveInvoice(i *billing.Invoice) stmt { return invoicesTable.one(invoiceValues(i)...) }
