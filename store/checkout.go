package store

import (
	"context"

	"github.com/acme/billing"
)

const checkoutSessionColumns = `id, COALESCE(workspace_id, ''), customer_id, mode, status, payment_status,
	subscription_id, payment_intent_id, amount_total, currency, purpose, created_at, expires_at,
	payment_failed_at, last_event_at`

func scanCheckoutSession(s scanner) (billing.CheckoutSession, error) {
	var cs billing.CheckoutSession
	var created, expires, failed, last int64
	err := s.Scan(&cs.ID, &cs.WorkspaceID, &cs.CustomerID, &cs.Mode, &cs.Status, &cs.PaymentStatus,
		&cs.SubscriptionID, &cs.PaymentIntentID, &cs.AmountTotal, &cs.Currency, &cs.Purpose, &created, &expires,
		&failed, &last)
	cs.CreatedAt, cs.ExpiresAt = billing.Unix(created), billing.Unix(expires)
	cs.PaymentFailedAt, cs.LastEventAt = billing.Unix(failed), billing.Unix(last)
	return cs, err
}

// CheckoutSessions implements billing.Store: newest first.
func (db *DB) CheckoutSessions(ctx context.Context, workspaceID string) ([]billing.CheckoutSession, error) {
	return queryAll(ctx, db.read, scanCheckoutSession, `SELECT `+checkoutSessionColumns+` FROM checkout_sessions
		WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC`, workspaceID)
}

func (t *tx) CheckoutSession(ctx context.Context, id string) (*billing.CheckoutSession, error) {
	cs, err := scanCheckoutSession(t.queryRow(ctx, `SELECT `+checkoutSessionColumns+` FROM checkout_sessions WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "checkout session", id)
	}
	return &cs, nil
}

func (t *tx) SaveCheckoutSession(ctx context.Context, cs *billing.CheckoutSession) error {
	return t.run(ctx, checkoutSessionsTable.one(checkoutSessionValues(cs)...))
}
