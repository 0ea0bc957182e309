package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

// appMessage is a message as the feed serves it.
type appMessage struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	CreatedAt   string          `json:"created_at"`
	WorkspaceID string          `json:"workspace_id"`
	Sequence    int64           `json:"sequence"`
	Data        json.RawMessage `json:"data"`
	Previous    json.RawMessage `json:"previous"`
}

type feedPage struct {
	Data    []appMessage `json:"data"`
	Next    string       `json:"next"`
	HasMore bool         `json:"has_more"`
}

// feedReader follows the feed as an app would, and checks what every
// message promises: an id of its own, a time, and a sequence one above the
// workspace's last.
type feedReader struct {
	h     *harness
	query url.Values // filters; after and limit are the reader's
	after string
	limit int
	seen  map[string]bool
	seq   map[string]int64
}

func (h *harness) feed(query url.Values) *feedReader {
	return &feedReader{h: h, query: query, limit: 3, seen: map[string]bool{}, seq: map[string]int64{}}
}

// page asks for one page after f.after.
func (f *feedReader) page() feedPage {
	f.h.t.Helper()
	q := url.Values{"after": {f.after}, "limit": {strconv.Itoa(f.limit)}}
	for k, v := range f.query {
		q[k] = v
	}
	var p feedPage
	if code := f.h.get("/api/billing/events/feed?"+q.Encode(), &p); code != http.StatusOK {
		f.h.t.Fatalf("GET feed after %q: %d", f.after, code)
	}
	return p
}

// read returns the messages committed since the last read, following next
// page by page. An unfiltered reader reads until it has every message
// stored: on PostgreSQL a committed message is served only once every
// transaction older than it, on the whole server, has ended, and the
// server is shared with other tests.
func (f *feedReader) read() []appMessage {
	f.h.t.Helper()
	var out []appMessage
	for deadline := time.Now().Add(30 * time.Second); ; {
		p := f.page()
		if len(p.Data) == 0 {
			if p.Next != f.after || p.HasMore {
				f.h.t.Errorf("empty page after %q: next %q, has_more %v; want next = after", f.after, p.Next, p.HasMore)
			}
			if len(f.query) > 0 || len(f.seen) >= f.h.count("app_messages") {
				return out
			}
			if time.Now().After(deadline) {
				f.h.t.Fatalf("the feed served %d messages of the %d stored", len(f.seen), f.h.count("app_messages"))
			}
			time.Sleep(10 * time.Millisecond) // polls the horizon: no event tells when it moves
			continue
		}
		for _, m := range p.Data {
			f.check(m)
		}
		out = append(out, p.Data...)
		f.after = p.Next
	}
}

func (f *feedReader) check(m appMessage) {
	t := f.h.t
	t.Helper()
	if !strings.HasPrefix(m.ID, "msg_") || len(m.ID) != len("msg_")+26 || f.seen[m.ID] {
		t.Errorf("message id %q: want msg_ and 26 characters, once", m.ID)
	}
	f.seen[m.ID] = true
	if !billing.IsMessageType(m.Type) {
		t.Errorf("message %s: type %q", m.ID, m.Type)
	}
	if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil {
		t.Errorf("message %s: created_at %q: %v", m.ID, m.CreatedAt, err)
	}
	if want := f.seq[m.WorkspaceID] + 1; m.Sequence != want && f.query.Get("types") == "" {
		t.Errorf("message %s (%s) of %s: sequence %d, want %d", m.ID, m.Type, m.WorkspaceID, m.Sequence, want)
	}
	f.seq[m.WorkspaceID] = m.Sequence
}

// types lists the messages' types, sorted: the order of one transaction's
// messages is the rules', not a promise.
func types(ms []appMessage) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Type)
	}
	slices.Sort(out)
	return out
}

// sameJSON reports whether two JSON values are the same value.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// listItem finds in a list of the app API the object whose field is id.
func (h *harness) listItem(path, field, id string) json.RawMessage {
	h.t.Helper()
	var items []map[string]json.RawMessage
	if code := h.get(path, &items); code != http.StatusOK {
		h.t.Fatalf("GET %s: %d", path, code)
	}
	for _, it := range items {
		var v string
		if json.Unmarshal(it[field], &v) == nil && v == id {
			b, _ := json.Marshal(it)
			return b
		}
	}
	h.t.Fatalf("GET %s: no %s %s", path, field, id)
	return nil
}

