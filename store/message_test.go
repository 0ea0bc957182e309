package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
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

// addMessage writes one message of ws in tx.
func addMessage(ctx context.Context, tx billing.Tx, id, ws string) error {
	_, err := tx.AddMessage(ctx, &billing.Message{ID: id, Type: billing.MsgInvoicePaid, WorkspaceID: ws,
		Sequence: 1, CreatedAt: time.Now(), Body: []byte(`{"id":"` + id + `"}`)})
	return err
}

// follow reads the feed after *after until a page is empty, and returns
// the ids read.
func follow(t *testing.T, db *store.DB, after *string, limit int) []string {
	t.Helper()
	var ids []string
	for {
		page, err := db.Feed(context.Background(), billing.FeedQuery{After: *after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) == 0 {
			if page.Next != *after {
				t.Fatalf("empty page after %q: next %q", *after, page.Next)
			}
			return ids
		}
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		*after = page.Next
	}
}

// drain follows the feed until it has read n messages in all: another
// test's transaction, anywhere on the server, may hold the horizon back.
func drain(t *testing.T, db *store.DB, after *string, got []string, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(got) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the feed served %d of %d messages", len(got), n)
		}
		got = append(got, follow(t, db, after, 7)...)
		time.Sleep(5 * time.Millisecond) // polls the horizon: nothing signals it
	}
	return got
}

// The classic outbox gap: a transaction that wrote a message commits after
// a later one's message was read. The feed holds the later message back
// until the earlier transaction ended, and then serves both in order; a
// reader ordering by position alone passes the late one over for good.
func TestFeedServesALateCommit(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	a := storetest.OpenURL(t, url, slog.New(slog.DiscardHandler)) // migrates
	b, reader := openPG(t, url), openPG(t, url)
	ctx := context.Background()

	added, commit, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	release := func() { once.Do(func() { close(commit) }) }
	defer release() // a failing test still ends the transaction, so that Close returns
	go func() {
		done <- a.InTx(ctx, func(tx billing.Tx) error {
			if err := addMessage(ctx, tx, "msg_early", "ws_a"); err != nil {
				return err
			}
			close(added)
			<-commit
			return nil
		})
	}()
	select {
	case <-added:
	case err := <-done:
		t.Fatalf("the earlier transaction: %v", err)
	}
	if err := b.InTx(ctx, func(tx billing.Tx) error { return addMessage(ctx, tx, "msg_later", "ws_b") }); err != nil {
		t.Fatal(err)
	}
	var after, naive string
	var naiveIDs []string
	naiveRead := func() {
		rows, err := reader.SQL().Query(`SELECT position, id FROM app_messages WHERE position > $1 ORDER BY position`, naive)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&naive, &id); err != nil {
				t.Fatal(err)
			}
			naiveIDs = append(naiveIDs, id)
		}
	}
	naive = "0"
	if got := follow(t, reader, &after, 10); len(got) != 0 {
		t.Errorf("while the earlier transaction runs the feed served %v, want nothing", got)
	}
	naiveRead()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := drain(t, reader, &after, nil, 2); !slices.Equal(got, []string{"msg_early", "msg_later"}) {
		t.Errorf("the feed served %v, want msg_early then msg_later", got)
	}
	naiveRead()
	if !slices.Equal(naiveIDs, []string{"msg_later"}) {
		t.Errorf("a reader by position alone read %v: the scenario did not make the gap it is meant to", naiveIDs)
	}
}

