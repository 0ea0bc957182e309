package store

import (
	"context"

	"github.com/acme/billing"
)

func (t *tx) Customer(ctx context.Context, id string) (*billing.Customer, error) {
	var c billing.Customer
	var last int64
	err := t.QueryRowContext(ctx, `SELECT id, COALESCE(workspace_id, ''), email, name, deleted, last_event_at
		FROM customers WHERE id = $1`, id).Scan(&c.ID, &c.WorkspaceID, &c.Email, &c.Name, &c.Deleted, &last)
	if err != nil {
		return nil, notFound(err, "customer", id)
	}
	c.LastEventAt = billing.Unix(last)
	return &c, nil
}

func (t *tx) SaveCustomer(ctx context.Context, c *billing.Customer) error {
	_, err := t.exec(ctx, `INSERT INTO customers (id, workspace_id, email, name, deleted, last_event_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET workspace_id = excluded.workspace_id, email = excluded.email,
			name = excluded.name, deleted = excluded.deleted, last_event_at = excluded.last_event_at`,
		c.ID, null(c.WorkspaceID), c.Email, c.Name, c.Deleted, sec(c.LastEventAt))
	return err
}
