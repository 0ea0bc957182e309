package appwebhook_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

func TestNextAttempt(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		attempt int
		since   time.Duration // of now after first
		jitter  float64
		wait    time.Duration
		ok      bool
	}{
		{1, 0, 0, 5 * time.Second, true},
		{1, 0, 1, 5500 * time.Millisecond, true},
		{1, 0, -1, 4500 * time.Millisecond, true},
		{2, 5 * time.Second, 0, 5 * time.Minute, true},
		{3, time.Hour, 0, 30 * time.Minute, true},
		{4, time.Hour, 0, 2 * time.Hour, true},
		{5, time.Hour, 0, 5 * time.Hour, true},
		{6, 10 * time.Hour, 0, 10 * time.Hour, true},
		{7, 20 * time.Hour, 1, 11 * time.Hour, true},
		{20, 60 * time.Hour, 0, 10 * time.Hour, true},
		{20, 62 * time.Hour, 0, 10 * time.Hour, true},              // exactly at the 3 days
		{20, 62*time.Hour + time.Second, 0, 10 * time.Hour, false}, // past them
		{20, 70 * time.Hour, -1, 9 * time.Hour, false},
	} {
		now := first.Add(c.since)
		next, ok := appwebhook.NextAttempt(c.attempt, first, now, c.jitter)
		if got := next.Sub(now); got != c.wait || ok != c.ok {
			t.Errorf("NextAttempt(%d, +%s, jitter %v) = +%s, %v; want +%s, %v", c.attempt, c.since, c.jitter, got, ok, c.wait, c.ok)
		}
	}
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is an app's endpoint on loopback: it verifies every request with
// the Standard Webhooks library and answers what answer says.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	// now, when set, is the clock the timestamp is checked against (the
	// library checks it against the wall clock).
	now func() time.Time
	// answer is the status for a message id; nil answers 200.
	answer func(id string) int
	// hold, when set, is how long a request takes: overlapping requests
	// of one message are reported.
	hold time.Duration

	mu       sync.Mutex
	got      []string // webhook-ids, in arrival order
	inFlight map[string]bool
	overlap  []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, inFlight: map[string]bool{}}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := r.verify(wh, body, req.Header); err != nil {
			t.Errorf("signature of %s: %v", req.Header.Get("webhook-id"), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ua, ct := req.UserAgent(), req.Header.Get("Content-Type"); ua != appwebhook.UserAgent || ct != "application/json" {
			t.Errorf("User-Agent %q, Content-Type %q", ua, ct)
		}
		id := req.Header.Get("webhook-id")
		r.enter(id)
		defer r.leave(id)
		if r.hold > 0 {
			time.Sleep(r.hold) // a slow app, so that attempts would overlap
		}
		status := http.StatusOK
		if r.answer != nil {
			status = r.answer(id)
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "answered %d", status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) verify(wh *standardwebhooks.Webhook, body []byte, h http.Header) error {
	if r.now == nil {
		return wh.Verify(body, h)
	}
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		return err
	}
	ts, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if d := r.now().Unix() - ts; d > 300 || d < -300 {
		return fmt.Errorf("timestamp %d is %ds off the clock", ts, d)
	}
	return nil
}

func (r *receiver) enter(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[id] {
		r.overlap = append(r.overlap, id)
	}
	r.inFlight[id] = true
	r.got = append(r.got, id)
}

func (r *receiver) leave(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inFlight, id)
}

func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func newClock() *billingtest.Clock { return billingtest.NewClock(time.Now().Truncate(time.Second)) }

// moveTo sets the clock to t.
func moveTo(c *billingtest.Clock, t time.Time) { c.Add(t.Sub(c.Now())) }

// backends runs test on SQLite and on PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, url string)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			url := "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
			if b == "postgres" {
				url = storetest.PostgresURL(t)
			}
			test(t, url)
		})
	}
}

func openDB(t *testing.T, url string) *store.DB {
	return storetest.OpenURL(t, url, slog.New(slog.DiscardHandler))
}

// newSender is a sender of db to the receivers, on clock c (nil for the
// wall clock), without jitter.
func newSender(db *store.DB, c *billingtest.Clock, rs ...*receiver) *appwebhook.Sender {
	s := &appwebhook.Sender{Store: db, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		Jitter: func() float64 { return 0 }}
	if c != nil {
		s.Now = c.Now
	}
	for _, r := range rs {
		s.URLs = append(s.URLs, r.srv.URL)
	}
	return s
}

