package store

import (
	"context"

	"github.com/acme/billing"
)

const customerColumns = `id, COALESCE(workspace_id, ''), email, name, deleted, last_event_at, discount_event_at, ` + discountColumns

// discountColumns are a discount's, on a subscription or a customer.
const discountColumns = `discount_id, discount_coupon, discount_percent_off, discount_amount_off, discount_currency, discount_ends_at`

func scanCustomer(s scanner) (*billing.Customer, error) {
	var c billing.Customer
	var d billing.Discount
	var last, discountAt, ends int64
	err := s.Scan(&c.ID, &c.WorkspaceID, &c.Email, &c.Name, &c.Deleted, &last, &discountAt,
		&d.ID, &d.Coupon, &d.PercentOff, &d.AmountOff, &d.Currency, &ends)
	c.LastEventAt, c.DiscountEventAt, c.Discount = billing.Unix(last), billing.Unix(discountAt), discountOrNil(d, ends)
	return &c, err
}

// discountOrNil is a scanned discount, nil when there is none.
func discountOrNil(d billing.Discount, ends int64) *billing.Discount {
	if d.ID == "" && d.Coupon == "" {
		return nil
	}
	d.EndsAt = billing.Unix(ends)
	return &d
}

// discountValues are a discount's columns, empty for none.
func discountValues(d *billing.Discount) []any {
	if d == nil {
		d = &billing.Discount{}
	}
	return []any{d.ID, d.Coupon, d.PercentOff, d.AmountOff, d.Currency, sec(d.EndsAt)}
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
