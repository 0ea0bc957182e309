-- +goose Up
-- A payment that waits for the customer (3-D Secure:
-- invoice.payment_action_required): since when its invoice does, and on its
-- subscription which invoice and the hosted page where the customer confirms.
ALTER TABLE invoices ADD COLUMN action_required_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN action_invoice_id TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN action_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN action_url;
ALTER TABLE subscriptions DROP COLUMN action_invoice_id;
ALTER TABLE invoices DROP COLUMN action_required_at;
