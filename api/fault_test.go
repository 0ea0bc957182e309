package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/acme/billing/api"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

// TestFaultSQLiteUnwritable breaks the SQLite file as operations break it:
// the disk is full, or the file became read-only. Neither is the event's
// fault and an operator can repair both, so the answer is 503 with
// Retry-After (Stripe retries), never 200 and never a 500 that reads like a
// bug; nothing is written; and once the fault is repaired, the retries bring
// the state to exactly what one clean delivery of each event gives.
func TestFaultSQLiteUnwritable(t *testing.T) {
	if storetest.Postgres() {
		t.Skip("BILLING_TEST_DB=postgres: max_page_count and query_only are SQLite pragmas; " +
			"PostgreSQL's unavailability is TestClusterPostgresOutage")
	}
	t.Parallel()
	events, workspaces := clusterEvents(4)
	for i, p := range events {
		events[i] = padEvent(p)
	}
	want := localReference(t, events, workspaces)
	checkReference(t, want)
	// The first workspace's events are applied before the fault, so that
	// "nothing written" is checked against a database that holds something.
	before, during := events[:20], events[20:]

	tests := []struct {
		name string
		// fault breaks the write pool's only connection and returns the repair.
		fault func(t *testing.T, db *sql.DB) (repair func())
	}{
		{"disk full", func(t *testing.T, db *sql.DB) func() {
			// VACUUM empties the free list, so that any new page must grow
			// the file past max_page_count.
			mustExec(t, db, `VACUUM`)
			if size := pragma(t, db, "page_size"); size >= padding {
				t.Fatalf("page_size %d: padEvent no longer makes an event overflow a page", size)
			}
			limit := pragma(t, db, "max_page_count")
			pages := pragma(t, db, "page_count")
			mustExec(t, db, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
			if got := pragma(t, db, "max_page_count"); got != pages {
				t.Fatalf("max_page_count = %d, want %d", got, pages)
			}
			return func() { mustExec(t, db, fmt.Sprintf(`PRAGMA max_page_count = %d`, limit)) }
		}},
		{"read-only", func(t *testing.T, db *sql.DB) func() {
			mustExec(t, db, `PRAGMA query_only = 1`)
			return func() { mustExec(t, db, `PRAGMA query_only = 0`) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			db := h.sqlDB()
			// A pragma holds for one connection: the writer must have only one.
			if n := db.Stats().MaxOpenConnections; n != 1 {
				t.Fatalf("write pool has %d connections, want 1", n)
			}
			for _, p := range before {
				if r := h.send(p); r.Code != http.StatusOK {
					t.Fatalf("before the fault: %d %+v", r.Code, r.Error)
				}
			}
			stored := snapshot(h)
			repair := tt.fault(t, db)

			// Concurrent senders, so that events fail inside shared group
			// commits as well as alone.
			answers := sendConcurrently(h, during, 4)
			codes := map[int]int{}
			for _, r := range answers {
				codes[r.Code]++
				if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.Error.Code != "unavailable" {
					t.Errorf("%s: got %d %+v Retry-After %q, want 503 unavailable with Retry-After",
						r.Event, r.Code, r.Error, r.Header.Get("Retry-After"))
				}
			}
			if codes[http.StatusOK] > 0 {
				t.Errorf("%d events answered 200 while the database could not be written", codes[http.StatusOK])
			}
			if got := snapshot(h); got != stored {
				t.Errorf("the database changed while it could not be written:\nbefore\n%s\nafter\n%s", stored, got)
			}
			// Recording the failed attempt failed too; that is logged, and
			// changed neither the answer nor anything stored.
			if !strings.Contains(h.logs.String(), "Could not record failed event") {
				t.Error("no log line says the failure could not be recorded")
			}

			repair()
			for i, p := range events {
				r := h.send(p)
				if r.Code != http.StatusOK {
					t.Fatalf("after the repair, event %d: %d %+v", i, r.Code, r.Error)
				}
				if dup := r.Status == "duplicate"; dup != (i < len(before)) {
					t.Errorf("after the repair, event %d (%s): status %q", i, r.Event, r.Status)
				}
			}
			if n := h.count("events"); n != len(events) {
				t.Errorf("%d events stored, want %d", n, len(events))
			}
			for _, ws := range workspaces {
				if got := stateOf(h, ws); got != want[ws] {
					t.Errorf("%s after the repair:\n%s\nwant (one clean delivery each)\n%s", ws, got, want[ws])
				}
			}
		})
	}
}

// padEvent makes an event bigger than a SQLite page, as a real invoice with
// its lines often is. Its row then needs overflow pages of its own, so that a
// full disk refuses every new event, whatever room earlier rows left in the
// pages that exist. Verify and Decode ignore the extra top-level field.
func padEvent(p []byte) []byte {
	return append([]byte(`{"padding":"`+strings.Repeat("x", padding)+`",`), p[1:]...)
}

const padding = 10_000

// localReference applies events once, in order, on a fresh database of the
// suite's backend.
func localReference(t *testing.T, events [][]byte, workspaces []string) map[string]string {
	return referenceOn(t, storetest.URL(t), events, workspaces)
}

// sendConcurrently signs and sends each payload from senders goroutines and
// returns the answers in payload order.
func sendConcurrently(h *harness, payloads [][]byte, senders int) []webhookResponse {
	out := make([]webhookResponse, len(payloads))
	next := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = h.send(payloads[i])
				if out[i].Event == "" {
					out[i].Event = eventID(payloads[i])
				}
			}
		}()
	}
	for i := range payloads {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func mustExec(t *testing.T, db *sql.DB, stmt string) {
	t.Helper()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func pragma(t *testing.T, db *sql.DB, name string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(`PRAGMA ` + name).Scan(&n); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return n
}

// TestFaultSlowloris opens many connections that send their request one
// byte every 100 ms and never finish it. The server must go on answering a
// normal delivery at once on a fresh connection while they hang, and must
// close each slow connection once its read timeout passes, so that slow
// clients cannot hold connections (and goroutines) forever.
func TestFaultSlowloris(t *testing.T) {
	h := setup(t)
	hs := api.NewHTTPServer(h.srv.Config.Handler)
	// The production limits; the test shortens them only to stay quick.
	if hs.ReadHeaderTimeout != 10*time.Second || hs.ReadTimeout != 30*time.Second {
		t.Errorf("NewHTTPServer: ReadHeaderTimeout %v, ReadTimeout %v, want 10s and 30s", hs.ReadHeaderTimeout, hs.ReadTimeout)
	}
	hs.ReadHeaderTimeout, hs.ReadTimeout = 3*time.Second, 4*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + ln.Addr().String()

	const perKind = 50
	const margin = 5 * time.Second
	kinds := []struct {
		name    string
		start   string        // sent at once
		timeout time.Duration // the server limit that must cut it off
	}{
		// The header never ends: ReadHeaderTimeout.
		{"header", "POST " + api.WebhookPath + " HTTP/1.1\r\nHost: billing\r\nX-Slow: ", hs.ReadHeaderTimeout},
		// The header is complete but the body never arrives: ReadTimeout
		// covers the whole request, body included.
		{"body", "POST " + api.WebhookPath + " HTTP/1.1\r\nHost: billing\r\nContent-Type: application/json\r\n" +
			"Stripe-Signature: t=1,v1=00\r\nContent-Length: 100000\r\n\r\n{", hs.ReadTimeout},
	}
	type slow struct {
		kind   string
		limit  time.Duration
		got    []byte
		err    error
		closed time.Duration // after the connection opened
	}
	var open atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var results []*slow
	for _, k := range kinds {
		for range perKind {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			opened := time.Now()
			// Our own deadline only ends the test if the server never does.
			_ = conn.SetReadDeadline(opened.Add(k.timeout + margin))
			if _, err := io.WriteString(conn, k.start); err != nil {
				t.Fatal(err)
			}
			s := &slow{kind: k.name, limit: k.timeout}
			results = append(results, s)
			open.Add(1)
			wg.Add(2)
			go func() { // one byte every 100 ms until the server hangs up
				defer wg.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte{'a'}); err != nil {
							return
						}
					}
				}
			}()
			go func() { // reads whatever the server answers, until it closes
				defer wg.Done()
				s.got, s.err = io.ReadAll(conn)
				s.closed = time.Since(opened)
				open.Add(-1)
			}()
		}
	}
	time.Sleep(500 * time.Millisecond) // every slow client has dripped a few bytes

	// (a) A real delivery on a fresh connection is answered while they hang.
	client := checkedClient(10*time.Second, &http.Transport{DisableKeepAlives: true})
	p := h.build(trigger.Options{Type: "invoice.paid"})
	start := time.Now()
	code, err := post(client, base, p)
	took := time.Since(start)
	if err != nil || code != http.StatusOK {
		t.Errorf("a normal delivery among %d slow clients: %d %v, want 200", len(results), code, err)
	}
	if n := open.Load(); n != int64(len(results)) {
		t.Errorf("%d of %d slow connections were already closed when the normal delivery was answered (after %v): "+
			"it was not answered while they hung", int64(len(results))-n, len(results), took)
	}

	// (b) Each slow connection is closed once its read timeout passes.
	done := make(chan struct{})
	go func() {
		for open.Load() > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hs.ReadTimeout + 2*margin):
		t.Fatalf("%d slow connections still open", open.Load())
	}
	close(stop)
	wg.Wait()
	for _, s := range results {
		switch {
		case errors.Is(s.err, os.ErrDeadlineExceeded):
			t.Errorf("%s: the server did not close a slow connection within %v", s.kind, s.limit+margin)
		case s.closed < s.limit/2:
			t.Errorf("%s: closed after %v, before its %v timeout: a slow but live client was cut off", s.kind, s.closed, s.limit)
		case len(s.got) > 0 && !bytes.HasPrefix(s.got, []byte("HTTP/1.1 4")):
			// The body's read fails in the handler, which answers 400 (body
			// unreadable) before the server closes; anything but a 4xx
			// would be wrong for a request that never finished.
			t.Errorf("%s: a request never finished was answered %q", s.kind, s.got)
		}
	}
	seen := map[string]int{} // what the slow clients saw, for -v
	for _, s := range results {
		what := "closed without an answer"
		if line, _, _ := bytes.Cut(s.got, []byte("\r\n")); len(line) > 0 {
			what = "answered " + string(line)
		} else if s.err != nil {
			what = "reset: " + s.err.Error()[strings.LastIndex(s.err.Error(), ": ")+2:]
		}
		seen[fmt.Sprintf("%s: %s", s.kind, what)]++
	}
	t.Logf("normal delivery answered in %v; slow clients: %v", took, seen)
	// Only the normal delivery is stored.
	if n := h.count("events"); n != 1 {
		t.Errorf("%d events stored, want the normal delivery's alone", n)
	}
}

