package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/acme/billing"
	"github.com/acme/billing/store"
)

// A database an earlier release wrote, with consumption keys of the old,
// unescaped shape consume:<workspace>:<key>:<bucket>, upgrades without a
// change to any ledger entry; its consumptions still answer their retries,
// and the keys written now never meet the old ones: neither W:x's key job1
// (which the old shape gave W's key x:job1 too) nor W's key a:b (whose
// escaped form a%3Ab an old key holds).
func TestUpgradeKeepsTheLedger(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := openAtVersion(t, backend, 4)
			// As the release before key escaping left it.
			for _, stmt := range []string{
				`INSERT INTO workspaces (id, credits_purchased, created_at) VALUES ('W', 4, 0), ('W:x', 10, 0)`,
				`INSERT INTO credit_ledger (workspace_id, amount, bucket, reason, idempotency_key, created_at) VALUES
					('W', 10, 'purchased', 'purchased 10 credits', 'purchase:pi_1', 1),
					('W', -5, 'purchased', 'consume', 'consume:W:x:job1:purchased', 2),
					('W', -1, 'purchased', 'consume', 'consume:W:a%3Ab:purchased', 3),
					('W:x', 10, 'purchased', 'purchased 10 credits', 'purchase:pi_2', 4)`,
				`INSERT INTO consumptions (workspace_id, idempotency_key, amount, reason, from_subscription, from_purchased,
					balance_subscription, balance_purchased, created_at) VALUES
					('W', 'x:job1', 5, 'consume', 0, 5, 0, 5, 2), ('W', 'a%3Ab', 1, 'consume', 0, 1, 0, 4, 3)`,
			} {
				if _, err := db.SQL().Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			before := ledgerRows(t, db)
			if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if after := ledgerRows(t, db); !slices.Equal(after, before) || len(after) != 4 {
				t.Fatalf("ledger after the upgrade = %v, want %v", after, before)
			}
			svc := &billing.Service{Store: db, Logger: slog.New(slog.DiscardHandler)}
			retry, err := svc.Consume(ctx, billing.Consumption{WorkspaceID: "W", IdempotencyKey: "x:job1", Amount: 5})
			if err != nil || !retry.Replayed {
				t.Errorf("retried consumption = %+v (%v), want the stored answer", retry, err)
			}
			other, err := svc.Consume(ctx, billing.Consumption{WorkspaceID: "W:x", IdempotencyKey: "job1", Amount: 5})
			if err != nil || other.Replayed || other.Balance.Purchased != 5 {
				t.Errorf("W:x's consumption = %+v (%v), want 5 spent of 10", other, err)
			}
			escaped, err := svc.Consume(ctx, billing.Consumption{WorkspaceID: "W", IdempotencyKey: "a:b", Amount: 1})
			if err != nil || escaped.Replayed || escaped.Balance.Purchased != 3 {
				t.Errorf("W's consumption with key a:b = %+v (%v), want 1 spent of 4", escaped, err)
			}
			if bad, err := db.CheckBalances(ctx); err != nil || len(bad) > 0 {
				t.Errorf("balances differ from the ledger for %v (%v)", bad, err)
			}
		})
	}
}

func ledgerRows(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT workspace_id || '|' || amount || '|' || bucket || '|' || reason || '|' || idempotency_key
		FROM credit_ledger ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// The upgrade to migration 6 gives a workspace's one live subscription the
// paid period its current lot is, so that a yearly period's monthly grants
// continue from it; a workspace with two live subscriptions keeps none.
func TestUpgradeNotesThePaidPeriod(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := openAtVersion(t, backend, 5)
			for _, stmt := range []string{
				`INSERT INTO workspaces (id, sub_lot_key, sub_lot_start, created_at) VALUES
					('one', 'invoice:in_2', 1798761600, 0), ('two', 'invoice:in_3', 1798761600, 0)`,
				`INSERT INTO subscriptions (id, workspace_id, status) VALUES
					('sub_one', 'one', 'active'), ('sub_old', 'one', 'canceled'),
					('sub_a', 'two', 'active'), ('sub_b', 'two', 'past_due')`,
			} {
				if _, err := db.SQL().Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{"sub_one": "invoice:in_2@1798761600", "sub_old": "@0", "sub_a": "@0", "sub_b": "@0"} {
				var key string
				var start int64
				if err := db.SQL().QueryRow(`SELECT paid_period_key, paid_period_start FROM subscriptions WHERE id = $1`, id).Scan(&key, &start); err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprintf("%s@%d", key, start); got != want {
					t.Errorf("%s: paid period %s, want %s", id, got, want)
				}
			}
		})
	}
}
