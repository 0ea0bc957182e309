package billing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// benchEvents returns n verified, undecoded events: whole workspace life
// cycles, in order, so every event does the work it does in production.
func benchEvents(b *testing.B, prefix string, n int) []*billing.Event {
	b.Helper()
	v := &webhook.Verifier{Secrets: []string{"whsec_bench"}, Tolerance: time.Hour, Mode: billing.ModeTest}
	var out []*billing.Event
	for i := 0; len(out) < n; i++ {
		lc, err := trigger.Lifecycle(fmt.Sprintf("%s_%d", prefix, i), "price_BenchPro", i%2 == 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range lc {
			e, err := v.Verify(p, webhook.Sign(p, "whsec_bench", time.Now()))
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out[:n]
}

func benchService(b *testing.B) *billing.Service {
	plans, err := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{"price_BenchPro"}, MonthlyCredits: 1000}})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &billing.Service{Store: storetest.Open(b, logger), Decoder: webhook.Decoder{}, Plans: plans, Logger: logger}
}

// BenchmarkProcess applies one event: decode, store, apply, durable commit
// (SQLite with synchronous=FULL, or PostgreSQL with BILLING_TEST_DB=postgres).
//
//   - alone: one event at a time, each its own transaction and fsync.
//   - parallel/alone: 16 concurrent callers, each event its own transaction
//     (the design before group commit).
//   - parallel/batched: the same callers sharing group commits, as `billing
//     serve` runs.
func BenchmarkProcess(b *testing.B) {
	run := func(b *testing.B, parallel, batched bool) {
		svc := benchService(b)
		if batched {
			b.Cleanup(svc.StartBatching(svc.Store.(interface{ Writers() int }).Writers(), 64))
		}
		events := benchEvents(b, b.Name(), b.N)
		ctx := context.Background()
		var next atomic.Int64
		apply := func() {
			e := events[next.Add(1)-1]
			if status, err := svc.Process(ctx, e, false); err != nil || status != billing.StatusProcessed && status != billing.StatusStale {
				b.Errorf("%s: %s %v", e.ID, status, err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			for range b.N {
				apply()
			}
			return
		}
		b.SetParallelism(8) // 16 callers on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				apply()
			}
		})
	}
	b.Run("alone", func(b *testing.B) { run(b, false, false) })
	b.Run("parallel/alone", func(b *testing.B) { run(b, true, false) })
	b.Run("parallel/batched", func(b *testing.B) { run(b, true, true) })
}
