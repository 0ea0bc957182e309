package api_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/webhook"
)

// FuzzWebhook posts an arbitrary body through the real handler onto one real
// database that all inputs share, so that later inputs meet the state
// earlier ones left. The seed corpus in testdata/fuzz/FuzzWebhook holds every
// fixture event of both API versions (webhook/testdata/gen_corpus.go).
//
//   - Unsigned, with the arbitrary header, signed with another secret, or
//     signed outside the tolerance: 400 (413 above the size limit), a JSON
//     error, and no table changes.
//   - Signed correctly, as it is and again under a fresh event id (most
//     inputs keep a fixture's id and would only be duplicates): 200 with a
//     done status stored, 400 (no event, or of the other mode) with no table
//     changes, or 500 with the event stored as failed because it could not
//     be decoded, as designed. Never 503, never anything else.
//
// Every cached balance equals its ledger's sum after each input.
func FuzzWebhook(f *testing.F) {
	for _, s := range []struct {
		body   string
		header string
	}{
		{"", ""},
		{"", "t=1767225600,v1=00"},
		{"{}", " "},
		{`{"id":"evt_fuzz_min","object":"event","type":"invoice.paid","data":{"object":{}}}`, "t=9223372036854775807,v1=" + strings.Repeat("ab", 32)},
		{`{"id":"evt_fuzz_min","object":"event","type":"invoice.paid","data":{"object":{}}}`, "t=-9223372036854775808,v0=00"},
		{`{"id":"evt_fuzz_live","object":"event","type":"customer.created","livemode":true,"data":{"object":{"id":"cus_1"}}}`, "v1=00,v1=11,v1=22"},
		{`{"id":"evt_fuzz_ignored","object":"event","type":"product.created","created":1767225600,"data":{"object":{"id":"prod_1"}}}`, "t=1767225600"},
		{`{"id":"evt_fuzz_bad","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1","amount_due":"a lot"}}}`, ""},
		{`{"id":"evt_fuzz_pi","object":"event","type":"payment_intent.succeeded","created":1767225600,"data":{"object":{"id":"pi_1","status":"succeeded","amount":-1,"metadata":{"purpose":"credits","credits":"1000000000","workspace_id":"ws_fuzz"}}}}`, ""},
		{`{"id":"evt_fuzz_ch","object":"event","type":"charge.refunded","created":9223372036854775807,"data":{"object":{"id":"ch_1","payment_intent":"pi_1","amount":1,"amount_refunded":9223372036854775807}}}`, ""},
		{"{\"id\":\"evt_\xff\",\"object\":\"event\",\"type\":\"customer.created\",\"data\":{\"object\":{\"id\":\"cus_\xc3\x28\",\"metadata\":{\"workspace_id\":\"\x00\"}}}}", "t=\xff,v1=\xfe"},
		{" \r\n{\"id\":\"evt_fuzz_ws\" ,\"object\":\"event\",\"type\":\"customer.updated\",\"data\":{\"object\":{ }}}\t", "\tt=1767225600 , v1=00\t"},
		{`{"id":"evt_fuzz_deep","object":"event","type":"invoice.paid","data":{"object":{"lines":` + strings.Repeat(`{"data":[`, 2000) + strings.Repeat("]}", 2000) + `}}}`, ""},
		{strings.Repeat("[", 10000), ""},
	} {
		f.Add([]byte(s.body), s.header)
	}

	logs := &billingtest.Buffer{}
	h := serve(f, storetest.Open(f, slog.New(slog.NewJSONHandler(logs, nil))), logs)

	f.Fuzz(func(t *testing.T, body []byte, header string) {
		logs.Reset()
		h := h.with(t)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf(format+"\nbody %q\nservice log:\n%s", append(args, body, logs.String())...)
		}
		refused := func(what string, r webhookResponse) { refused(fail, what, len(body), r) }

		// Not signed, or not rightly: refused, nothing stored.
		before := h.counts()
		if sendable(header) {
			refused("arbitrary header "+header, h.post(body, header))
		}
		now := time.Now()
		refused("unsigned", h.post(body, ""))
		refused("signed with another secret", h.post(body, webhook.Sign(body, "whsec_not_configured", now)))
		refused("signed too long ago", h.post(body, webhook.Sign(body, testSecret, now.Add(-time.Hour))))
		refused("signed in the future", h.post(body, webhook.Sign(body, testSecret, now.Add(time.Hour))))
		if after := h.counts(); after != before {
			fail("refused deliveries changed the tables: %v, then %v", before, after)
		}

		// Signed as Stripe signs: the body as it is, and, since most inputs
		// reuse a fixture's event id and would only be duplicates, the same
		// envelope again under a fresh id, so that its object is applied.
		h.deliverSigned(body, fail)
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil && fields != nil {
			fields["id"], _ = json.Marshal(fmt.Sprintf("evt_fuzz_%d", fuzzSeq.Add(1)))
			if fresh, err := json.Marshal(fields); err == nil {
				h.deliverSigned(fresh, fail)
			}
		}
		h.checkBalances()
	})
}