// TestFaultBadInputs sends what no Stripe delivery looks like: each has a
// defined answer, none crashes the service, and nothing but a verified event
// envelope is ever stored. TestWebhookRefusesAndStoresNothing already covers
// a signed body over 1 MiB (413), a signed body that is not JSON and a signed
// JSON object that is not an event ({"object":"invoice",…}, the same check
// as {"object":"customer"}): 400, nothing stored. They are not repeated here.
func TestFaultBadInputs(t *testing.T) {
	nested := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	// deepEvent is a real event whose metadata.note is n arrays deep.
	deepEvent := func(n int) func(h *harness) []byte {
		return func(h *harness) []byte {
			p := h.build(trigger.Options{Type: "payment_intent.succeeded", Set: map[string]any{"data.object.metadata.note": "NESTED"}})
			return bytes.Replace(p, []byte(`"NESTED"`), nested(n), 1)
		}
	}
	constant := func(b []byte) func(*harness) []byte { return func(*harness) []byte { return b } }
	tests := []struct {
		name    string
		body    func(h *harness) []byte
		signed  bool
		chunked bool // no Content-Length: the size is known only by reading
		code    int
		message string // in the JSON error
		failed  bool   // the event is stored as failed, and nothing else
	}{
		// The size is checked before the signature, so no one without the
		// secret makes the service read or hash more than 1 MiB.
		{name: "unsigned body over 1 MiB, chunked", body: constant(bytes.Repeat([]byte("x"), api.MaxWebhookBody+1)),
			chunked: true, code: 413, message: "larger than"},
		{name: "100000 levels of [, unsigned", body: constant(nested(100_000)), code: 400, message: "missing Stripe-Signature header"},
		// Go's JSON parser refuses nesting deeper than 10000 with an error
		// (no stack overflow), so even a signed body this deep is no event.
		{name: "100000 levels of [, signed", body: constant(nested(100_000)), signed: true, code: 400, message: "not a Stripe event"},
		// The same limit makes the envelope itself unreadable: the event has
		// no id it could be stored and retried under.
		{name: "event with metadata 10000 levels deep, signed", body: deepEvent(10_000), signed: true, code: 400, message: "not a Stripe event"},
		// Within the limit the envelope is read but its object is no Stripe
		// object: by design (TestUndecodableEventFailsAndIsKept), stored as
		// failed and answered 500, so that a fix can replay it.
		{name: "event with metadata 9000 levels deep, signed", body: deepEvent(9_000), signed: true, code: 500,
			message: "event not applied", failed: true},
		{name: "invalid UTF-8, unsigned", body: constant([]byte("{\"object\":\"event\",\"id\":\"evt_\xff\xfe\"}")), code: 400,
			message: "missing Stripe-Signature header"},
		// No Stripe id has a control character, and PostgreSQL's text
		// columns refuse NUL: such an envelope is no event on either database.
		{name: "NUL in the event id, signed", body: func(h *harness) []byte {
			return h.build(trigger.Options{Type: "payment_intent.succeeded", EventID: "evt_\x00"})
		}, signed: true, code: 400, message: "not a Stripe event"},
		{name: "signed []", body: constant([]byte(`[]`)), signed: true, code: 400, message: "not a Stripe event"},
		{name: "signed null", body: constant([]byte(`null`)), signed: true, code: 400, message: "not a Stripe event"},
		{name: `signed "x"`, body: constant([]byte(`"x"`)), signed: true, code: 400, message: "not a Stripe event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			body := tt.body(h)
			var reader io.Reader = bytes.NewReader(body)
			if tt.chunked {
				reader = io.MultiReader(reader) // hides the length from the client
			}
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+api.WebhookPath, reader)
			if tt.signed {
				r.Header.Set("Stripe-Signature", webhook.Sign(body, testSecret, time.Now()))
			}
			got := h.do(r)
			if got.Code != tt.code || !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("got %d %+v, want %d %q", got.Code, got.Error, tt.code, tt.message)
			}
			for _, table := range billingTables {
				want := 0
				if tt.failed && table == "events" {
					want = 1
				}
				if n := h.count(table); n != want {
					t.Errorf("%s has %d rows, want %d", table, n, want)
				}
			}
			if !tt.failed {
				return
			}
			e, _ := h.event(got.Event)
			if e.Status != "failed" || e.LastError == nil || !strings.Contains(*e.LastError, "decode payment_intent.succeeded") {
				t.Errorf("event = %+v, want failed with the decode error", e)
			}
			if p := storedPayload(h, got.Event); !bytes.Equal(p, body) {
				t.Errorf("stored payload differs from the %d bytes received (%d bytes)", len(body), len(p))
			}
		})
	}
}

