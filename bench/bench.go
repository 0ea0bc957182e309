// Package bench is the load generator: it sends realistic signed Stripe
// events to a webhook endpoint at a fixed concurrency and measures
// throughput and latency, and it serves the verify-only baseline that
// results are reported against.
package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// Workload is what one run sends.
type Workload struct {
	Deliveries [][]byte // in sending order, duplicates included
	Unique     int      // distinct events
	Workspaces []string
}

// NewWorkload returns the two-month life cycles of n workspaces (20 events
// each; every other one ends canceled) plus dupFrac of them sent twice, all
// shuffled with seed. prefix keeps the ids of separate runs apart.
func NewWorkload(prefix string, n int, dupFrac float64, seed uint64, price string) (*Workload, error) {
	w := &Workload{}
	var events [][]byte
	for i := range n {
		ws := fmt.Sprintf("%s_%05d", prefix, i)
		lc, err := trigger.Lifecycle(ws, price, i%2 == 0)
		if err != nil {
			return nil, err
		}
		w.Workspaces = append(w.Workspaces, ws)
		events = append(events, lc...)
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	w.Unique = len(events)
	w.Deliveries = slices.Clone(events)
	for _, i := range rng.Perm(len(events))[:int(float64(len(events))*dupFrac)] {
		w.Deliveries = append(w.Deliveries, events[i])
	}
	rng.Shuffle(len(w.Deliveries), func(i, j int) { w.Deliveries[i], w.Deliveries[j] = w.Deliveries[j], w.Deliveries[i] })
	return w, nil
}

// Result is one run's measurements.
type Result struct {
	Sent      int
	Elapsed   time.Duration
	Codes     map[int]int // -1: no answer
	Latencies []time.Duration
}

// Run sends every delivery to url, signed with secret at send time, from
// concurrency goroutines, and stops when all are answered or ctx ends.
func Run(ctx context.Context, url, secret string, deliveries [][]byte, concurrency int) *Result {
	queue := make(chan []byte)
	res := &Result{Codes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	transport := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				start := time.Now()
				code := send(ctx, client, url, secret, p)
				took := time.Since(start)
				mu.Lock()
				res.Codes[code]++
				res.Latencies = append(res.Latencies, took)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for _, p := range deliveries {
		select {
		case queue <- p:
		case <-ctx.Done():
		}
	}
	close(queue)
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Sent = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res
}

// send posts one delivery as Stripe would and returns the status, -1 for no answer.
func send(ctx context.Context, client *http.Client, url, secret string, payload []byte) int {
	resp, err := trigger.Send(ctx, client, url, secret, payload)
	if err != nil {
		return -1
	}
	return resp.Status
}

// PerSecond is the throughput.
func (r *Result) PerSecond() float64 { return float64(r.Sent) / r.Elapsed.Seconds() }

// Quantile returns the latency below which q of the requests were answered.
func (r *Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(int(q*float64(len(r.Latencies))), len(r.Latencies)-1)]
}

// OK counts the 200 answers.
func (r *Result) OK() int { return r.Codes[http.StatusOK] }

func (r *Result) String() string {
	return fmt.Sprintf("%6d events in %6.2fs  %8.0f events/s  p50 %7s  p90 %7s  p99 %7s  max %7s  codes %v",
		r.Sent, r.Elapsed.Seconds(), r.PerSecond(), round(r.Quantile(0.5)), round(r.Quantile(0.9)),
		round(r.Quantile(0.99)), round(r.Quantile(1)), r.Codes)
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Baseline is the ceiling results are measured against: a handler that only
// reads the body, verifies the signature (stripe-go's check, as the service
// does) and answers 200, storing nothing.
func Baseline(v *webhook.Verifier) http.Handler {
	return stage(func(body []byte, header string) error { return v.Check(body, header) })
}

// DecodeOnly is the first part of the service's own work: the signature,
// the envelope and data.object decoded into stripe-go's types, as the
// webhook handler does them, with no database. What it leaves of the
// ceiling bounds any service that decodes events this way.
func DecodeOnly(v *webhook.Verifier) http.Handler {
	return stage(func(body []byte, header string) error {
		e, err := v.Verify(body, header)
		if err != nil {
			return err
		}
		return webhook.Decode(e)
	})
}

// StoreOnly is a billing.Decoder that decodes nothing: a service using it
// stores every event durably, as ignored, and applies none, which measures
// what storing alone costs.
type StoreOnly struct{}

// Decode implements billing.Decoder.
func (StoreOnly) Decode(e *billing.Event) error {
	e.Object = nil
	return nil
}

// stage answers 200 to a delivery that check accepts.
func stage(check func(body []byte, header string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxWebhookBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		if err := check(body, r.Header.Get("Stripe-Signature")); err != nil {
			http.Error(w, billing.ErrorMessage(err), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	})
}
