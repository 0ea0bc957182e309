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
			db := openAtVersion(t, backend, 3)
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

// openAtVersion opens a fresh database of backend migrated up to version,
// as an older release left it; it is closed at cleanup.
func openAtVersion(t *testing.T, backend string, version int64) *store.DB {
	t.Helper()
	ctx := context.Background()
	url := "sqlite:" + t.TempDir() + "/billing.db"
	if backend == "postgres" {
		url = storetest.PostgresURL(t)
	}
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := store.MigrateUpTo(ctx, db, version); err != nil {
		t.Fatal(err)
	}
	return db
}

// queueNotification stores a notification about objectID, as an event's
// transaction does.
func queueNotification(t *testing.T, db *store.DB, key, objectID string) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx billing.Tx) error {
		return tx.AddNotification(context.Background(), &billing.Notification{Key: key, CustomerID: "cus_1",
			Kind: billing.KindPaymentFailed, ObjectID: objectID, Subject: "s", Body: "b", CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, db *store.DB, key string) billing.NotificationStatus {
	t.Helper()
	all, err := db.Notifications(context.Background(), false, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if n.Key == key {
			return n.Status
		}
	}
	t.Fatalf("no notification %s", key)
	return ""
}

// A sender an operator gave up on (its claim interrupted, the email sent
// again) cannot settle over the later attempt.
func TestOnlyTheLatestClaimSettles(t *testing.T) {
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	ctx, t0 := context.Background(), time.Now()
	queueNotification(t, db, "a", "in_1")
	first, err := db.ClaimNotification(ctx, t0)
	if err != nil || first == nil {
		t.Fatalf("claim: %v %v", first, err)
	}
	later := t0.Add(billing.InterruptedAfter + time.Minute)
	if err := db.RetryNotification(ctx, first.ID, later); err != nil {
		t.Fatal(err)
	}
	second, err := db.ClaimNotification(ctx, later)
	if err != nil || second == nil || second.Claim == first.Claim {
		t.Fatalf("second claim: %+v %v", second, err)
	}
	first.Status, first.LastError = billing.NotifyFailed, "the old attempt's late news"
	if err := db.SettleNotification(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := status(t, db, "a"); got != billing.NotifySending {
		t.Fatalf("after the stale claim settled: %s, want still sending", got)
	}
	second.Status, second.SentAt = billing.NotifySent, later
	if err := db.SettleNotification(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := status(t, db, "a"); got != billing.NotifySent {
		t.Errorf("after the latest claim settled: %s, want sent", got)
	}
}

// An invoice paid while its failure email is being sent: if that attempt
// fails, the email is not tried again; if it went out, it is sent.
func TestDiscardDuringAnAttempt(t *testing.T) {
	for _, outcome := range []billing.NotificationStatus{billing.NotifyPending, billing.NotifyFailed, billing.NotifySent} {
		t.Run(string(outcome), func(t *testing.T) {
			db := storetest.Open(t, slog.New(slog.DiscardHandler))
			ctx := context.Background()
			queueNotification(t, db, "a", "in_1")
			n, err := db.ClaimNotification(ctx, time.Now())
			if err != nil || n == nil {
				t.Fatalf("claim: %v %v", n, err)
			}
			err = db.InTx(ctx, func(tx billing.Tx) error { return tx.DiscardNotifications(ctx, "in_1", "paid") })
			if err != nil {
				t.Fatal(err)
			}
			n.Status = outcome
			if err := db.SettleNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
			want := billing.NotifyDiscarded
			if outcome == billing.NotifySent {
				want = billing.NotifySent
			}
			if got := status(t, db, "a"); got != want {
				t.Errorf("attempt %s after a discard: %s, want %s", outcome, got, want)
			}
		})
	}
}

// An email goes to the workspace's address, else to its Stripe customer's.
func TestNotificationRecipient(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		name, workspaceEmail, customerEmail, want string
	}{
		{"workspace's address first", "owner@example.com", "billing@example.com", "owner@example.com"},
		{"else the customer's", "", "billing@example.com", "billing@example.com"},
		{"else none", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws, cus := "ws_"+tt.name, "cus_"+tt.name
			err := db.InTx(ctx, func(tx billing.Tx) error {
				if _, err := tx.CreateWorkspace(ctx, &billing.Workspace{ID: ws, Email: tt.workspaceEmail, CreatedAt: time.Now()}); err != nil {
					return err
				}
				if err := tx.SaveCustomer(ctx, &billing.Customer{ID: cus, WorkspaceID: ws, Email: tt.customerEmail}); err != nil {
					return err
				}
				return tx.AddNotification(ctx, &billing.Notification{Key: "key " + tt.name, WorkspaceID: ws, CustomerID: cus,
					Kind: billing.KindPaymentFailed, ObjectID: "in_1", Subject: "s", Body: "b", CreatedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
			all, err := db.Notifications(ctx, false, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range all {
				if n.Key == "key "+tt.name {
					if n.Recipient != tt.want {
						t.Errorf("recipient %q, want %q", n.Recipient, tt.want)
					}
					return
				}
			}
			t.Error("notification not listed")
		})
	}
}
