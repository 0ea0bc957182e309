package appwebhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UserAgent is sent with every delivery; the API refuses requests that
// carry it (508), so that an endpoint looping back to the service fails.
const UserAgent = "billing-app-webhooks/1"

// Timing of deliveries.
const (
	// Timeout bounds one attempt: a 2xx later than this is a failure.
	Timeout = 15 * time.Second
	// DefaultLease is how long a claim lasts: longer than an attempt with
	// margin, so that only a sender that crashed loses its claim.
	DefaultLease = 60 * time.Second
	// RetryFor is how long after its first attempt a delivery is retried.
	RetryFor = 72 * time.Hour
	// DefaultPoll is how often Run looks for new messages when idle.
	DefaultPoll = time.Second
	// DefaultWorkers is a sender's attempts at once.
	DefaultWorkers = 4
	// dispatchBatch is how many messages one Dispatch turns into deliveries.
	dispatchBatch = 500
	// maxResponse is how much of a response an attempt keeps.
	maxResponse = 1024
)

// backoff is the wait after each failed attempt; the last repeats.
var backoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// NextAttempt is when to try again after the attempt-th attempt (from 1)
// failed at now, the first having been made at first; jitter, from -1 to
// 1, moves the wait by up to 10 %. ok is false once the next attempt would
// come later than RetryFor after the first: the delivery has failed.
func NextAttempt(attempt int, first, now time.Time, jitter float64) (next time.Time, ok bool) {
	wait := backoff[min(max(attempt, 1), len(backoff))-1]
	wait += time.Duration(float64(wait) * 0.1 * jitter)
	next = now.Add(wait)
	return next, !next.After(first.Add(RetryFor))
}

