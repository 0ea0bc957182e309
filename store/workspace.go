package store

import (
	"context"
	"time"

	"github.com/acme/billing"
)

const workspaceColumns = `id, name, email, COALESCE(stripe_customer_id, ''), created_at`

func scanWorkspace(s scanner) (*billing.Workspace, error) {
	var w billing.Workspace
	var created int64
	if err := s.Scan(&w.ID, &w.Name, &w.Email, &w.StripeCustomerID, &created); err != nil {
		return nil, err
	}
	w.CreatedAt = billing.Unix(created)
	return &w, nil
}

func getWorkspace(ctx context.Context, q querier, id string) (*billing.Workspace, error) {
	w, err := scanWorkspace(q.queryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`, id))
	return w, notFound(err, "workspace", id)
}

// Workspace implements billing.Store.
func (db *DB) Workspace(ctx context.Context, id string) (*billing.Workspace, error) {
	return getWorkspace(ctx, db.read, id)
}

// WorkspaceState implements billing.Store. The subscription shown is the
// workspace's newest one by period, preferring any that is not canceled; one
// known only from another object's event, whose status no event has told
// yet, is not shown.
func (db *DB) WorkspaceState(ctx context.Context, id string) (*billing.WorkspaceState, error) {
	var st billing.WorkspaceState
	var d billing.Discount
	var created, discountEnds int64
	// With its customer's discount, in the same read.
	err := db.read.QueryRowContext(ctx, `SELECT w.id, w.name, w.email, COALESCE(w.stripe_customer_id, ''), w.created_at, `+balanceColumns+`,
			COALESCE(c.discount_id, ''), COALESCE(c.discount_coupon, ''), COALESCE(c.discount_percent_off, 0),
			COALESCE(c.discount_amount_off, 0), COALESCE(c.discount_currency, ''), COALESCE(c.discount_ends_at, 0)
		FROM workspaces w LEFT JOIN customers c ON c.id = w.stripe_customer_id WHERE w.id = $1`, id).Scan(
		&st.ID, &st.Name, &st.Email, &st.StripeCustomerID, &created, &st.Credits.Subscription, &st.Credits.Purchased,
		&d.ID, &d.Coupon, &d.PercentOff, &d.AmountOff, &d.Currency, &discountEnds)
	if err != nil {
		return nil, notFound(err, "workspace", id)
	}
	st.CreatedAt, st.CustomerDiscount = billing.Unix(created), discountOrNil(d, discountEnds)
	sub, err := currentSubscription(ctx, db.read, id)
	switch {
	case err == nil:
		st.Subscription = sub
	case billing.ErrorCode(err) != billing.ENOTFOUND:
		return nil, err
	}
	return &st, nil
}

// currentSubscription is the subscription a workspace's state shows, or
// ENOTFOUND.
func currentSubscription(ctx context.Context, q querier, workspaceID string) (*billing.Subscription, error) {
	sub, err := scanSubscription(q.queryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE workspace_id = $1 AND status <> ''
		ORDER BY status IN ('canceled', 'incomplete_expired'), current_period_end DESC, last_event_at DESC, id LIMIT 1`, workspaceID))
	return sub, notFound(err, "subscription of workspace", workspaceID)
}

// CurrentSubscription implements billing.Tx.
func (t *tx) CurrentSubscription(ctx context.Context, workspaceID string) (*billing.Subscription, error) {
	return currentSubscription(ctx, t, workspaceID)
}

// Workspaces lists workspaces by id, a page at a time, as WorkspaceState
// shows each; with a status, only those whose current subscription has it
// ("none": those without one).
func (db *DB) Workspaces(ctx context.Context, status string, offset, limit int) ([]billing.WorkspaceState, error) {
	ids, err := queryAll(ctx, db.read, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT id FROM workspaces w WHERE $1 = '' OR COALESCE((SELECT s.status FROM subscriptions s
			WHERE s.workspace_id = w.id AND s.status <> ''
			ORDER BY s.status IN ('canceled', 'incomplete_expired'), s.current_period_end DESC, s.last_event_at DESC, s.id LIMIT 1), 'none') = $1
		ORDER BY id LIMIT $2 OFFSET $3`, status, limit, offset)
	if err != nil {
		return nil, err
	}
	out := make([]billing.WorkspaceState, 0, len(ids))
	for _, id := range ids {
		st, err := db.WorkspaceState(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

func (t *tx) Workspace(ctx context.Context, id string) (*billing.Workspace, error) {
	return getWorkspace(ctx, t, id)
}

func (t *tx) EnsureWorkspace(ctx context.Context, id string, at time.Time) error {
	return t.run(ctx, ensureWorkspace(id, at))
}

func ensureWorkspace(id string, at time.Time) stmt {
	return stmt{query: `INSERT INTO workspaces (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, args: []any{id, sec(at)}}
}

// CreateWorkspace inserts w; when w.ID exists it only fills in a name or
// email the stored workspace lacks (one made by a Stripe event first).
func (t *tx) CreateWorkspace(ctx context.Context, w *billing.Workspace) (bool, error) {
	insert := createWorkspace(w)
	res, err := t.exec(ctx, insert.query, insert.args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	return false, t.run(ctx, fillWorkspace(w))
}

func createWorkspace(w *billing.Workspace) stmt {
	return stmt{query: `INSERT INTO workspaces (id, name, email, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, args: []any{w.ID, w.Name, w.Email, sec(w.CreatedAt)}}
}

// fillWorkspace fills in the name and email a stored workspace lacks.
func fillWorkspace(w *billing.Workspace) stmt {
	return stmt{query: `UPDATE workspaces SET
		name = CASE WHEN name = '' THEN $2 ELSE name END,
		email = CASE WHEN email = '' THEN $3 ELSE email END WHERE id = $1`, args: []any{w.ID, w.Name, w.Email}}
}

func (t *tx) SetWorkspaceCustomer(ctx context.Context, workspaceID, customerID string) error {
	return t.run(ctx, setWorkspaceCustomer(workspaceID, customerID))
}

func setWorkspaceCustomer(workspaceID, customerID string) stmt {
	return stmt{query: `UPDATE workspaces SET stripe_customer_id = $2
		WHERE id = $1 AND stripe_customer_id IS NULL`, args: []any{workspaceID, customerID}}
}

func (t *tx) AttachUnlinked(ctx context.Context, workspaceID, customerID string) error {
	return t.run(ctx, attachUnlinked(workspaceID, customerID)...)
}

func attachUnlinked(workspaceID, customerID string) []stmt {
	var ss []stmt
	for _, table := range []string{"subscriptions", "invoices", "payments", "checkout_sessions", "notifications"} {
		ss = append(ss, stmt{query: `UPDATE ` + table + ` SET workspace_id = $1
			WHERE workspace_id IS NULL AND customer_id = $2`, args: []any{workspaceID, customerID}})
	}
	return ss
}
