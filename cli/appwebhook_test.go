package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/cli"
	"github.com/acme/billing/store/storetest"
)

// appSecret is a Standard Webhooks secret: whsec_ and the base64 of 24 bytes.
const appSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// listening is a running `billing app-webhooks listen`.
type listening struct {
	stdout *billingtest.Buffer
	stderr *watched
	// cursor is where it started, as it told Ready.
	cursor string
	// stop ends it as ^C does and returns its exit code.
	stop func() int
}

// listen starts `billing app-webhooks listen args…` on s's database; env
// adds to s's environment.
func (s *service) listen(env map[string]string, args ...string) *listening {
	s.t.Helper()
	l := &listening{stdout: &billingtest.Buffer{}, stderr: &watched{wrote: make(chan struct{}, 1)}}
	all := maps.Clone(s.env)
	maps.Copy(all, env)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"app-webhooks", "listen", "--interval", "20ms"}, args...), &cli.Env{
			Stdout: l.stdout, Stderr: l.stderr, Getenv: func(k string) string { return all[k] },
			Ready: func(cursor string) { ready <- cursor }})
	}()
	select {
	case l.cursor = <-ready:
	case code := <-done:
		s.t.Fatalf("listen exited %d:\n%s", code, l.stderr)
	case <-time.After(30 * time.Second):
		s.t.Fatalf("listen did not start:\n%s", l.stderr)
	}
	var once sync.Once
	code := 0
	l.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	s.t.Cleanup(func() { l.stop() })
	return l
}

// watched is a buffer that says when it is written to.
type watched struct {
	billingtest.Buffer
	wrote chan struct{}
}

func (w *watched) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitFor waits until the buffer holds n occurrences of s.
func (w *watched) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for strings.Count(w.String(), s) < n {
		select {
		case <-w.wrote:
		case <-timeout:
			t.Fatalf("%d of %d %q:\n%s", strings.Count(w.String(), s), n, s, w)
		}
	}
}

