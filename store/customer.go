package store

import (
	"context"

	"github.com/acme/billing"
)

const customerColumns = `id, COALESCE(workspace_id, ''), email, name, deleted, last_event_at`

func scanCustomer(s scanner) (*billing.Customer, error) {
	var c billing.Customer
	var last int64
	err := s.Scan(&c.ID, &c.WorkspaceID, &c.Email, &c.Name, &c.Deleted, &last)
	c.LastEventAt = billing.Unix(last)
	return &c, err
}

func (t *tx) Customer(ctx context.Context, id string) (*billing.Customer, error) {
	c, err := scanCustomer(t.queryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "customer", id)
	}
	return c, nil
}

func (t *tx) SaveCustomer(ctx context.Context, c *billing.Customer) error {
	return t.run(ctx, saveCustomer(c))
}

func saveCustomer(c *billing.Customer) stmt { return customersTable.one(customerValues(c)...) }
