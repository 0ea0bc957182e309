package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

// Notifications the release before the outbox queued have no text: the
// upgrade must not mail them out blank.
func TestOutboxUpgradeDiscardsTextlessNotifications(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			url := "sqlite:" + t.TempDir() + "/billing.db"
			if backend == "postgres" {
				url = storetest.PostgresURL(t)
			}
			db, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := store.MigrateUpTo(ctx, db, 3); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec(`INSERT INTO notifications (key, customer_id, kind, object_id, created_at)
				VALUES ('invoice.payment_failed:in_1:1', 'cus_1', 'invoice.payment_failed', 'in_1', 1767225600)`); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			n, err := db.ClaimNotification(ctx, time.Now())
			if err != nil || n != nil {
				t.Fatalf("claimed %+v (%v) after the upgrade, want nothing", n, err)
			}
			all, err := db.Notifications(ctx, false, 10)
			if err != nil || len(all) != 1 || all[0].Status != billing.NotifyDiscarded {
				t.Errorf("outbox after the upgrade = %+v (%v), want the old row discarded", all, err)
			}
			if unsent, err := db.UnsentNotifications(ctx); err != nil || unsent != 0 {
				t.Errorf("unsent = %d (%v), want 0", unsent, err)
			}
		})
	}
}