// checkData asserts that a message's data is what the app API answers now
// for the object it tells of.
func (h *harness) checkData(m appMessage) {
	h.t.Helper()
	ws := "/api/billing/workspaces/" + m.WorkspaceID
	var d map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &d); err != nil {
		h.t.Fatalf("message %s data: %v", m.Type, err)
	}
	id := func(field string) string {
		var s string
		_ = json.Unmarshal(d[field], &s)
		return s
	}
	var want json.RawMessage
	switch typ := m.Type; {
	case strings.HasPrefix(typ, "subscription."):
		want = h.listItem(ws+"/subscriptions", "stripe_subscription_id", id("stripe_subscription_id"))
	case strings.HasPrefix(typ, "invoice."):
		want = h.listItem(ws+"/invoices", "stripe_invoice_id", id("stripe_invoice_id"))
	case strings.HasPrefix(typ, "payment."):
		want = h.listItem(ws+"/payments", "stripe_payment_intent_id", id("stripe_payment_intent_id"))
	case typ == billing.MsgEntitlementsChanged:
		var e json.RawMessage
		h.get(ws+"/entitlements", &e)
		want = e
	case strings.HasPrefix(typ, "credits."):
		var w struct {
			Credits json.RawMessage `json:"credits"`
		}
		h.get(ws, &w)
		if !sameJSON(d["credits"], w.Credits) {
			h.t.Errorf("%s credits = %s, want the balance after the change %s", typ, d["credits"], w.Credits)
		}
		if typ == billing.MsgCreditsLow {
			return
		}
		var entry struct {
			Key string `json:"idempotency_key"`
		}
		_ = json.Unmarshal(d["entry"], &entry)
		if got, want := d["entry"], h.listItem(ws+"/credits/ledger", "idempotency_key", entry.Key); !sameJSON(got, want) {
			h.t.Errorf("%s entry = %s, want the ledger's %s", typ, got, want)
		}
		return
	}
	if !sameJSON(m.Data, want) {
		h.t.Errorf("%s data = %s\nwant the app API's %s", m.Type, m.Data, want)
	}
}

// step is one Stripe event, or one act of the app or of time, and the
// messages it must cause.
type step struct {
	name string
	do   func(h *harness)
	want []string
	// previous is the previous field of the message of that type.
	previous map[string]string
}

func event(o trigger.Options) func(h *harness) {
	return func(h *harness) { h.deliver(o, billing.StatusProcessed) }
}

// runSteps runs steps in order, each checked against the feed.
func runSteps(t *testing.T, h *harness, f *feedReader, steps []step) {
	t.Helper()
	for _, s := range steps {
		s.do(h)
		got := f.read()
		want := slices.Clone(s.want)
		slices.Sort(want)
		if g := types(got); !slices.Equal(g, want) {
			t.Errorf("%s: messages %v, want %v", s.name, g, want)
		}
		for _, m := range got {
			h.checkData(m)
			if p, ok := s.previous[m.Type]; ok && !sameJSON(m.Previous, json.RawMessage(p)) {
				t.Errorf("%s: %s previous = %s, want %s", s.name, m.Type, m.Previous, p)
			} else if !ok && len(m.Previous) > 0 && m.Type != billing.MsgEntitlementsChanged {
				t.Errorf("%s: %s has previous %s, want none", s.name, m.Type, m.Previous)
			}
		}
	}
}

