package store

import (
	"context"

	"github.com/acme/billing"
)

// Consumption implements billing.Tx.
func (t *tx) Consumption(ctx context.Context, workspaceID, key string) (*billing.Consumption, error) {
	c := billing.Consumption{WorkspaceID: workspaceID, IdempotencyKey: key}
	var created int64
	err := t.queryRow(ctx, `SELECT amount, reason, from_subscription, from_purchased,
			balance_subscription, balance_purchased, created_at
		FROM consumptions WHERE workspace_id = $1 AND idempotency_key = $2`, workspaceID, key).
		Scan(&c.Amount, &c.Reason, &c.FromSubscription, &c.FromPurchased, &c.Balance.Subscription, &c.Balance.Purchased, &created)
	if err != nil {
		return nil, notFound(err, "consumption", key)
	}
	c.CreatedAt = billing.Unix(created)
	return &c, nil
}

// SaveConsumption implements billing.Tx.
func (t *tx) SaveConsumption(ctx context.Context, c *billing.Consumption) error {
	return t.run(ctx, saveConsumption(c))
}

func saveConsumption(c *billing.Consumption) stmt {
	return stmt{query: `INSERT INTO consumptions (workspace_id, idempotency_key, amount, reason,
			from_subscription, from_purchased, balance_subscription, balance_purchased, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, args: []any{c.WorkspaceID, c.IdempotencyKey, c.Amount, c.Reason, c.FromSubscription, c.FromPurchased,
		c.Balance.Subscription, c.Balance.Purchased, sec(c.CreatedAt)}}
}
