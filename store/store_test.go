package store_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/acme/billing"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

func openPG(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Instances that start together on one database migrate one at a time.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		db := openPG(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- db.Migrate(context.Background(), slog.New(slog.DiscardHandler))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var n, versions int
	err := openPG(t, url).SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&n, &versions)
	if want := store.PostgresMigrations(); err != nil || n != versions || versions != want || want < 3 {
		t.Errorf("%d migrations applied %d times (%v), want %d once each", versions, n, err, want)
	}
}

// A transaction PostgreSQL aborts as a deadlock victim is run again.
func TestDeadlockIsRetried(t *testing.T) {
	t.Parallel()
	db := openPG(t, storetest.PostgresURL(t))
	if err := db.Migrate(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec(`INSERT INTO settings (key, value) VALUES ('a', '0'), ('b', '0')`); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	// Each first attempt updates its first row, then waits for the other's:
	// the second updates then deadlock for certain.
	var firstRows sync.WaitGroup
	firstRows.Add(2)
	run := func(first, second string) error {
		return db.InTx(context.Background(), func(btx billing.Tx) error {
			n := attempts.Add(1)
			if err := store.TxExec(btx, `UPDATE settings SET value = value || '+' WHERE key = $1`, first); err != nil {
				return err
			}
			if n <= 2 {
				firstRows.Done()
				firstRows.Wait()
			}
			return store.TxExec(btx, `UPDATE settings SET value = value || '+' WHERE key = $1`, second)
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run("a", "b") }()
	go func() { errs <- run("b", "a") }()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Errorf("InTx: %v", err)
		}
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3: one deadlock victim run again", n)
	}
	var a, b string
	_ = db.SQL().QueryRow(`SELECT value FROM settings WHERE key = 'a'`).Scan(&a)
	_ = db.SQL().QueryRow(`SELECT value FROM settings WHERE key = 'b'`).Scan(&b)
	if a != "0++" || b != "0++" {
		t.Errorf("a = %q, b = %q: each transaction must apply once", a, b)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", store.Options{})
	if err == nil {
		t.Fatal("opened a database on port 1")
	}
	if got := store.Classify(err); billing.ErrorCode(got) != billing.EUNAVAILABLE {
		t.Errorf("store.Classify(%v) = %v, want unavailable", err, got)
	}
	for _, err := range []error{sql.ErrNoRows, errors.New("syntax error")} {
		if billing.ErrorCode(store.Classify(err)) == billing.EUNAVAILABLE {
			t.Errorf("store.Classify(%v) is unavailable", err)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "billing.db", "sqlite:billing.db": "billing.db", "sqlite:///var/lib/billing.db": "/var/lib/billing.db",
		"file:/tmp/x.db?mode=rwc": "/tmp/x.db", "data/b.db": "data/b.db",
		// Only a bare value that reads as keyword/value is refused.
		"data/x=1.db": "data/x=1.db", "sqlite:host=a.db": "host=a.db",
	} {
		if got, err := store.SQLitePath(in); err != nil || got != want {
			t.Errorf("sqlitePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"mysql://x", "host=db dbname=billing", "user=billing"} {
		if _, err := store.SQLitePath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// RoundTrips counts each statement sent to PostgreSQL, a transaction's
// BEGIN and COMMIT included, and stays 0 on SQLite.
func TestRoundTripsAreCounted(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name string
		url  string
		want int64
	}{
		{"postgres", storetest.PostgresURL(t), 3}, // BEGIN, the UPDATE, COMMIT
		{"sqlite", "sqlite:" + filepath.Join(t.TempDir(), "billing.db"), 0},
	} {
		db := storetest.OpenURL(t, tt.url, slog.New(slog.DiscardHandler))
		update := func() {
			err := db.InTx(ctx, func(tx billing.Tx) error { return tx.SetWorkspaceCustomer(ctx, "ws_none", "cus_none") })
			if err != nil {
				t.Fatal(err)
			}
		}
		update() // prepares the statement on PostgreSQL
		before := db.RoundTrips()
		update()
		if got := db.RoundTrips() - before; got != tt.want {
			t.Errorf("%s: a transaction of one statement took %d round trips, want %d", tt.name, got, tt.want)
		}
	}
}