// TestMessagesOfASubscriptionsLife follows one workspace through Stripe's
// events of a real subscription's life, and the grace of a failed renewal
// running out, and checks each message the app is told, its body against
// the app API, and the feed's sequence.
func TestMessagesOfASubscriptionsLife(t *testing.T) {
	clock := billingtest.NewClock(at(time.Hour))
	h := setupAt(t, clock)
	const ws, day = "ws_msg", 24 * time.Hour
	f := h.feed(nil)
	o := func(typ string, d time.Duration, set map[string]any) trigger.Options {
		return trigger.Options{Type: typ, Workspace: ws, Created: at(d), Set: set}
	}
	team := func(o trigger.Options) trigger.Options { o.PriceID = "price_TestTeam"; return o }
	feb := map[string]any{"data.object.items.data.0.current_period_start": 1769904000,
		"data.object.items.data.0.current_period_end": 1772323200}
	renewal := func(id string, start int64, kv ...any) map[string]any {
		m := map[string]any{"data.object.id": id, "data.object.billing_reason": "subscription_cycle",
			"data.object.lines.data.0.period.start": start, "data.object.lines.data.0.period.end": start + 28*86400}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	const (
		activated, updated, canceling, resumed = billing.MsgSubscriptionActivated, billing.MsgSubscriptionUpdated,
			billing.MsgSubscriptionCanceling, billing.MsgSubscriptionResumed
		pastDue, canceled, invoicePaid, invoiceFailed = billing.MsgSubscriptionPastDue, billing.MsgSubscriptionCanceled,
			billing.MsgInvoicePaid, billing.MsgInvoicePaymentFailed
		paymentOK, paymentFailed, granted, expired = billing.MsgPaymentSucceeded, billing.MsgPaymentFailed,
			billing.MsgCreditsGranted, billing.MsgCreditsExpired
		takenBack, entitlements = billing.MsgCreditsTakenBack, billing.MsgEntitlementsChanged
	)
	checkEntitlements := func(h *harness) {
		if _, err := h.svc.CheckEntitlements(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	runSteps(t, h, f, []step{
		// Checkout alone names no price: the app hears of the subscription
		// from its own event, with its plan.
		{"checkout", event(o("checkout.session.completed", 0, nil)), nil, nil},
		{"subscription created", event(o("customer.subscription.created", time.Second, nil)),
			[]string{activated, entitlements, granted},
			map[string]string{entitlements: `{"entitled":false,"reason":"no_subscription","plan":null}`}},
		{"first invoice paid", event(o("invoice.paid", 2*time.Second, nil)), []string{invoicePaid}, nil},
		{"credits bought", event(trigger.Options{Type: "checkout.session.completed", Variant: "payment", Workspace: ws, Created: at(day)}),
			[]string{paymentOK, granted}, nil},
		{"its payment intent succeeded", event(o("payment_intent.succeeded", day+time.Second, nil)), nil, nil},
		{"upgrade to team", event(team(o("customer.subscription.updated", 2*day, nil))),
			[]string{updated, entitlements, granted},
			map[string]string{updated: `{"plan":"pro","price":"price_TestPro"}`,
				entitlements: `{"entitled":true,"reason":"active","plan":"pro"}`}},
		{"seats", event(team(o("customer.subscription.updated", 3*day, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3}))),
			[]string{updated}, map[string]string{updated: `{"quantity":1}`}},
		{"cancel at period end", event(team(o("customer.subscription.updated", 4*day, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3, "data.object.cancel_at_period_end": true}))),
			[]string{canceling, entitlements},
			map[string]string{entitlements: `{"entitled":true,"reason":"active","plan":"team"}`}},
		{"resumed", event(team(o("customer.subscription.updated", 5*day, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3}))),
			[]string{resumed, entitlements},
			map[string]string{entitlements: `{"entitled":true,"reason":"canceling","plan":"team"}`}},
		// A renewal changes the period and the credits, not the entitlement.
		{"renewal paid", event(team(o("invoice.paid", 31*day, renewal("in_Feb", 1769904000)))), []string{invoicePaid, expired, granted}, nil},
		{"renewal's subscription update", event(team(o("customer.subscription.updated", 31*day+time.Second, merge(feb, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3})))), nil, nil},
		{"next renewal fails", event(team(o("invoice.payment_failed", 59*day, renewal("in_Mar", 1772323200)))),
			[]string{invoiceFailed, pastDue, entitlements},
			map[string]string{entitlements: `{"entitled":true,"reason":"active","plan":"team"}`}},
		{"its subscription update", event(team(o("customer.subscription.updated", 59*day+time.Second, merge(feb, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3, "data.object.status": "past_due"})))), nil, nil},
		{"second attempt fails", event(team(o("invoice.payment_failed", 62*day, renewal("in_Mar", 1772323200, "data.object.attempt_count", 2)))),
			[]string{invoiceFailed}, nil},
		{"a card declined", event(o("payment_intent.payment_failed", 63*day, map[string]any{"data.object.id": "pi_Declined"})),
			[]string{paymentFailed}, nil},
		{"the grace runs out", func(h *harness) { clock.Add(59*day + billing.DefaultPastDueGrace); checkEntitlements(h) },
			[]string{entitlements}, map[string]string{entitlements: `{"entitled":true,"reason":"past_due_grace","plan":"team"}`}},
		{"checked again", checkEntitlements, nil, nil},
		{"refund of the credits", event(o("charge.refunded", 70*day, nil)), []string{takenBack}, nil},
		// The subscription's credits end with it.
		{"canceled", event(team(o("customer.subscription.deleted", 80*day, map[string]any{"data.object.quantity": 3, "data.object.items.data.0.quantity": 3}))),
			[]string{canceled, entitlements, expired},
			map[string]string{entitlements: `{"entitled":false,"reason":"past_due","plan":"team"}`}},
	})
}