func start(t *testing.T, s *appwebhook.Sender) {
	t.Helper()
	if err := s.Store.SyncEndpoints(context.Background(), s.URLs, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func step(t *testing.T, s *appwebhook.Sender) int {
	t.Helper()
	n, err := s.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var seq int64

// addMessages writes n messages of type typ in one transaction, as a
// change does, and returns their ids.
func addMessages(t *testing.T, db *store.DB, n int, typ string) []string {
	t.Helper()
	var ids []string
	err := db.InTx(context.Background(), func(tx billing.Tx) error {
		for range n {
			seq++
			id := fmt.Sprintf("msg_%s_%d", base64.RawURLEncoding.EncodeToString([]byte(t.Name()))[:8], seq)
			m := &billing.Message{ID: id, Type: typ, WorkspaceID: "ws_1", Sequence: seq, CreatedAt: time.Now(),
				Body: fmt.Appendf(nil, `{"id":%q,"type":%q}`, id, typ)}
			if _, err := tx.AddMessage(context.Background(), m); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storetest.AwaitFeed(t, db)
	return ids
}

func deliveries(t *testing.T, db *store.DB) []appwebhook.Delivery {
	t.Helper()
	ds, err := db.Deliveries(context.Background(), appwebhook.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestSenderDeliversSignedToEveryEndpoint(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		before := addMessages(t, db, 1, billing.MsgInvoicePaid) // before the endpoints were registered
		r1, r2 := newReceiver(t), newReceiver(t)
		s := newSender(db, nil, r1, r2)
		s.Types = []string{billing.MsgInvoicePaid, billing.MsgCreditsGranted}
		start(t, s)
		want := addMessages(t, db, 3, billing.MsgInvoicePaid)
		addMessages(t, db, 1, billing.MsgCreditsLow) // not of Types
		if n := step(t, s); n != 6 {
			t.Errorf("Step delivered %d, want 3 messages to each of 2 endpoints", n)
		}
		for _, r := range []*receiver{r1, r2} {
			if got := r.ids(); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
				t.Errorf("%s got %v, want %v (not %v, older than the endpoint)", r.srv.URL, got, want, before)
			}
		}
		for _, d := range deliveries(t, db) {
			if d.Status != appwebhook.StatusDelivered || d.Attempts != 1 || d.LastStatus != 200 {
				t.Errorf("delivery %+v, want delivered at the first attempt", d)
			}
			as, err := db.Attempts(context.Background(), d.ID)
			if err != nil || len(as) != 1 || as[0].Status != 200 || as[0].Response != "answered 200" {
				t.Errorf("attempts %+v (%v), want one answered 200", as, err)
			}
		}
		if n := step(t, s); n != 0 || len(r1.ids()) != 3 {
			t.Errorf("a second Step delivered %d, receiver has %d: want nothing sent twice", n, len(r1.ids()))
		}
	})
}

// A change rolled back after its messages were drafted sends nothing.
func TestSenderSendsNothingOfARollback(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		r := newReceiver(t)
		s := newSender(db, nil, r)
		start(t, s)
		failed := errors.New("the event failed after its messages")
		err := db.InTx(context.Background(), func(tx billing.Tx) error {
			m := &billing.Message{ID: "msg_rolledback", Type: billing.MsgInvoicePaid, WorkspaceID: "ws_1", Sequence: 1,
				CreatedAt: time.Now(), Body: []byte(`{}`)}
			if _, err := tx.AddMessage(context.Background(), m); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatal(err)
		}
		committed := addMessages(t, db, 1, billing.MsgInvoicePaid)
		step(t, s)
		if got := r.ids(); fmt.Sprint(got) != fmt.Sprint(committed) {
			t.Errorf("receiver got %v, want only the committed %v", got, committed)
		}
	})
}

// Retries follow the schedule, then the delivery fails after 3 days.
func TestSenderRetriesOnSchedule(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		c := newClock()
		r := newReceiver(t)
		r.now = c.Now
		r.answer = func(string) int { return http.StatusServiceUnavailable }
		s := newSender(db, c, r)
		start(t, s)
		addMessages(t, db, 1, billing.MsgSubscriptionActivated)
		first := c.Now()
		step(t, s)
		for attempt := 1; ; attempt++ {
			d := deliveries(t, db)[0]
			if d.Attempts != attempt || d.LastStatus != 503 {
				t.Fatalf("after attempt %d: %+v", attempt, d)
			}
			next, ok := appwebhook.NextAttempt(attempt, first, c.Now(), 0)
			if !ok {
				if d.Status != appwebhook.StatusFailed || attempt != 12 {
					t.Errorf("attempt %d was the last: status %s, want failed after 12", attempt, d.Status)
				}
				break
			}
			if d.Status != appwebhook.StatusPending || !d.NextAttemptAt.Equal(next) {
				t.Fatalf("after attempt %d: %s, next %s; want pending, next %s", attempt, d.Status, d.NextAttemptAt, next)
			}
			moveTo(c, next.Add(-time.Second))
			if step(t, s); len(r.ids()) != attempt {
				t.Fatalf("attempt %d made before it was due", attempt+1)
			}
			moveTo(c, next)
			step(t, s)
		}
		if as, err := db.Attempts(context.Background(), deliveries(t, db)[0].ID); err != nil || len(as) != 12 {
			t.Errorf("%d attempts recorded (%v), want 12", len(as), err)
		}
		if pending, failed, err := db.Backlog(context.Background()); err != nil || pending != 0 || failed != 1 {
			t.Errorf("backlog %d pending, %d failed (%v); want 0, 1", pending, failed, err)
		}
	})
}

// 410 Gone disables the endpoint until it is enabled; a redirect is not
// followed, and is retried.
func TestSenderGoneAndRedirect(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openDB(t, url)
		c := newClock()
		gone, moved, target := newReceiver(t), newReceiver(t), newReceiver(t)
		gone.now, moved.now, target.now = c.Now, c.Now, c.Now
		answer := http.StatusGone
		gone.answer = func(string) int { return answer }
		moved.srv.Config.Handler = http.RedirectHandler(target.srv.URL, http.StatusFound)
		s := newSender(db, c, gone, moved)
		obs := &outcomes{}
		s.Observer = obs
		start(t, s)
		ids := addMessages(t, db, 1, billing.MsgPaymentSucceeded)
		step(t, s)
		if got, want := obs.sorted(), sorted([]string{gone.srv.URL + " disabled", moved.srv.URL + " retried"}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the observer was told %v, want %v", got, want)
		}
		eps, err := db.Endpoints(ctx)
		if err != nil || len(eps) != 2 {
			t.Fatal(eps, err)
		}
		for _, e := range eps {
			if disabled := !e.DisabledAt.IsZero(); disabled != (e.URL == gone.srv.URL) || e.Pending != 1 {
				t.Errorf("endpoint %+v: want only %s disabled, one delivery pending each", e, gone.srv.URL)
			}
		}
		if got := target.ids(); len(got) != 0 {
			t.Errorf("the redirect was followed: %v", got)
		}
		for _, d := range deliveries(t, db) {
			if d.Endpoint == moved.srv.URL && (d.LastStatus != http.StatusFound || !d.NextAttemptAt.Equal(c.Now().Add(5*time.Second))) {
				t.Errorf("redirected delivery %+v, want a retry in 5s", d)
			}
		}
		more := addMessages(t, db, 1, billing.MsgPaymentSucceeded)
		moveTo(c, c.Now().Add(time.Hour))
		step(t, s)
		if got := gone.ids(); len(got) != 1 {
			t.Errorf("the disabled endpoint got %v, want nothing after its 410", got)
		}
		answer = http.StatusNoContent
		if err := db.EnableEndpoint(ctx, gone.srv.URL, c.Now()); err != nil {
			t.Fatal(err)
		}
		step(t, s)
		if got, want := gone.ids(), append(ids, append(ids, more...)...); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Errorf("once enabled the endpoint got %v, want %v", got, want)
		}
		if n := obs.count(gone.srv.URL + " delivered"); n != 2 || obs.delivered != 2 {
			t.Errorf("the observer was told of %d deliveries to %s (and %d lags), want 2", n, gone.srv.URL, obs.delivered)
		}
	})
}