// TestFaultInvalidUTF8InSignedEvent: Stripe sends UTF-8, but a signed event
// whose strings hold invalid bytes must not crash the service, nor be
// accepted by SQLite and refused by PostgreSQL's text columns. The choice:
// such an event is applied, each invalid byte read as U+FFFD (as Go's JSON
// decoder reads strings), and answered 200 on both databases, while the
// stored payload keeps the exact bytes received. A \u0000 escape is valid
// UTF-8 but no PostgreSQL text either: it is read as U+FFFD too.
func TestFaultInvalidUTF8InSignedEvent(t *testing.T) {
	// Invalid bytes, a truncated sequence before '(', an encoded surrogate.
	const bad = "\xff\xfe\xc3(\xed\xa0\x80"
	var badRead string // what a JSON decoder makes of it
	if err := json.Unmarshal([]byte(`"`+bad+`"`), &badRead); err != nil || !utf8.ValidString(badRead) || badRead == bad {
		t.Fatalf("%q read as %q (%v)", bad, badRead, err)
	}
	// In a Set value, XBADX becomes the invalid bytes and XNULX the escape \u0000.
	tokens := strings.NewReplacer("XBADX", bad, "XNULX", `\u0000`)
	tests := []struct {
		name  string
		o     trigger.Options
		check func(t *testing.T, h *harness)
	}{
		{"in metadata and description", trigger.Options{Type: "payment_intent.succeeded", Set: map[string]any{
			"data.object.metadata.note": "XBADX", "data.object.description": "Credits XBADX"}},
			func(t *testing.T, h *harness) {
				if w := h.workspace("ws_1"); w.Credits.Purchased != 500 {
					t.Errorf("credits = %+v, want the purchase's 500", w.Credits)
				}
			}},
		{"in a stored message", trigger.Options{Type: "payment_intent.payment_failed", Set: map[string]any{
			"data.object.last_payment_error.message": "Declined XBADX"}},
			func(t *testing.T, h *harness) {
				if p := h.payments("ws_1"); len(p) != 1 || p[0]["error_message"] != "Declined "+badRead {
					t.Errorf("payments = %v, want error_message %q", p, "Declined "+badRead)
				}
			}},
		// stripe-go reads an expandable field's id without unescaping it, so
		// its invalid bytes reached the store as they were: SQLite kept them,
		// PostgreSQL refused the event (500, for ever).
		{"in ids", trigger.Options{Type: "payment_intent.succeeded", Set: map[string]any{
			"data.object.id": "pi_XBADX", "data.object.customer": "cus_XBADX"}},
			func(t *testing.T, h *harness) {
				if p := h.payments("ws_1"); len(p) != 1 || p[0]["stripe_payment_intent_id"] != "pi_"+badRead {
					t.Errorf("payments = %v, want stripe_payment_intent_id %q", p, "pi_"+badRead)
				}
				var customer string
				if err := h.sqlDB().QueryRow(`SELECT customer_id FROM payments`).Scan(&customer); err != nil || customer != "cus_"+badRead {
					t.Errorf("customer_id = %q (%v), want %q", customer, err, "cus_"+badRead)
				}
			}},
		// A workspace id no app could create names no workspace: the
		// payment is stored unlinked, and the id is logged, not kept.
		{"NUL in a stored message and the workspace", trigger.Options{Type: "payment_intent.payment_failed", Set: map[string]any{
			"data.object.last_payment_error.message": "Declined XNULX", "data.object.metadata.workspace_id": "ws_XNULX"}},
			func(t *testing.T, h *harness) {
				var ws sql.NullString
				var msg string
				if err := h.sqlDB().QueryRow(`SELECT workspace_id, error_message FROM payments`).Scan(&ws, &msg); err != nil ||
					ws.Valid || msg != "Declined \ufffd" {
					t.Errorf("payment: workspace %v, error_message %q (%v), want none and %q", ws, msg, err, "Declined \ufffd")
				}
				if n := h.count("workspaces"); n != 0 {
					t.Errorf("%d workspaces, want none", n)
				}
				if !strings.Contains(h.logs.String(), "names a workspace id that is not valid") {
					t.Errorf("no WARN about the workspace id in the log")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			p := []byte(tokens.Replace(string(h.build(tt.o))))
			if bytes.Contains(p, []byte("XBADX")) || bytes.Contains(p, []byte("XNULX")) {
				t.Fatalf("a token was left in %s", p)
			}
			r := h.send(p)
			if r.Code != http.StatusOK || r.Status != "processed" {
				t.Fatalf("got %d %q %+v, want 200 processed", r.Code, r.Status, r.Error)
			}
			if got := storedPayload(h, r.Event); !bytes.Equal(got, p) {
				t.Errorf("stored payload is not the bytes received:\n%q\n%q", got, p)
			}
			tt.check(t, h)
		})
	}
}

// storedPayload is an event's payload as stored.
func storedPayload(h *harness, id string) []byte {
	h.t.Helper()
	var p []byte
	if err := h.sqlDB().QueryRow(`SELECT payload FROM events WHERE id = $1`, id).Scan(&p); err != nil {
		h.t.Fatalf("payload of %s: %v", id, err)
	}
	return p
}

// payments lists a workspace's payments as the read API shows them.
func (h *harness) payments(ws string) []map[string]any {
	h.t.Helper()
	var p []map[string]any
	if code := h.get("/api/billing/workspaces/"+ws+"/payments", &p); code != http.StatusOK {
		h.t.Fatalf("GET payments %s: %d", ws, code)
	}
	return p
}