// TestMessagesOfTrialsAndLinks: a trial's conversion is an update, not an
// activation, and an incomplete subscription's first payment is; a
// subscription first seen without a workspace is activated when checkout
// links it; what has no workspace tells nothing. The workspaces' events
// interleave, and each workspace's sequence counts on its own.
func TestMessagesOfTrialsAndLinks(t *testing.T) {
	clock := billingtest.NewClock(at(time.Hour))
	h := setupAt(t, clock)
	f := h.feed(nil)
	const day = 24 * time.Hour
	trialEnd := at(14 * day).Unix()
	trial := func(typ string, d time.Duration, set map[string]any) func(*harness) {
		return event(trigger.Options{Type: typ, Workspace: "ws_trial", Created: at(d),
			Set: merge(map[string]any{"data.object.trial_end": trialEnd, "data.object.trial_start": t0.Unix()}, set)})
	}
	inc := func(typ string, d time.Duration, set map[string]any) func(*harness) {
		return event(trigger.Options{Type: typ, Workspace: "ws_inc", Created: at(d), Set: set})
	}
	// The customer's subscription names no workspace: only checkout does.
	unlinked := func(typ string, d time.Duration) func(*harness) {
		return event(trigger.Options{Type: typ, Workspace: "ws_late", Created: at(d), Set: map[string]any{"data.object.metadata": map[string]any{},
			"data.object.lines.data.0.metadata": map[string]any{}, "data.object.parent.subscription_details.metadata": map[string]any{}}})
	}
	const (
		activated, updated, trialWillEnd = billing.MsgSubscriptionActivated, billing.MsgSubscriptionUpdated, billing.MsgSubscriptionTrialWillEnd
		entitlements, granted            = billing.MsgEntitlementsChanged, billing.MsgCreditsGranted
	)
	runSteps(t, h, f, []step{
		{"trial starts", trial("customer.subscription.created", 0, map[string]any{"data.object.status": "trialing"}),
			[]string{activated, entitlements}, nil},
		{"incomplete subscription", inc("customer.subscription.created", 0, map[string]any{"data.object.status": "incomplete"}),
			[]string{entitlements}, map[string]string{entitlements: `{"entitled":false,"reason":"no_subscription","plan":null}`}},
		{"subscription of a customer no workspace claims yet", unlinked("customer.subscription.created", 0), nil, nil},
		{"its invoice paid", unlinked("invoice.paid", time.Second), nil, nil},
		{"trial will end", trial("customer.subscription.trial_will_end", 11*day, map[string]any{"data.object.status": "trialing"}),
			[]string{trialWillEnd}, nil},
		{"the same reminder by another event", trial("customer.subscription.trial_will_end", 11*day+time.Second, map[string]any{"data.object.status": "trialing"}),
			nil, nil},
		{"incomplete paid", inc("customer.subscription.updated", time.Second, nil),
			[]string{activated, entitlements}, map[string]string{entitlements: `{"entitled":false,"reason":"incomplete","plan":"pro"}`}},
		{"checkout links the customer", event(trigger.Options{Type: "checkout.session.completed", Workspace: "ws_late", Created: at(2 * time.Second)}),
			[]string{activated, entitlements, granted}, nil},
		{"trial converts", trial("customer.subscription.updated", 14*day, map[string]any{"data.object.status": "active"}),
			[]string{updated, entitlements},
			map[string]string{updated: `{"status":"trialing"}`, entitlements: `{"entitled":true,"reason":"trialing","plan":"pro"}`}},
	})
	for ws, want := range map[string]int64{"ws_trial": 5, "ws_inc": 3, "ws_late": 3} {
		if f.seq[ws] != want {
			t.Errorf("%s: last sequence %d, want %d", ws, f.seq[ws], want)
		}
	}
	var orphans int
	if err := h.sqlDB().QueryRow(`SELECT COUNT(*) FROM app_messages WHERE workspace_id = ''`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d messages without a workspace (%v)", orphans, err)
	}
}