// Many writers on two handles commit in any order, some roll back, while a
// reader follows next: it ends with every committed message exactly once.
func TestFeedUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	dbs := []*store.DB{storetest.OpenURL(t, url, slog.New(slog.DiscardHandler)), openPG(t, url)}
	reader := openPG(t, url)
	ctx := context.Background()
	const writers, txs = 8, 40
	errRollback := errors.New("rolled back on purpose")

	var mu sync.Mutex
	committed := map[string]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txs {
				var ids []string
				err := dbs[w%2].InTx(ctx, func(tx billing.Tx) error {
					ids = ids[:0]
					for k := range 1 + rand.IntN(3) {
						id := fmt.Sprintf("msg_%d_%d_%d", w, i, k)
						if err := addMessage(ctx, tx, id, fmt.Sprintf("ws_%d", w)); err != nil {
							return err
						}
						ids = append(ids, id)
						// Holds the transaction open a while so that commits
						// overtake each other.
						time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					}
					if i%7 == 3 {
						return errRollback
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					t.Error(err)
					return
				}
				if err == nil {
					mu.Lock()
					for _, id := range ids {
						committed[id] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	var got []string
	var after string
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			page, err := reader.Feed(ctx, billing.FeedQuery{After: after, Limit: 5})
			if err != nil {
				t.Error(err)
				return
			}
			for _, m := range page.Messages {
				got = append(got, m.ID)
			}
			after = page.Next
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	got = drain(t, reader, &after, got, len(committed))
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] || !committed[id] {
			t.Errorf("the reader read %s twice, or one never committed", id)
		}
		seen[id] = true
	}
	if len(seen) != len(committed) {
		t.Errorf("the reader read %d messages of the %d committed", len(seen), len(committed))
	}
}

// A message still owed to an endpoint outlives the retention: pruning it
// would lose it for an endpoint disabled by a 410, or mid-retry. Once its
// delivery ends, it goes.
func TestPruneKeepsMessagesStillOwed(t *testing.T) {
	ctx, t0 := t.Context(), time.Unix(1767225600, 0)
	db := owedMessage(t, t0)
	if err := db.DisableEndpoint(ctx, owedURL, "answered 410 Gone", t0); err != nil {
		t.Fatal(err)
	}
	later := t0.AddDate(0, 2, 0)
	if n, err := db.PruneMessages(ctx, later); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) while its delivery waits for the endpoint, want 0", n, err)
	}
	if err := db.EnableEndpoint(ctx, owedURL, later); err != nil {
		t.Fatal(err)
	}
	d, err := db.ClaimDelivery(ctx, later, time.Minute)
	if err != nil || d == nil {
		t.Fatalf("claim: %v, %v", d, err)
	}
	d.Status, d.DeliveredAt = appwebhook.StatusDelivered, later
	if err := db.SettleDelivery(ctx, d, appwebhook.Attempt{DeliveryID: d.ID, At: later, Status: 204}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneMessages(ctx, later); err != nil || n != 1 {
		t.Errorf("pruned %d (%v) once delivered, want 1", n, err)
	}
}

// A database restored onto another PostgreSQL server carries transaction
// ids that server has not reached: CheckFeedClock refuses it, and the reset
// it gives makes the feed serve new messages again, after the old ones.
func TestFeedClockAfterAMove(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.DiscardHandler)) // transaction ids are PostgreSQL's
	add := func(id string) {
		t.Helper()
		if err := db.InTx(ctx, func(tx billing.Tx) error {
			_, err := tx.AddMessage(ctx, &billing.Message{ID: id, Type: billing.MsgInvoicePaid, WorkspaceID: "ws_1",
				Sequence: 1, CreatedAt: time.Now(), Body: []byte(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("msg_old")
	if err := db.CheckFeedClock(ctx); err != nil {
		t.Fatalf("a database written here: %v", err)
	}
	if _, err := db.SQL().ExecContext(ctx, `UPDATE app_messages SET txid = '999999999999'`); err != nil { // as restored
		t.Fatal(err)
	}
	err := db.CheckFeedClock(ctx)
	if err == nil || !strings.Contains(err.Error(), "UPDATE app_messages SET txid = '1'") {
		t.Fatalf("CheckFeedClock = %v, want a refusal that says how to reset", err)
	}
	if _, err := db.SQL().ExecContext(ctx, `UPDATE app_messages SET txid = '1'; UPDATE app_endpoints SET cursor = ''`); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckFeedClock(ctx); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
	add("msg_new")
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := db.Feed(ctx, billing.FeedQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		if fmt.Sprint(ids) == "[msg_old msg_new]" {
			break
		}
		if time.Now().After(deadline) { // the feed waits for older transactions of other tests
			t.Fatalf("feed after the reset: %v, want the old message then the new one", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An endpoint removed from the configuration and added back gets a new
// round of attempts for what waited, rather than failing it at once for
// the days it was away.
func TestEndpointAddedBackRetriesAfresh(t *testing.T) {
	ctx, t0 := t.Context(), time.Unix(1767225600, 0)
	db := owedMessage(t, t0)
	d, err := db.ClaimDelivery(ctx, t0, time.Minute)
	if err != nil || d == nil {
		t.Fatalf("claim: %v, %v", d, err)
	}
	d.Status, d.NextAttemptAt, d.FirstAttemptAt = appwebhook.StatusPending, t0.Add(5*time.Second), t0
	if err := db.SettleDelivery(ctx, d, appwebhook.Attempt{DeliveryID: d.ID, At: t0, Status: 500}); err != nil {
		t.Fatal(err)
	}
	back := t0.AddDate(0, 0, 5)
	for _, urls := range [][]string{nil, {owedURL}} { // removed, then back five days later
		if err := db.SyncEndpoints(ctx, urls, back); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Delivery(ctx, d.ID)
	if err != nil || got.Attempts != 0 || !got.FirstAttemptAt.IsZero() || !got.NextAttemptAt.Equal(back) {
		t.Errorf("delivery once its endpoint is back: %+v (%v), want a new round due now", got, err)
	}
}

// owedURL is the endpoint owedMessage registers.
const owedURL = "https://app.example.com/hook"

// owedMessage opens a database with one endpoint, owedURL, and one message
// written at t0 and dispatched to it: a delivery pending.
func owedMessage(t *testing.T, t0 time.Time) *store.DB {
	t.Helper()
	ctx := t.Context()
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	if err := db.SyncEndpoints(ctx, []string{owedURL}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(ctx, func(tx billing.Tx) error {
		_, err := tx.AddMessage(ctx, &billing.Message{ID: "msg_1", Type: billing.MsgInvoicePaid, WorkspaceID: "ws_1",
			Sequence: 1, CreatedAt: t0, Body: []byte(`{}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	storetest.Dispatch(t, db, owedURL, 1, t0)
	return db
}
