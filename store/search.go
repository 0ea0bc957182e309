package store

import (
	"context"
	"strings"
)

// SearchLimit bounds each kind of match a search returns.
const SearchLimit = 50

// Search finds what an operator typed: a workspace by id, name (a part of
// it) or email; a customer by id or email; any stored Stripe object by id;
// an event by id, or the events of an object. It returns the workspaces
// and the events found, each at most SearchLimit, newest events first.
func (db *DB) Search(ctx context.Context, q string) (workspaces, events []string, err error) {
	id := func(s scanner) (string, error) {
		var v string
		return v, s.Scan(&v)
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q)) + "%"
	workspaces, err = queryAll(ctx, db.read, id, `SELECT id FROM (
			SELECT id FROM workspaces WHERE id = $1 OR lower(email) = lower($1) OR lower(name) LIKE $2 ESCAPE '\'
			UNION SELECT workspace_id FROM customers WHERE (id = $1 OR lower(email) = lower($1)) AND workspace_id IS NOT NULL
			UNION SELECT workspace_id FROM subscriptions WHERE id = $1 AND workspace_id IS NOT NULL
			UNION SELECT workspace_id FROM invoices WHERE id = $1 AND workspace_id IS NOT NULL
			UNION SELECT workspace_id FROM payments WHERE id = $1 AND workspace_id IS NOT NULL
			UNION SELECT workspace_id FROM checkout_sessions WHERE id = $1 AND workspace_id IS NOT NULL
			UNION SELECT p.workspace_id FROM payments p JOIN refunds r ON p.id = COALESCE(NULLIF(r.payment_intent_id, ''), r.charge_id)
				WHERE (r.id = $1 OR r.charge_id = $1) AND p.workspace_id IS NOT NULL
			UNION SELECT p.workspace_id FROM payments p JOIN disputes d ON p.id = COALESCE(NULLIF(d.payment_intent_id, ''), d.charge_id)
				WHERE (d.id = $1 OR d.charge_id = $1) AND p.workspace_id IS NOT NULL
			UNION SELECT workspace_id FROM events WHERE id = $1 AND workspace_id <> ''
		) found ORDER BY id LIMIT $3`, q, like, SearchLimit)
	if err != nil {
		return nil, nil, err
	}
	events, err = queryAll(ctx, db.read, id, `SELECT id FROM events WHERE id = $1 OR object_id = $1
		ORDER BY received_at DESC, created DESC, id DESC LIMIT $2`, q, SearchLimit)
	return workspaces, events, err
}