// NewClient is the HTTP client of deliveries: it follows no redirect (a
// 3xx is the answer, and a failure) and gives up after Timeout.
func NewClient() *http.Client {
	return &http.Client{
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Sender delivers the messages to the endpoints. Any number of senders, in
// one process or many sharing a database, may run: each delivery is
// claimed by one at a time.
type Sender struct {
	Store Store
	// URLs are the endpoints; each gets every message (of Types, when set).
	URLs  []string
	Types []string
	// Secret signs the messages: whsec_ and base64.
	Secret string
	Client *http.Client // default NewClient()
	Logger *slog.Logger
	// Now is the clock and Jitter the retries' randomness (-1 to 1); tests
	// inject both.
	Now    func() time.Time
	Jitter func() float64
	Poll   time.Duration // default DefaultPoll
	Lease  time.Duration // default DefaultLease
	// Workers is how many attempts one sender makes at once; default
	// DefaultWorkers.
	Workers int
	// Observer, when set, is told each attempt's outcome (metrics).
	Observer Observer
}

// Run delivers until ctx ends. It returns once an attempt under way is
// settled: a delivery left claimed waits for its lease to run out.
func (s *Sender) Run(ctx context.Context) {
	synced := false
	for {
		var err error
		if !synced {
			err = s.Store.SyncEndpoints(ctx, s.URLs, s.now())
			synced = err == nil
		}
		if synced {
			_, err = s.Step(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.Logger.Error("App webhooks: could not read the deliveries; trying again", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cmp.Or(s.Poll, DefaultPoll)):
		}
	}
}

// Step dispatches the new messages to each endpoint, then makes every
// attempt due now, one at a time, and returns how many were delivered. It
// stops at the first error of the store.
func (s *Sender) Step(ctx context.Context) (delivered int, err error) {
	for _, u := range s.URLs {
		for {
			n, err := s.Store.Dispatch(ctx, u, s.Types, dispatchBatch, s.now())
			if err != nil {
				return 0, fmt.Errorf("dispatch to %s: %w", Redact(u), err)
			}
			if n < dispatchBatch {
				break
			}
		}
	}
	// Several attempts at once, so that a slow endpoint holds up only
	// the workers waiting on it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range cmp.Or(s.Workers, DefaultWorkers) {
		wg.Go(func() {
			n, err := s.sendDue(ctx)
			mu.Lock()
			defer mu.Unlock()
			delivered += n
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return delivered, errors.Join(errs...)
}

// sendDue claims and attempts deliveries until none is due.
func (s *Sender) sendDue(ctx context.Context) (delivered int, err error) {
	for ctx.Err() == nil {
		d, err := s.Store.ClaimDelivery(ctx, s.now(), cmp.Or(s.Lease, DefaultLease))
		if err != nil || d == nil {
			return delivered, err
		}
		a := s.attempt(ctx, d)
		if d.Status == StatusDelivered {
			delivered++
		}
		// Settled even when ctx ended during the attempt, so that it need
		// not wait for the lease.
		if err := s.Store.SettleDelivery(context.WithoutCancel(ctx), d, a); err != nil {
			return delivered, err
		}
		s.observe(d, a)
	}
	return delivered, nil
}

// observe tells the Observer how an attempt ended.
func (s *Sender) observe(d *Delivery, a Attempt) {
	if s.Observer == nil {
		return
	}
	outcome := OutcomeRetried
	switch {
	case d.Status == StatusDelivered:
		outcome = OutcomeDelivered
		s.Observer.Delivered(d.DeliveredAt.Sub(d.CreatedAt))
	case d.Status == StatusFailed:
		outcome = OutcomeFailed
	case a.Status == http.StatusGone:
		outcome = OutcomeDisabled
	}
	s.Observer.Attempted(d.Endpoint, outcome, a.Duration)
}

// attempt sends d once and sets its outcome.
func (s *Sender) attempt(ctx context.Context, d *Delivery) Attempt {
	start := s.now()
	a := Attempt{DeliveryID: d.ID, At: start}
	status, body, err := s.post(ctx, d, start)
	a.Duration, a.Status, a.Response = s.now().Sub(start), status, body
	log := s.Logger.With("endpoint", Redact(d.Endpoint), "message", d.MessageID, "type", d.MessageType, "attempt", d.Attempts)
	switch {
	case err != nil:
		// net/http quotes the whole URL, where a token may be.
		a.Error = strings.ReplaceAll(err.Error(), d.Endpoint, Redact(d.Endpoint))
	case status >= 200 && status < 300:
		d.Status, d.DeliveredAt, d.LastStatus, d.LastError = StatusDelivered, s.now(), status, ""
		log.Info("App webhook delivered", "status", status)
		return a
	case status == http.StatusGone:
		// Pending until an operator enables the endpoint again, which makes
		// it due at once. Meanwhile it waits for its backoff, so that a claim
		// that raced the disabling (or a disabling that failed) sends it again
		// then, not at once.
		a.Error = "410 Gone: endpoint disabled"
		next, _ := NextAttempt(d.Attempts, d.FirstAttemptAt, s.now(), s.jitter())
		d.Status, d.NextAttemptAt, d.LastStatus, d.LastError = StatusPending, next, status, a.Error
		if err := s.Store.DisableEndpoint(context.WithoutCancel(ctx), d.Endpoint, "answered 410 Gone", s.now()); err != nil {
			log.Error("App webhook endpoint answered 410 Gone but could not be disabled", "error", err)
		}
		log.Warn("App webhook endpoint answered 410 Gone: disabled until enabled on the dashboard")
		return a
	default:
		a.Error = "answered " + strconv.Itoa(status) + ", want 2xx"
	}
	d.LastStatus, d.LastError = status, a.Error
	next, ok := NextAttempt(d.Attempts, d.FirstAttemptAt, s.now(), s.jitter())
	if !ok {
		d.Status = StatusFailed
		log.Error("App webhook failed for good: retried for 3 days", "error", a.Error)
		return a
	}
	d.Status, d.NextAttemptAt = StatusPending, next
	log.Warn("App webhook not delivered; will retry", "error", a.Error, "retry_at", next)
	return a
}

// post sends d's body signed at t and returns the status and the start of
// the response.
func (s *Sender) post(ctx context.Context, d *Delivery, t time.Time) (int, string, error) {
	req, err := NewRequest(ctx, d.Endpoint, s.Secret, d.MessageID, d.Body, t)
	if err != nil {
		return 0, "", err
	}
	client := s.Client
	if client == nil {
		client = NewClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return resp.StatusCode, string(body), nil
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) jitter() float64 {
	if s.Jitter != nil {
		return s.Jitter()
	}
	return rand.Float64()*2 - 1
}
