package store_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/redact"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

// Every error text the database keeps goes through its Redactor, whichever
// write sets it: an event's last error, a failed refresh of prices, and a
// notification's.
func TestStoredErrorsAreRedacted(t *testing.T) {
	const secret = "db-secret-0123456789"
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.URL(t), store.Options{Redactor: redact.New(secret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	e := &billing.Event{ID: "evt_redacted", Type: "invoice.paid", Payload: []byte(`{}`), Created: time.Now()}
	for _, attempt := range []string{"first", "second"} { // the insert, then the update
		cause := attempt + ": the driver said " + secret + " about postgres://u:pw@db/x"
		if err := db.RecordFailure(ctx, e, cause, time.Now()); err != nil {
			t.Fatal(err)
		}
		stored, err := db.Event(ctx, e.ID)
		if want := attempt + ": the driver said **** about postgres://u:****@db/x"; err != nil || stored.LastError != want {
			t.Errorf("%s failure stored %q (%v), want %q", attempt, stored.LastError, err, want)
		}
	}

	if err := db.SavePrices(ctx, nil, billing.PriceRefresh{At: time.Now(), Error: "Stripe quoted " + secret}); err != nil {
		t.Fatal(err)
	}
	if _, last, err := db.CachedPrices(ctx); err != nil || last.Error != "Stripe quoted ****" {
		t.Errorf("failed refresh of prices stored %q (%v), want the secret masked", last.Error, err)
	}

	queueNotification(t, db, "settled", "in_settled")
	n, err := db.ClaimNotification(ctx, time.Now())
	if err != nil || n == nil {
		t.Fatalf("claim: %v %v", n, err)
	}
	n.Status, n.LastError = billing.NotifyPending, "550 mailer:"+secret+" refused"
	if err := db.SettleNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	queueNotification(t, db, "discarded", "in_discarded")
	if err := db.InTx(ctx, func(tx billing.Tx) error {
		return tx.DiscardNotifications(ctx, "in_discarded", "paid, says "+secret)
	}); err != nil {
		t.Fatal(err)
	}
	all, err := db.Notifications(ctx, false, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("outbox = %+v (%v)", all, err)
	}
	for _, n := range all {
		if strings.Contains(n.LastError, secret) || !strings.Contains(n.LastError, "****") {
			t.Errorf("notification %s stored %q, want the secret masked", n.Key, n.LastError)
		}
	}
}

// Open's errors never quote a password of DATABASE_URL, whatever its form.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Chdir(t.TempDir()) // a value taken for a SQLite path would become a file here
	tests := []struct{ url, want, hidden string }{
		{"mysql://root:mysql-word@db/x", `DATABASE_URL "mysql://root:****@db/x": want sqlite:PATH or postgres://…`, "mysql-word"},
		{"host=db password=kv-word dbname=x", `DATABASE_URL "host=db password=**** dbname=x": keyword/value`, "kv-word"},
		{"postgres://u:p@ss-word@127.0.0.1:1/x", `DATABASE_URL "postgres://u:****@127.0.0.1:1/x": write an @ or /`, "ss-word"},
		{"postgres://u:p/ss-word@127.0.0.1:1/x", `DATABASE_URL "postgres://u:****@127.0.0.1:1/x": write an @ or /`, "ss-word"},
		// Ambiguous without user info: hidden up to the last @, as a
		// password cut at its / would be.
		{"postgres://127.0.0.1:1/my@db", `DATABASE_URL "postgres://127.0.0.1:****@db": write an @ or /`, ""},
		// After the user info, an @ is the database name's or the query's.
		{"postgres://u@127.0.0.1:1/my@db?connect_timeout=2", `open postgres://u@127.0.0.1:1/my@db: failed to connect`, ""},
		{"postgres://u:query-word@127.0.0.1:1/x?application_name=svc@prod&connect_timeout=2", "open postgres://u@127.0.0.1:1/x: failed to connect", "query-word"},
		{"postgres://u:hostless-word/x", "DATABASE_URL: cannot parse `postgres://u:****/x`: invalid port", "hostless-word"},
		{"postgres://u:bad%zz-word@127.0.0.1:1/x", "DATABASE_URL: cannot parse `postgres://u:****@127.0.0.1:1/x`", "zz-word"},
		{"postgres://u@127.0.0.1:1/x?sslmode=bogus&password=query-word", "?sslmode=bogus&password=****`", "query-word"},
		{"postgres://u@127.0.0.1:1/x?connect_timeout=2&password=query-word", "open postgres://u@127.0.0.1:1/x: failed to connect", "query-word"},
	}
	for _, tt := range tests {
		_, err := store.Open(context.Background(), tt.url, store.Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.hidden != "" && strings.Contains(err.Error(), tt.hidden)) {
			t.Errorf("Open(%q) = %v, want an error with %q and without %q", tt.url, err, tt.want, tt.hidden)
		}
	}
}
