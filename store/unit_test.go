package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

// What a group commit must do when PostgreSQL and its memory disagree,
// each found by review; always on PostgreSQL, where the transaction is
// shared with other sessions.

var at = time.Unix(1700000000, 0).UTC()

func beginEvent(ctx context.Context, tx billing.Tx, id string) error {
	_, err := tx.BeginEvent(ctx, &billing.Event{ID: id, Type: "customer.updated", Payload: []byte("{}"), ReceivedAt: at})
	return err
}

// A workspace the batch found absent, which another transaction creates
// before the commit, fails the whole batch: nothing of it is kept, and its
// events are then applied alone.
func TestClusterBatchFailsOnARowWrittenMeanwhile(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.DiscardHandler))
	errs := db.InBatch(ctx, &billing.Needs{Workspaces: []string{"w1"}, Events: []string{"evt_1"}, LedgerKeys: []string{"k1"}},
		[]func(billing.Tx) error{func(tx billing.Tx) error {
			if err := beginEvent(ctx, tx, "evt_1"); err != nil {
				return err
			}
			if err := tx.EnsureWorkspace(ctx, "w1", at); err != nil {
				return err
			}
			if _, err := tx.AppendLedger(ctx, &billing.LedgerEntry{WorkspaceID: "w1", Amount: 10, Bucket: billing.BucketPurchased,
				Reason: "r", IdempotencyKey: "k1", CreatedAt: at}); err != nil {
				return err
			}
			// The app creates the workspace meanwhile, as the API does, with no lock.
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES ('w1', 'app', 1)`); err != nil {
				return err
			}
			return tx.FinishEvent(ctx, &billing.Event{ID: "evt_1"}, billing.StatusProcessed, at)
		}})
	if errs[0] == nil {
		t.Error("the batch committed over a workspace written meanwhile")
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM credit_ledger`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d ledger entries kept (%v), want none", n, err)
	}
	if _, err := db.Event(ctx, "evt_1"); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("the event is stored (%v), want nothing of the batch", err)
	}
	if bad, err := db.CheckBalances(ctx); err != nil || len(bad) > 0 {
		t.Errorf("balances differ from the ledger: %v %v", bad, err)
	}
}

// A read that fails after the batch sent some writes aborts PostgreSQL's
// transaction: no event of the batch may then be answered committed.
func TestClusterBatchFailsOnAFailedRead(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenURL(t, storetest.PostgresURL(t)+"&lock_timeout=300ms", slog.New(slog.DiscardHandler))
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO workspaces (id, created_at) VALUES ('w2', 1)`); err != nil {
		t.Fatal(err)
	}
	other, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.ExecContext(ctx, `SELECT id FROM workspaces WHERE id = 'w2' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	errs := db.InBatch(ctx, &billing.Needs{Workspaces: []string{"w1"}, Events: []string{"evt_1", "evt_2"}}, []func(billing.Tx) error{
		func(tx billing.Tx) error {
			if err := beginEvent(ctx, tx, "evt_1"); err != nil {
				return err
			}
			if err := tx.EnsureWorkspace(ctx, "w1", at); err != nil {
				return err
			}
			return tx.FinishEvent(ctx, &billing.Event{ID: "evt_1"}, billing.StatusProcessed, at)
		},
		func(tx billing.Tx) error {
			if err := beginEvent(ctx, tx, "evt_2"); err != nil {
				return err
			}
			_, err := tx.Workspace(ctx, "w2") // a miss, which the other session's lock times out
			return err
		},
	})
	if _, err := db.Event(ctx, "evt_1"); errs[0] == nil && err != nil {
		t.Errorf("evt_1 answered committed, but it is not stored: %v", err)
	}
	if errs[0] == nil {
		t.Error("the batch went on after PostgreSQL aborted its transaction")
	}
}

// One request's cancelled context fails no other event of its batch.
func TestClusterBatchIgnoresAnEventsCancelledContext(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.DiscardHandler))
	gone, cancel := context.WithCancel(ctx)
	cancel()
	errs := db.InBatch(ctx, &billing.Needs{Workspaces: []string{"w1"}}, []func(billing.Tx) error{
		func(tx billing.Tx) error { return tx.EnsureWorkspace(ctx, "w1", at) },
		func(tx billing.Tx) error {
			_, err := tx.Customer(gone, "cus_unknown") // a miss, under the request's context
			if billing.ErrorCode(err) == billing.ENOTFOUND {
				return nil
			}
			return err
		},
	})
	if err := errors.Join(errs...); err != nil {
		t.Errorf("errors %v, want none", errs)
	}
	if _, err := db.Workspace(ctx, "w1"); err != nil {
		t.Errorf("the first event's workspace: %v", err)
	}
}

// A transaction PostgreSQL aborted is never answered committed, even when
// the caller went on after the statement that failed.
func TestClusterAbortedTransactionIsNotCommitted(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.DiscardHandler))
	err := db.InTx(ctx, func(tx billing.Tx) error {
		if err := store.TxExec(tx, `INSERT INTO settings (key, value) VALUES ('a', 'b')`); err != nil {
			return err
		}
		_ = store.TxExec(tx, `SELECT 1/0`) // an error the caller handles, and goes on
		return nil
	})
	if v, _ := db.Setting(ctx, "a"); err == nil && v == "" {
		t.Error("InTx answered committed, but nothing was")
	}
	if err == nil {
		t.Error("InTx answered nil for an aborted transaction")
	}
}