// setupWith is setup with options on the service.
func setupWith(t *testing.T, opts ...func(*billing.Service)) *harness {
	t.Helper()
	t.Parallel()
	logs := &billingtest.Buffer{}
	return serve(t, storetest.Open(t, slog.New(slog.NewJSONHandler(logs, nil))), logs, opts...)
}

// credits.low is told once per crossing of the threshold: a second spend
// below it says nothing, a top-up above it re-arms it.
func TestMessageCreditsLow(t *testing.T) {
	h := setupWith(t, func(s *billing.Service) { s.CreditsLow = 300 })
	f := h.feed(nil)
	consume := func(amount int, key string) func(*harness) {
		return func(h *harness) {
			h.mustConsume("ws_1", fmt.Sprintf(`{"amount":%d,"idempotency_key":%q}`, amount, key), 200)
		}
	}
	low := billing.MsgCreditsLow
	runSteps(t, h, f, []step{
		// No credits yet is not a fall.
		{"subscribed", event(trigger.Options{Type: "customer.subscription.created", Created: at(0)}),
			[]string{billing.MsgSubscriptionActivated, billing.MsgEntitlementsChanged}, nil},
		{"first period paid", event(trigger.Options{Type: "invoice.paid", Created: at(time.Second)}),
			[]string{billing.MsgInvoicePaid, billing.MsgCreditsGranted}, nil},
		{"spent to 200", consume(800, "a"), []string{low}, nil},
		{"spent to 150", consume(50, "b"), nil, nil},
		{"the same spend again", consume(50, "b"), nil, nil},
		{"bought 500", event(trigger.Options{Type: "payment_intent.succeeded", Created: at(2 * time.Second)}),
			[]string{billing.MsgPaymentSucceeded, billing.MsgCreditsGranted}, nil},
		{"spent to 250", consume(400, "c"), []string{low}, nil},
	})
	var d struct {
		Credits   billing.CreditsView `json:"credits"`
		Threshold int64               `json:"threshold"`
	}
	all := h.feed(nil).read()
	_ = json.Unmarshal(all[len(all)-1].Data, &d)
	if d.Threshold != 300 || d.Credits.Balance != 250 {
		t.Errorf("last credits.low data = %+v, want the balance 250 and the threshold 300", d)
	}
}

// Messages are derived from state: an event delivered twice, replayed, or
// older than what was applied changes nothing and says nothing.
func TestMessagesNotRepeated(t *testing.T) {
	h := setup(t)
	f := h.feed(nil)
	var payloads [][]byte
	var ids []string
	for i, o := range []trigger.Options{
		{Type: "customer.subscription.created"},
		{Type: "invoice.paid"},
		{Type: "payment_intent.succeeded"},
		{Type: "payment_intent.payment_failed", Set: map[string]any{"data.object.id": "pi_Declined"}},
		{Type: "invoice.payment_failed", Set: map[string]any{"data.object.id": "in_Mar"}},
		{Type: "customer.subscription.updated", Set: map[string]any{"data.object.cancel_at_period_end": true}},
		{Type: "charge.refunded"},
	} {
		o.Created = at(time.Duration(i) * time.Second)
		o.EventID = fmt.Sprintf("evt_once_%d", i)
		p := h.build(o)
		if r := h.send(p); r.Code != http.StatusOK || r.Status != "processed" {
			t.Fatalf("%s: %d %s", o.Type, r.Code, r.Status)
		}
		payloads, ids = append(payloads, p), append(ids, o.EventID)
	}
	if n := len(f.read()); n < 10 {
		t.Fatalf("the events made %d messages", n)
	}
	for i, p := range payloads {
		if r := h.send(p); r.Code != http.StatusOK || r.Status != "duplicate" {
			t.Errorf("%s again: %d %s, want duplicate", ids[i], r.Code, r.Status)
		}
		if _, err := h.svc.Replay(t.Context(), ids[i]); err != nil {
			t.Errorf("replay %s: %v", ids[i], err)
		}
		if got := f.read(); len(got) > 0 {
			t.Errorf("%s delivered again and replayed: %v", ids[i], types(got))
		}
	}
	// Stripe's second event of one change, and an event older than the last.
	h.deliver(trigger.Options{Type: "invoice.payment_succeeded", Created: at(time.Second)}, billing.StatusProcessed)
	h.deliver(trigger.Options{Type: "customer.subscription.updated", Created: at(time.Second),
		Set: map[string]any{"data.object.status": "past_due"}}, billing.StatusStale)
	if got := f.read(); len(got) > 0 {
		t.Errorf("a second event of one change and a stale one: %v", types(got))
	}
}

