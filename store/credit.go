package store

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/billing"
)

const ledgerColumns = `id, workspace_id, amount, bucket, reason, idempotency_key, event_id, created_at, period_start`

func scanLedgerEntry(s scanner) (billing.LedgerEntry, error) {
	var e billing.LedgerEntry
	var created, period int64
	err := s.Scan(&e.ID, &e.WorkspaceID, &e.Amount, &e.Bucket, &e.Reason, &e.IdempotencyKey, &e.EventID, &created, &period)
	e.CreatedAt, e.PeriodStart = billing.Unix(created), billing.Unix(period)
	return e, err
}

// Ledger implements billing.Store: newest first.
func (db *DB) Ledger(ctx context.Context, workspaceID string) ([]billing.LedgerEntry, error) {
	return queryAll(ctx, db.read, scanLedgerEntry,
		`SELECT `+ledgerColumns+` FROM credit_ledger WHERE workspace_id = $1 ORDER BY id DESC`, workspaceID)
}

// LedgerEntry implements billing.Tx.
func (t *tx) LedgerEntry(ctx context.Context, key string) (*billing.LedgerEntry, error) {
	e, err := scanLedgerEntry(t.queryRow(ctx, `SELECT `+ledgerColumns+` FROM credit_ledger WHERE idempotency_key = $1`, key))
	if err != nil {
		return nil, notFound(err, "ledger entry", key)
	}
	return &e, nil
}

// balanceColumns read the cached balance as 64-bit integers whatever is
// stored: SQLite turns an integer that overflowed into a REAL, which CAST
// clamps back into range, so a balance written by an older release still
// reads (PostgreSQL's BIGINT cannot hold one).
const balanceColumns = `CAST(credits_subscription AS BIGINT), CAST(credits_purchased AS BIGINT)`

func (t *tx) Balance(ctx context.Context, workspaceID string) (billing.Balance, error) {
	var b billing.Balance
	var lotStart int64
	err := t.queryRow(ctx, `SELECT `+balanceColumns+`, sub_lot_key, sub_lot_start
		FROM workspaces WHERE id = $1`+t.db.forUpdate, workspaceID).Scan(&b.Subscription, &b.Purchased, &b.Lot, &lotStart)
	b.LotStart = billing.Unix(lotStart)
	return b, notFound(err, "workspace", workspaceID)
}

func (t *tx) SetSubscriptionLot(ctx context.Context, workspaceID, key string, start time.Time) error {
	return t.run(ctx, setSubscriptionLot(workspaceID, key, start))
}

func setSubscriptionLot(workspaceID, key string, start time.Time) stmt {
	return stmt{query: `UPDATE workspaces SET sub_lot_key = $2, sub_lot_start = $3 WHERE id = $1`, args: []any{workspaceID, key, sec(start)}}
}

func (t *tx) HasLedgerKey(ctx context.Context, key string) (bool, error) {
	return hasLedgerKey(ctx, t, key)
}

// HasLedgerKey implements billing.Store, outside any transaction.
func (db *DB) HasLedgerKey(ctx context.Context, key string) (bool, error) {
	return hasLedgerKey(ctx, db.read, key)
}

func hasLedgerKey(ctx context.Context, q querier, key string) (bool, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM credit_ledger WHERE idempotency_key = $1`, key).Scan(&n)
	return n > 0, err
}

// bucketColumn is the workspaces column of a bucket's balance, "" for none.
func bucketColumn(b billing.Bucket) string {
	return map[billing.Bucket]string{billing.BucketSubscription: "credits_subscription", billing.BucketPurchased: "credits_purchased"}[b]
}

// AppendLedger inserts the entry and moves the cached balance by the same
// amount in the same transaction; a key already used inserts nothing and
// moves nothing.
func (t *tx) AppendLedger(ctx context.Context, e *billing.LedgerEntry) (bool, error) {
	column := bucketColumn(e.Bucket)
	if column == "" {
		return false, fmt.Errorf("ledger entry %q: unknown bucket %q", e.IdempotencyKey, e.Bucket)
	}
	res, err := t.exec(ctx, `INSERT INTO credit_ledger (workspace_id, amount, bucket, reason, idempotency_key, event_id, created_at, period_start)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING`,
		e.WorkspaceID, e.Amount, e.Bucket, e.Reason, e.IdempotencyKey, e.EventID, sec(e.CreatedAt), sec(e.PeriodStart))
	if err != nil {
		return false, fmt.Errorf("ledger entry %q: %w", e.IdempotencyKey, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	_, err = t.exec(ctx, `UPDATE workspaces SET `+column+` = `+column+` + $2 WHERE id = $1`, e.WorkspaceID, e.Amount)
	return err == nil, err
}

func (t *tx) AddPendingGrant(ctx context.Context, g *billing.Grant) error {
	return t.run(ctx, addPendingGrant(g))
}

func addPendingGrant(g *billing.Grant) stmt {
	return stmt{query: `INSERT INTO pending_grants (key, customer_id, subscription_id, kind, bucket, amount,
			reason, event_id, seq, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pending_grants), $9)
		ON CONFLICT (key) DO NOTHING`, args: []any{g.Key, g.CustomerID, g.SubscriptionID, g.Kind, g.Bucket, g.Amount, g.Reason, g.EventID, sec(g.CreatedAt)}}
}

const grantColumns = `key, customer_id, subscription_id, kind, bucket, amount, reason, event_id, created_at`

func scanGrant(s scanner) (billing.Grant, error) {
	var g billing.Grant
	var created int64
	err := s.Scan(&g.Key, &g.CustomerID, &g.SubscriptionID, &g.Kind, &g.Bucket, &g.Amount, &g.Reason, &g.EventID, &created)
	g.CreatedAt = billing.Unix(created)
	return g, err
}

func (t *tx) TakePendingGrants(ctx context.Context, customerID string) ([]billing.Grant, error) {
	grants, err := queryAll(ctx, t, scanGrant, `SELECT `+grantColumns+`
		FROM pending_grants WHERE customer_id = $1 ORDER BY seq`, customerID)
	if err != nil || len(grants) == 0 {
		return nil, err
	}
	return grants, t.run(ctx, deletePendingGrants(customerID))
}

func deletePendingGrants(customerID string) stmt {
	return stmt{query: `DELETE FROM pending_grants WHERE customer_id = $1`, args: []any{customerID}}
}

// CheckBalances returns the workspaces whose cached balance differs from
// their ledger's sums; it should always return none.
func (db *DB) CheckBalances(ctx context.Context) ([]string, error) {
	return queryAll(ctx, db.read, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT w.id FROM workspaces w
		LEFT JOIN (SELECT workspace_id,
				SUM(CASE WHEN bucket = 'subscription' THEN amount ELSE 0 END) AS sub,
				SUM(CASE WHEN bucket = 'purchased' THEN amount ELSE 0 END) AS purchased
			FROM credit_ledger GROUP BY workspace_id) l ON l.workspace_id = w.id
		WHERE w.credits_subscription <> COALESCE(l.sub, 0) OR w.credits_purchased <> COALESCE(l.purchased, 0)
		ORDER BY w.id`)
}
