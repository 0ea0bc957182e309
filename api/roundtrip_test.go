package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// A group commit costs PostgreSQL at most three round trips whatever its
// size: one begins it, takes its locks and reads what its events need; one
// writes what they changed and commits; one is left for a read it missed.
// Counted on the connection's socket (store.DB.RoundTrips), once the
// connection has prepared its statements.
func TestClusterGroupCommitRoundTrips(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 8, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			db := storetest.OpenURL(t, storetest.PostgresURL(t), slog.New(slog.DiscardHandler), store.Options{MaxOpenConns: 1})
			svc := &billing.Service{Store: db, Decoder: webhook.Decoder{}, Plans: testPlans, Logger: slog.New(slog.DiscardHandler)}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			// Each story's events in one batch: new objects, then events
			// about the same objects, now stored. A first pass on other
			// objects prepares the statements of both.
			for _, pass := range []struct {
				prefix string
				most   int64
			}{{"warm", 0}, {"k", 3}} {
				for round, name := range []string{"new", "stored"} {
					trips := apply(t, svc, db, stories(t, pass.prefix, n, base.Add(time.Duration(round)*time.Hour)), pass.most)
					t.Logf("%d events, %s objects: %d round trips", n, name, trips)
				}
			}
			if bad, err := db.CheckBalances(context.Background()); err != nil || len(bad) > 0 {
				t.Errorf("balances differ from the ledger: %v %v", bad, err)
			}
		})
	}
}

// storyTypes are the events of one workspace's story, in order.
var storyTypes = []string{
	"customer.subscription.created", "invoice.paid", "payment_intent.succeeded", "customer.subscription.updated",
	"checkout.session.completed", "charge.refunded", "invoice.payment_failed", "customer.updated",
}

// stories builds n events: workspaces' stories, one event each in turn.
func stories(t *testing.T, prefix string, n int, created time.Time) []*billing.Event {
	t.Helper()
	var es []*billing.Event
	for i := range n {
		key := fmt.Sprintf("%s%d", prefix, i/len(storyTypes))
		p, err := trigger.Build(trigger.Options{Type: storyTypes[i%len(storyTypes)], Workspace: "ws_" + key, Key: key,
			PriceID: proPrice, Created: created.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		e, err := webhook.Parse(p, billing.ModeTest)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// apply applies events in one group commit and returns its round trips,
// failing the test past most (unless 0) or on any event's error.
func apply(t *testing.T, svc *billing.Service, db *store.DB, es []*billing.Event, most int64) int64 {
	t.Helper()
	before := db.RoundTrips()
	statuses, errs := svc.ProcessAll(context.Background(), es)
	trips := db.RoundTrips() - before
	for i, err := range errs {
		if err != nil || statuses[i] != billing.StatusProcessed {
			t.Errorf("%s %s: %s %v", es[i].ID, es[i].Type, statuses[i], err)
		}
	}
	if most > 0 && trips > most {
		t.Errorf("%d events: %d round trips, want at most %d", len(es), trips, most)
	}
	return trips
}

// noNeeds is a store whose group commits are told nothing they will read,
// so that every read misses.
type noNeeds struct{ *store.DB }

func (s noNeeds) InBatch(ctx context.Context, needs *billing.Needs, fns []func(billing.Tx) error) []error {
	return s.DB.InBatch(ctx, &billing.Needs{Locks: needs.Locks}, fns)
}

// What a group commit reads first changes its speed, never its results:
// the same events in the same batches end in the same state, ledger and
// messages when every read misses, each miss sending the batch's writes
// so far and running again the event that had written some.
func TestNeedsChangeSpeedNotResults(t *testing.T) {
	events, workspaces := clusterEvents(6)
	for _, i := range []int{3, 7, 20} {
		events = append(events, events[i]) // duplicates, in later batches
	}
	run := func(wrap bool) (map[string]string, map[string][]string, int64) {
		logs := &billingtest.Buffer{}
		db := storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil)))
		h := serve(t, db, logs, func(s *billing.Service) {
			if wrap {
				s.Store = noNeeds{db}
			}
		})
		for start := 0; start < len(events); start += 16 {
			var es []*billing.Event
			for _, p := range events[start:min(start+16, len(events))] {
				e, err := webhook.Parse(p, billing.ModeTest)
				if err != nil {
					t.Fatal(err)
				}
				es = append(es, e)
			}
			if _, errs := h.svc.ProcessAll(context.Background(), es); errors.Join(errs...) != nil {
				t.Fatal(errors.Join(errs...))
			}
		}
		states, messages := map[string]string{}, map[string][]string{}
		for _, ws := range workspaces {
			states[ws] = stateOf(h, ws)
		}
		for _, m := range h.feed(nil).read() {
			messages[m.WorkspaceID] = append(messages[m.WorkspaceID], fmt.Sprintf("%d %s", m.Sequence, m.Type))
		}
		return states, messages, db.Misses()
	}
	wantStates, wantMessages, few := run(false)
	checkReference(t, wantStates)
	states, messages, misses := run(true)
	t.Logf("%d events: %d reads missed with needs, %d without", len(events), few, misses)
	if misses < int64(len(events)) {
		t.Errorf("without needs only %d reads missed: the test does not test misses", misses)
	}
	for _, ws := range workspaces {
		if states[ws] != wantStates[ws] {
			t.Errorf("%s without needs:\n%s\nwith:\n%s", ws, states[ws], wantStates[ws])
		}
		if !slices.Equal(messages[ws], wantMessages[ws]) {
			t.Errorf("%s messages without needs: %v\nwith: %v", ws, messages[ws], wantMessages[ws])
		}
	}
}