// failFinishing makes the events named doomed fail as they are written
// processed, the last write of their transaction, after the rules and the
// messages: a real failure inside the event's transaction. (A group commit
// inserts a new event as processed; an event applied alone is updated.) It
// returns the repair.
func failFinishing(t *testing.T, h *harness, doomed ...string) (repair func()) {
	t.Helper()
	ids := "'" + strings.Join(doomed, "', '") + "'"
	stmts := []string{`CREATE FUNCTION fail_finish() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
		`CREATE TRIGGER fail_finish BEFORE INSERT OR UPDATE ON events FOR EACH ROW
		WHEN (NEW.status = 'processed' AND NEW.id IN (` + ids + `)) EXECUTE FUNCTION fail_finish()`}
	drops := []string{`DROP TRIGGER fail_finish ON events`, `DROP FUNCTION fail_finish`}
	if !storetest.Postgres() {
		stmts, drops = nil, nil
		for _, op := range []string{"INSERT", "UPDATE"} {
			stmts = append(stmts, `CREATE TRIGGER fail_finish_`+op+` BEFORE `+op+` ON events FOR EACH ROW
			WHEN NEW.status = 'processed' AND NEW.id IN (`+ids+`) BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
			drops = append(drops, `DROP TRIGGER fail_finish_`+op)
		}
	}
	for _, s := range stmts {
		mustExec(t, h.sqlDB(), s)
	}
	return func() {
		for _, s := range drops {
			mustExec(t, h.sqlDB(), s)
		}
	}
}

// An event that fails after its rules ran sends nothing; its retry sends
// its messages once.
func TestMessagesOfAFailedEventRolledBack(t *testing.T) {
	h := setup(t)
	f := h.feed(nil)
	p := h.build(trigger.Options{Type: "customer.subscription.created", EventID: "evt_doomed", Created: at(0)})
	repair := failFinishing(t, h, "evt_doomed")
	if r := h.send(p); r.Code == http.StatusOK {
		t.Fatalf("the doomed event answered %d %s", r.Code, r.Status)
	}
	if n, m := h.count("app_messages"), h.count("workspaces WHERE message_sequence > 0 OR announced_entitlement <> ''"); n != 0 || m != 0 {
		t.Errorf("after a failed event: %d messages, %d marks, want none", n, m)
	}
	repair()
	if r := h.send(p); r.Code != http.StatusOK || r.Status != "processed" {
		t.Fatalf("retry: %d %s", r.Code, r.Status)
	}
	want := []string{billing.MsgEntitlementsChanged, billing.MsgSubscriptionActivated}
	if got := types(f.read()); !slices.Equal(got, want) {
		t.Errorf("retry's messages %v, want %v", got, want)
	}
}