// ids returns the ids of the messages listen printed to stdout, one JSON
// body a line.
func (l *listening) ids(t *testing.T) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(l.stdout.String()) {
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.ID == "" {
			t.Fatalf("listen printed %q, not a message: %v", line, err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// appReceiver is the app's endpoint on loopback: it verifies every request
// with the Standard Webhooks library and passes on the ids it accepted.
type appReceiver struct {
	url string
	got chan string
}

// newAppReceiver verifies with the secret that secret returns, asked at
// each request.
func newAppReceiver(t *testing.T, secret func() string) *appReceiver {
	r := &appReceiver{got: make(chan string, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		wh, err := standardwebhooks.NewWebhook(secret())
		if err == nil {
			err = wh.Verify(body, req.Header)
		}
		var m struct {
			ID string `json:"id"`
		}
		if err == nil {
			err = json.Unmarshal(body, &m)
		}
		if err != nil || m.ID != req.Header.Get(standardwebhooks.HeaderWebhookID) {
			t.Errorf("forwarded message %s does not verify (%v): %s", req.Header.Get("webhook-id"), err, body)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got <- m.ID
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/webhooks/billing"
	return r
}

// wait returns the next n ids received.
func (r *appReceiver) wait(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	timeout := time.After(30 * time.Second)
	for len(ids) < n {
		select {
		case id := <-r.got:
			ids = append(ids, id)
		case <-timeout:
			t.Fatalf("received %d of %d messages: %v", len(ids), n, ids)
		}
	}
	return ids
}

// feedIDs returns the ids of the messages after cursor, in commit order,
// and the cursor after them.
func feedIDs(t *testing.T, databaseURL, cursor string, types ...string) ([]string, string) {
	t.Helper()
	db := storetest.OpenURL(t, databaseURL, slog.New(slog.DiscardHandler))
	storetest.AwaitFeed(t, db)
	page, err := db.Feed(context.Background(), billing.FeedQuery{After: cursor, Limit: billing.MaxFeedLimit, Types: types})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(page.Messages))
	for i, m := range page.Messages {
		ids[i] = m.ID
	}
	return ids, page.Next
}

func (s *service) trigger(args ...string) {
	s.t.Helper()
	if code, out := s.run(append([]string{"trigger"}, args...)...); code != 0 || !strings.Contains(out, `"status":"processed"`) {
		s.t.Fatalf("trigger %v: %d %s", args, code, out)
	}
}

// listen prints, and forwards signed, exactly the messages committed after
// it started, in commit order; the ones before only with --after.
func TestAppWebhooksListen(t *testing.T) {
	s := startService(t)
	s.run("workspaces", "create", "ws_1")
	// A checkout names no price: the subscription's own event tells it.
	s.trigger("checkout.session.completed", "--workspace", "ws_1")
	s.trigger("customer.subscription.created", "--workspace", "ws_1")
	before, _ := feedIDs(t, s.env["DATABASE_URL"], "")
	if len(before) == 0 {
		t.Fatal("the subscription wrote no message")
	}

	r := newAppReceiver(t, func() string { return appSecret })
	l := s.listen(map[string]string{"BILLING_APP_WEBHOOK_SECRET": appSecret}, "--forward-to", r.url)
	for _, args := range [][]string{
		{"invoice.payment_succeeded", "--workspace", "ws_1"},
		{"invoice.paid", "--workspace", "ws_1"},
		{"customer.subscription.updated", "--workspace", "ws_1", "--price", "price_1TeamMonthlyUSD"},
		{"checkout.session.completed", "--workspace", "ws_1", "--mode", "payment"},
	} {
		s.trigger(args...)
	}
	want, _ := feedIDs(t, s.env["DATABASE_URL"], l.cursor)
	if len(want) < 4 {
		t.Fatalf("the events after listen started wrote %d messages: %v", len(want), want)
	}
	got := r.wait(t, len(want))
	l.stderr.waitFor(t, "<-- [204] POST "+r.url, len(want))
	if code := l.stop(); code != 0 {
		t.Errorf("listen exited %d:\n%s", code, l.stderr)
	}
	if printed := l.ids(t); !slices.Equal(printed, want) || !slices.Equal(got, want) {
		t.Errorf("listen printed %v and forwarded %v; want the messages after its start in commit order, %v", printed, got, want)
	}
	for _, id := range before {
		if strings.Contains(l.stdout.String(), id) {
			t.Errorf("listen printed %s, written before it started", id)
		}
	}

	// From the start, one type only, signed with the development secret
	// that it generates, stores and prints.
	var secret string
	printed := make(chan struct{})
	r = newAppReceiver(t, func() string { <-printed; return secret })
	l = s.listen(nil, "--after", "0-0", "--types", billing.MsgSubscriptionActivated, "--workspace", "ws_1", "--forward-to", r.url)
	m := regexp.MustCompile(`signing secret is (whsec_[A-Za-z0-9+/]{32}) `).FindStringSubmatch(l.stderr.String())
	if m == nil {
		t.Fatalf("listen printed no generated secret:\n%s", l.stderr)
	}
	secret = m[1]
	close(printed)
	want, _ = feedIDs(t, s.env["DATABASE_URL"], "0-0", billing.MsgSubscriptionActivated)
	if len(want) != 1 || !slices.Contains(before, want[0]) {
		t.Fatalf("activations = %v, want one, written before the first listen", want)
	}
	got = r.wait(t, 1)
	l.stop()
	if printed := l.ids(t); !slices.Equal(printed, want) || !slices.Equal(got, want) {
		t.Errorf("listen --after 0-0 printed %v and forwarded %v, want %v", printed, got, want)
	}
	again := s.listen(nil, "--forward-to", r.url)
	if again.stop(); !strings.Contains(again.stderr.String(), secret) {
		t.Errorf("a second listen did not sign with the stored secret %s:\n%s", secret, again.stderr)
	}
}

// A receiver that fails or is not there is reported, and listen goes on.
func TestAppWebhooksListenReportsFailures(t *testing.T) {
	s := startService(t)
	s.run("workspaces", "create", "ws_1")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer failing.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	env := map[string]string{"BILLING_APP_WEBHOOK_SECRET": appSecret}
	a, b := s.listen(env, "--forward-to", failing.URL), s.listen(env, "--forward-to", gone.URL)
	s.trigger("checkout.session.completed", "--workspace", "ws_1")
	s.trigger("customer.subscription.created", "--workspace", "ws_1")
	want, _ := feedIDs(t, s.env["DATABASE_URL"], a.cursor)
	if len(want) == 0 {
		t.Fatal("the subscription wrote no message")
	}
	a.stderr.waitFor(t, "<-- [500] POST "+failing.URL, len(want))
	b.stderr.waitFor(t, "<-- error: POST "+gone.URL, len(want))
	for _, l := range []*listening{a, b} {
		if code := l.stop(); code != 0 || !slices.Equal(l.ids(t), want) {
			t.Errorf("listen exited %d having printed %v, want 0 and %v:\n%s", code, l.ids(t), want, l.stderr)
		}
	}
}

func TestAppWebhooksListenRejectsBadFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": storetest.URL(t), "BILLING_PLANS": filepath.Join("..", "plans.json")}
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--types", "invoice.paid,invoice.sent"}, "", `--types: "invoice.sent" is not a message type`},
		{[]string{"--workspace", "ws 1"}, "", `workspace id "ws 1" may only have`},
		{[]string{"--after", "yesterday"}, "", `after "yesterday" is not a cursor`},
		{[]string{"--interval", "0s"}, "", "--interval must be positive"},
		{[]string{"--forward-to", "localhost:3000/hook"}, "", `--forward-to "localhost:3000/hook": want an absolute http or https URL`},
		{[]string{"--forward-to", "http://127.0.0.1:1/", "--secret", "sk_not_this"}, "", "--secret: want whsec_ and the base64"},
		{[]string{"--forward-to", "http://127.0.0.1:1/"}, "whsec_c2hvcnQ=", "BILLING_APP_WEBHOOK_SECRET whsec_****: want whsec_ and the base64"},
	}
	for _, tt := range tests {
		var out billingtest.Buffer
		env["BILLING_APP_WEBHOOK_SECRET"] = tt.env
		code := cli.Run(context.Background(), append([]string{"app-webhooks", "listen"}, tt.args...),
			&cli.Env{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }})
		if code != 1 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("listen %q: %d %s\nwant 1 and %q", tt.args, code, out.String(), tt.want)
		}
	}
}

// serve tells, from its start on, the entitlements that changed by time
// while it was down (a past-due grace ran out), and prunes the messages
// older than BILLING_FEED_RETENTION.
func TestServeTellsTimeAndPrunes(t *testing.T) {
	first := startService(t)
	first.run("workspaces", "create", "ws_1")
	first.trigger("customer.subscription.created", "--workspace", "ws_1")
	first.stop()
	db := storetest.OpenURL(t, first.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	// While serve was down: the subscription went past due long ago, its
	// grace ran out, and its activation passed the retention.
	for _, q := range []string{
		`UPDATE subscriptions SET status = 'past_due', past_due_since = 1 WHERE workspace_id = 'ws_1'`,
		`UPDATE workspaces SET announced_until = 1 WHERE id = 'ws_1'`,
		`UPDATE app_messages SET created_at = 1 WHERE type = 'subscription.activated'`,
	} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	startService(t, map[string]string{"DATABASE_URL": first.env["DATABASE_URL"]})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		storetest.AwaitFeed(t, db)
		page, err := db.Feed(t.Context(), billing.FeedQuery{Limit: billing.MaxFeedLimit})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, m := range page.Messages {
			types = append(types, m.Type)
		}
		last := page.Messages[len(page.Messages)-1]
		told := last.Type == billing.MsgEntitlementsChanged && strings.Contains(string(last.Body), `"reason":"past_due"`)
		if told && !slices.Contains(types, billing.MsgSubscriptionActivated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the feed has %v, last %s: want the activation pruned and entitlements.changed to past_due", types, last.Body)
		}
	}
}
