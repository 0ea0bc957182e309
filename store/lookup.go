package store

import (
	"context"
	"strings"
)

// objectTables are the tables of the Stripe objects billing mirrors, by
// id prefix.
var objectTables = map[string]string{
	"cus_": "customers", "sub_": "subscriptions", "in_": "invoices", "pi_": "payments", "cs_": "checkout_sessions",
}

// WorkspaceOf is the workspace a stored Stripe object belongs to, else the
// one its customer is linked to; "" when neither is known.
func (db *DB) WorkspaceOf(ctx context.Context, objectID, customerID string) (string, error) {
	for prefix, table := range objectTables {
		if !strings.HasPrefix(objectID, prefix) {
			continue
		}
		ws, err := db.workspaceIn(ctx, table, objectID)
		if ws != "" || err != nil {
			return ws, err
		}
	}
	if customerID == "" {
		return "", nil
	}
	return db.workspaceIn(ctx, "customers", customerID)
}

func (db *DB) workspaceIn(ctx context.Context, table, id string) (string, error) {
	rows, err := queryAll(ctx, db.read, func(s scanner) (string, error) {
		var ws string
		return ws, s.Scan(&ws)
	}, `SELECT COALESCE(workspace_id, '') FROM `+table+` WHERE id = $1`, id)
	if err != nil || len(rows) == 0 {
		return "", err
	}
	return rows[0], nil
}