// In a group commit, the event that fails sends nothing and the others'
// messages commit. On SQLite the writer is held while the events queue,
// so that they share one batch.
func TestMessagesOfABatchWithAFailure(t *testing.T) {
	h := setup(t)
	f := h.feed(nil)
	repair := failFinishing(t, h, "evt_doomed")
	defer repair()
	var release func()
	if !storetest.Postgres() {
		conn, err := h.sqlDB().Conn(t.Context()) // the writer's only connection
		if err != nil {
			t.Fatal(err)
		}
		release = func() { conn.Close() }
	}
	workspaces := []string{"ws_b0", "ws_b1", "ws_doomed", "ws_b3"}
	codes := make([]int, len(workspaces))
	var wg sync.WaitGroup
	for i, ws := range workspaces {
		o := trigger.Options{Type: "customer.subscription.created", Workspace: ws, Created: at(0)}
		if ws == "ws_doomed" {
			o.EventID = "evt_doomed"
		}
		p := h.build(o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = post(h.srv.Client(), h.srv.URL, p)
		}()
	}
	if release != nil {
		for deadline := time.Now().Add(10 * time.Second); strings.Count(h.logs.String(), "Received Stripe webhook") < len(workspaces); {
			if time.Now().After(deadline) {
				t.Fatal("the events never arrived")
			}
			time.Sleep(time.Millisecond) // polls the log: the queue tells no one
		}
		release()
	}
	wg.Wait()
	byWS := map[string][]string{}
	for _, m := range f.read() {
		byWS[m.WorkspaceID] = append(byWS[m.WorkspaceID], m.Type)
	}
	for i, ws := range workspaces {
		switch {
		case ws == "ws_doomed" && (codes[i] == http.StatusOK || len(byWS[ws]) > 0):
			t.Errorf("the failed event: %d, messages %v; want an error and none", codes[i], byWS[ws])
		case ws != "ws_doomed" && (codes[i] != http.StatusOK || len(byWS[ws]) != 2):
			t.Errorf("%s: %d, messages %v; want 200 and two", ws, codes[i], byWS[ws])
		}
	}
}

// The feed pages with limit and next, filters by workspace and type, and
// refuses a bad query with a message naming the parameter.
func TestFeedQueries(t *testing.T) {
	h := setup(t)
	for _, ws := range []string{"ws_a", "ws_b"} {
		h.deliver(trigger.Options{Type: "customer.subscription.created", Workspace: ws, Created: at(0)}, billing.StatusProcessed)
		h.deliver(trigger.Options{Type: "invoice.paid", Workspace: ws, Created: at(time.Second)}, billing.StatusProcessed)
	}
	all := h.feed(nil).read() // pages of 3
	if len(all) != 8 {
		t.Fatalf("%d messages, want 8: %v", len(all), types(all))
	}
	filtered := func(q url.Values) []string {
		f := h.feed(q)
		var ids []string
		for _, m := range f.read() {
			ids = append(ids, m.ID)
		}
		return ids
	}
	pick := func(keep func(appMessage) bool) []string {
		var ids []string
		for _, m := range all {
			if keep(m) {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	for _, tt := range []struct {
		query url.Values
		keep  func(appMessage) bool
	}{
		{url.Values{"workspace": {"ws_b"}}, func(m appMessage) bool { return m.WorkspaceID == "ws_b" }},
		{url.Values{"types": {"invoice.paid,credits.granted"}}, func(m appMessage) bool {
			return m.Type == billing.MsgInvoicePaid || m.Type == billing.MsgCreditsGranted
		}},
		{url.Values{"workspace": {"ws_a"}, "types": {"subscription.activated"}}, func(m appMessage) bool {
			return m.WorkspaceID == "ws_a" && m.Type == billing.MsgSubscriptionActivated
		}},
		{url.Values{"workspace": {"ws_none"}}, func(appMessage) bool { return false }},
	} {
		if got, want := filtered(tt.query), pick(tt.keep); !slices.Equal(got, want) {
			t.Errorf("feed?%s = %v, want %v", tt.query.Encode(), got, want)
		}
	}
	var p feedPage
	h.get("/api/billing/events/feed?limit=4", &p)
	if len(p.Data) != 4 || !p.HasMore || p.Data[3].ID != all[3].ID {
		t.Errorf("limit=4: %d messages, has_more %v", len(p.Data), p.HasMore)
	}
	for _, tt := range []struct{ query, mention string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=ten", "limit"},
		{"types=invoice.paid,invoice.sent", "types"}, {"types=", ""},
		{"after=12", "after"}, {"after=a-1", "after"}, {"after=-1-2", "after"},
		{"workspace=" + url.QueryEscape("ws a"), "workspace"},
	} {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		code := h.get("/api/billing/events/feed?"+tt.query, &e)
		if tt.mention == "" {
			if code != http.StatusOK {
				t.Errorf("feed?%s: %d, want 200", tt.query, code)
			}
			continue
		}
		if code != http.StatusBadRequest || !strings.Contains(e.Error.Message, tt.mention) {
			t.Errorf("feed?%s: %d %+v, want 400 naming %s", tt.query, code, e.Error, tt.mention)
		}
	}
}
