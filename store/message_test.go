package store_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

// Pruning old messages keeps their count: the messages ever written, by
// type, only grow, as the counter billing_app_messages_total must.
func TestMessageCountsSurvivePruning(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	old, recent := time.Unix(1767225600, 0), time.Unix(1767225600, 0).AddDate(0, 2, 0)
	for i, m := range []struct {
		typ string
		at  time.Time
	}{{"invoice.paid", old}, {"invoice.paid", old}, {"credits.granted", old}, {"invoice.paid", recent}, {"payment.failed", recent}} {
		err := db.InTx(ctx, func(tx billing.Tx) error {
			_, err := tx.AddMessage(ctx, &billing.Message{ID: fmt.Sprintf("msg_%d", i), Type: m.typ, WorkspaceID: "ws_1",
				Sequence: int64(i + 1), CreatedAt: m.at, Body: []byte(`{}`)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []store.MessageCount{{"credits.granted", 1}, {"invoice.paid", 3}, {"payment.failed", 1}}
	check := func(when string) {
		t.Helper()
		got, err := db.MessageCounts(ctx)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("counts %s = %v (%v), want %v", when, got, err, want)
		}
	}
	check("before pruning")
	for _, wantPruned := range []int64{3, 0} { // a second prune finds nothing more to add
		if n, err := db.PruneMessages(ctx, old.AddDate(0, 1, 0)); err != nil || n != wantPruned {
			t.Fatalf("pruned %d (%v), want %d", n, err, wantPruned)
		}
		check("after pruning")
	}
	var kept int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM app_messages`).Scan(&kept); err != nil || kept != 2 {
		t.Errorf("%d messages kept (%v), want the 2 recent ones", kept, err)
	}
}