// sorted is a sorted copy: attempts run at once (Sender.Workers), so
// messages may arrive in any order.
func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// outcomes is an Observer that keeps what it is told.
type outcomes struct {
	mu        sync.Mutex
	seen      []string
	delivered int
}

func (o *outcomes) Attempted(endpoint, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, endpoint+" "+outcome)
}

func (o *outcomes) Delivered(time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered++
}

func (o *outcomes) sorted() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return sorted(o.seen)
}

func (o *outcomes) count(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, v := range o.seen {
		if v == s {
			n++
		}
	}
	return n
}

// A sender that crashed mid-attempt (claimed, never settled) loses
// nothing: the delivery is claimed again once the lease runs out.
func TestSenderRetriesACrashedAttempt(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openDB(t, url)
		c := newClock()
		r := newReceiver(t)
		r.now = c.Now
		s := newSender(db, c, r)
		start(t, s)
		ids := addMessages(t, db, 1, billing.MsgCreditsGranted)
		if _, err := db.Dispatch(ctx, r.srv.URL, nil, 10, c.Now()); err != nil {
			t.Fatal(err)
		}
		crashed, err := db.ClaimDelivery(ctx, c.Now(), appwebhook.DefaultLease)
		if err != nil || crashed == nil {
			t.Fatal(crashed, err)
		}
		moveTo(c, c.Now().Add(appwebhook.DefaultLease-time.Second))
		if step(t, s); len(r.ids()) != 0 {
			t.Fatal("claimed again while the lease held")
		}
		moveTo(c, c.Now().Add(time.Second))
		if n := step(t, s); n != 1 || fmt.Sprint(r.ids()) != fmt.Sprint(ids) {
			t.Fatalf("after the lease: delivered %d, receiver got %v; want %v", n, r.ids(), ids)
		}
		// The crashed sender coming back cannot undo the later claim.
		crashed.Status, crashed.NextAttemptAt = appwebhook.StatusPending, c.Now()
		if err := db.SettleDelivery(ctx, crashed, appwebhook.Attempt{At: c.Now(), Error: "late"}); err != nil {
			t.Fatal(err)
		}
		if d := deliveries(t, db)[0]; d.Status != appwebhook.StatusDelivered || d.Attempts != 2 {
			t.Errorf("after the stale settle: %+v, want delivered at attempt 2", d)
		}
	})
}