var fuzzSeq atomic.Int64

// deliverSigned posts body signed with the right secret and checks the
// answer against what is stored: 200 with a done status, 400 with no table
// changed, or 500 with the event stored as failed because it could not be
// decoded.
func (h *harness) deliverSigned(body []byte, fail func(string, ...any)) {
	h.t.Helper()
	var env struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &env)
	prior, _, _ := h.eventRow(env.ID)
	before := h.counts()
	r := h.post(body, webhook.Sign(body, testSecret, time.Now()))
	switch r.Code {
	case http.StatusOK:
		status, _, found := h.eventRow(r.Event)
		switch {
		case !r.Received || r.Event != env.ID:
			fail("signed %q: 200 %+v for event %q", body, r, env.ID)
		case !found || !billing.EventStatus(status).Done():
			fail("signed %q: 200 %q but the event is stored as %q (found %v)", body, r.Status, status, found)
		case r.Status == string(billing.StatusDuplicate):
			if !billing.EventStatus(prior).Done() {
				fail("signed %q: duplicate of an event that was %q", body, prior)
			}
		case r.Status != status:
			fail("signed %q: 200 %q but the event is stored as %q", body, r.Status, status)
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		refused(fail, fmt.Sprintf("signed %q", body), len(body), r)
		if after := h.counts(); after != before {
			fail("signed %q: refused, but the tables changed: %v, then %v", body, before, after)
		}
	case http.StatusInternalServerError:
		status, lastError, found := h.eventRow(r.Event)
		switch {
		case r.Event == "" || r.Event != env.ID || !found:
			fail("signed %q: 500 %+v, but event %q is not stored", body, r, env.ID)
		case billing.EventStatus(prior).Done():
			// The id of an event already applied, with another body that
			// does not decode: decoding comes before the duplicate check
			// and answers 500; the applied event is kept as it was.
			if status != prior {
				fail("signed %q: 500 changed the applied event %s from %q to %q", body, r.Event, prior, status)
			}
		case status != string(billing.StatusFailed) || !strings.Contains(lastError, "decode "):
			fail("signed %q: 500, event %s is stored as %q with error %q; only an undecodable event may fail", body, r.Event, status, lastError)
		}
	default:
		fail("signed %q: got %d %+v, want 200, 400 or 500", body, r.Code, r.Error)
	}
}

// refused checks the answer to a delivery of n bytes that must be refused:
// 400 invalid, or 413 too_large above the size limit.
func refused(fail func(string, ...any), what string, n int, r webhookResponse) {
	switch {
	case r.Code == http.StatusBadRequest && r.Error.Code == billing.EINVALID:
	case r.Code == http.StatusRequestEntityTooLarge && r.Error.Code == billing.ETOOLARGE && n > api.MaxWebhookBody:
	default:
		fail("%s: got %d %+v, want 400 invalid (413 above %d bytes)", what, r.Code, r.Error, api.MaxWebhookBody)
	}
}

// with returns h reporting to t, the fuzz target's test of one input.
func (h *harness) with(t testing.TB) *harness {
	c := *h
	c.t = t
	return &c
}

// counts are the row counts of every table the service writes.
func (h *harness) counts() string {
	var n []string
	for _, table := range billingTables {
		n = append(n, fmt.Sprintf("%s=%d", table, h.count(table)))
	}
	return strings.Join(n, " ")
}

// eventRow reads an event's stored status and last error.
func (h *harness) eventRow(id string) (status, lastError string, found bool) {
	h.t.Helper()
	var last sql.NullString
	err := h.sqlDB().QueryRow(`SELECT status, last_error FROM events WHERE id = $1`, id).Scan(&status, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return status, last.String, true
}

// sendable reports whether an HTTP client can send header as a field value:
// no control characters but tab. Others never reach the handler.
func sendable(header string) bool {
	for i := 0; i < len(header); i++ {
		if c := header[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