// Two instances on one PostgreSQL database never attempt one message at
// the same time, and deliver every message.
func TestSenderTwoInstances(t *testing.T) {
	url := storetest.PostgresURL(t)
	db1, db2 := openDB(t, url), openDB(t, url)
	r := newReceiver(t)
	r.hold = 5 * time.Millisecond
	failedOnce := sync.Map{}
	// Every message fails its first attempt, answered after the other
	// instance may have claimed it.
	r.answer = func(id string) int {
		if _, again := failedOnce.LoadOrStore(id, true); again {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	}
	c := newClock()
	r.now = c.Now
	s1, s2 := newSender(db1, c, r), newSender(db2, c, r)
	start(t, s1)
	var want []string
	for range 10 {
		want = append(want, addMessages(t, db1, 5, billing.MsgInvoicePaid)...)
	}
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		for _, s := range []*appwebhook.Sender{s1, s2, s1, s2} {
			wg.Go(func() {
				if _, err := s.Step(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		moveTo(c, c.Now().Add(10*time.Second)) // past the first retry
	}
	r.mu.Lock()
	if len(r.overlap) > 0 {
		t.Errorf("attempts of one message overlapped: %v", r.overlap)
	}
	r.mu.Unlock()
	got := map[string]int{}
	for _, id := range r.ids() {
		got[id]++
	}
	for _, id := range want {
		if got[id] != 2 {
			t.Errorf("%s attempted %d times, want 2 (a failure, then delivered)", id, got[id])
		}
	}
	if pending, failed, err := db2.Backlog(context.Background()); err != nil || pending != 0 || failed != 0 {
		t.Errorf("backlog %d pending, %d failed (%v); want none", pending, failed, err)
	}
}

// A slow endpoint holds up only the attempts waiting on it: the other
// endpoint's messages arrive while it still answers nothing.
func TestSenderSlowEndpointHoldsUpNoOther(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		slow, fast := newReceiver(t), newReceiver(t)
		release := make(chan struct{})
		slow.answer = func(string) int { <-release; return http.StatusOK }
		s := newSender(db, nil, slow, fast)
		start(t, s)
		ids := addMessages(t, db, 3, billing.MsgInvoicePaid)
		done := make(chan int)
		go func() {
			n, err := s.Step(context.Background())
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
		deadline := time.After(10 * time.Second)
		for len(fast.ids()) < len(ids) {
			select {
			case <-deadline:
				close(release)
				<-done
				t.Fatalf("the fast endpoint got %v while the slow one held its attempts, want %v", fast.ids(), ids)
			case <-time.After(10 * time.Millisecond):
			}
		}
		close(release)
		if n := <-done; n != 2*len(ids) {
			t.Errorf("Step delivered %d, want %d", n, 2*len(ids))
		}
	})
}

// A token in an endpoint's URL stays out of the logs and of the errors the
// dashboard shows, even when net/http quotes the URL in its error.
func TestSenderKeepsURLTokensOut(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		var logs billingtest.Buffer
		s := newSender(db, nil)
		s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		s.URLs = []string{"http://127.0.0.1:1/hook?token=s3cr3t-t0ken"} // nothing listens on port 1
		start(t, s)
		addMessages(t, db, 1, billing.MsgInvoicePaid)
		step(t, s)
		ds := deliveries(t, db)
		if len(ds) != 1 || ds[0].LastError == "" {
			t.Fatalf("deliveries %+v, want one failed attempt", ds)
		}
		attempts, err := db.Attempts(t.Context(), ds[0].ID)
		if err != nil || len(attempts) != 1 {
			t.Fatal(attempts, err)
		}
		for what, text := range map[string]string{"log": logs.String(), "last_error": ds[0].LastError, "attempt": attempts[0].Error} {
			if strings.Contains(text, "s3cr3t") || !strings.Contains(text, "127.0.0.1:1/hook") {
				t.Errorf("%s %q: want the endpoint shown without its token", what, text)
			}
		}
	})
}
