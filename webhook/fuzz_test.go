package webhook_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/acme/billing"
	"github.com/acme/billing/webhook"
)

// The seed corpora in testdata/fuzz/ hold the real fixtures of both API
// versions (written by testdata/gen_corpus.go); the f.Add seeds below are
// the edge cases.

const fuzzTolerance = 300 * time.Second

// fuzzSecrets are the verifier's secrets; fuzzSecret, the second, signs, as
// during a rotation.
var fuzzSecrets = []string{"whsec_fuzz_rotated_out", "whsec_fuzz"}

const fuzzSecret = "whsec_fuzz"

var sentinels = []error{
	webhook.ErrNoSignature, webhook.ErrBadHeader, webhook.ErrBadSignature, webhook.ErrTooOld,
	webhook.ErrFromFuture, webhook.ErrNotEvent, webhook.ErrLiveToTestMode, webhook.ErrTestToLiveMode,
}

func checkSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if billing.ErrorCode(err) != billing.EINVALID {
				t.Fatalf("%s: error %v has code %q, want invalid", what, err, billing.ErrorCode(err))
			}
			return
		}
	}
	t.Fatalf("%s: error %v (%T) is none of the package's sentinel errors", what, err, err)
}

// fuzzEnvelope is an event envelope read independently of Verify.
type fuzzEnvelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	Account    string `json:"account"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// isEvent reports whether body is a Stripe event as Verify must accept it:
// a JSON object with object "event", an id, a type and an object as
// data.object, and no control characters in its id, type, version or
// account.
func isEvent(body []byte) (fuzzEnvelope, bool) {
	var env fuzzEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return env, false
	}
	var obj map[string]json.RawMessage
	printable := true
	for _, s := range []string{env.ID, env.Type, env.APIVersion, env.Account} {
		printable = printable && !strings.ContainsFunc(s, unicode.IsControl)
	}
	ok := env.Object == "event" && env.ID != "" && env.Type != "" && json.Unmarshal(env.Data.Object, &obj) == nil && obj != nil && printable
	return env, ok
}

// FuzzVerify feeds Verify an arbitrary body with (1) an arbitrary
// Stripe-Signature header, which must be refused with one of the package's
// errors, (2) the body signed now with the right secret, which must verify
// unless the body is no event or of the other mode, and (3) the body signed
// skew seconds from now, alone and next to the arbitrary header, which may
// verify only when that timestamp is within the tolerance.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","api_version":"2026-03-25.dahlia","created":1767225600,"livemode":false,"data":{"object":{"id":"in_1","object":"invoice"}}}`)
	old := webhook.Sign(body, fuzzSecret, time.Unix(1767225600, 0))
	for _, s := range []struct {
		body   []byte
		header string
		skew   int64
		live   bool
	}{
		{nil, "", 0, false},
		{[]byte{}, " \t ", 0, false},
		{body, old, 0, false},
		{body, old, 0, true},
		{body, "t=1767225600", 0, false},
		{body, "v1=" + strings.Repeat("ab", 32), 0, false},
		{body, "t=1767225600,v0=" + strings.Repeat("ab", 32), 0, false}, // v0 only
		{body, "t=1767225600,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32) + ",v1=zz", 0, false},
		{body, "t=9223372036854775807,v1=00", 301, false},
		{body, "t=-9223372036854775808,v1=00", -301, false},
		{body, "t=99999999999999999999999,v1=00", 1 << 40, false},
		{body, " t = 1767225600 , v1 = 00 ", 299, false},
		{body, "t=,v1=", -299, false},
		{body, "=,=,,", 0, false},
		{body, "t=1767225600,v1=\xff\xfe", 0, false},
		{[]byte("{\"id\":\"evt_\xff\",\"object\":\"event\",\"type\":\"\xc3\x28\",\"data\":{\"object\":{}}}"), "t=\xff", 0, false},
		{[]byte(`{"id":"evt_1","object":"event","type":"x","livemode":true,"data":{"object":{}}}`), "t=1", 0, false},
		{[]byte(`{"id":"evt_1","object":"event","type":"x","data":{"object":[]}}`), "", 0, false},
		{[]byte(`{"id":"evt_1","object":"event","type":"x","data":{"object":null}}`), "", 0, false},
		{[]byte(`{"id":"evt_1","object":"event","type":"x","data":{"object":"{"}}`), "", 0, false},
		{[]byte(`{"object":"event"}`), "", 0, false},
		{[]byte(`[{"object":"event"}]`), "", 0, false},
		{[]byte(" \n\t{\"id\":\"evt_1\" , \"object\":\"event\",\"type\":\"x\",\"data\":{\"object\": {} }}\n"), "", 0, false},
		{[]byte(`{"id":"evt_1","object":"event","type":"x","data":{"object":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}}`), "", 0, false},
		{[]byte(strings.Repeat("[", 20000)), "", 0, false},
	} {
		f.Add(s.body, s.header, s.skew, s.live)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string, skew int64, live bool) {
		mode := billing.ModeTest
		if live {
			mode = billing.ModeLive
		}
		v := &webhook.Verifier{Secrets: fuzzSecrets, Tolerance: fuzzTolerance, Mode: mode, Now: time.Now}

		// (1) An arbitrary header is refused with a sentinel error.
		e, err := v.Verify(body, header)
		if err == nil || e != nil {
			t.Fatalf("Verify accepted the arbitrary header %q: event %+v, err %v", header, e, err)
		}
		checkSentinel(t, "arbitrary header", err)
		if strings.TrimSpace(header) == "" && !errors.Is(err, webhook.ErrNoSignature) {
			t.Fatalf("empty header %q: err = %v, want ErrNoSignature", header, err)
		}

		// (2) The same body signed as Stripe signs it.
		now := time.Now()
		e, err = v.Verify(body, webhook.Sign(body, fuzzSecret, now))
		env, event := isEvent(body)
		switch {
		case err == nil:
			if !event || env.Livemode != live {
				t.Fatalf("Verify accepted %q: not an event of mode live=%v", body, live)
			}
			if e.ID != env.ID || e.Type != env.Type || e.APIVersion != env.APIVersion || e.Livemode != env.Livemode ||
				e.Account != env.Account || !e.Created.Equal(billing.Unix(env.Created)) ||
				string(e.Payload) != string(body) || string(e.ObjectJSON) != string(env.Data.Object) {
				t.Fatalf("event %+v does not match the body %q", e, body)
			}
		case errors.Is(err, webhook.ErrNotEvent):
			if event {
				t.Fatalf("Verify: %v for an event: %q", err, body)
			}
		case errors.Is(err, webhook.ErrLiveToTestMode):
			if !event || !env.Livemode || live {
				t.Fatalf("Verify: %v (body livemode=%v, verifier live=%v)", err, env.Livemode, live)
			}
		case errors.Is(err, webhook.ErrTestToLiveMode):
			if !event || env.Livemode || !live {
				t.Fatalf("Verify: %v (body livemode=%v, verifier live=%v)", err, env.Livemode, live)
			}
		default:
			t.Fatalf("Verify refused a correctly signed body: %v", err)
		}
		if err != nil && e != nil {
			t.Fatalf("Verify returned an event with error %v", err)
		}

		// (3) Signed skew seconds from now: the timestamp the signature
		// covers is the one the tolerance must bound, whatever else the
		// header carries.
		skew %= 1 << 40 // ±35,000 years, in seconds: time.Unix stays exact
		signed := webhook.Sign(body, fuzzSecret, time.Unix(now.Unix()+skew, 0))
		const tol, slack = int64(fuzzTolerance / time.Second), 5 // the clock moves on while this runs
		within := skew >= -(tol-slack) && skew <= tol-slack
		outside := skew < -(tol+slack) || skew > tol+slack
		for _, h := range []string{signed, header + "," + signed, signed + "," + header} {
			err := v.Check(body, h)
			switch {
			case err == nil && outside:
				t.Fatalf("Check accepted %q, signed %d s from now (tolerance %v)", h, skew, fuzzTolerance)
			case err != nil:
				checkSentinel(t, "signed header "+h, err)
			}
			if h != signed {
				continue
			}
			switch {
			case within && err != nil:
				t.Fatalf("Check refused its own signature %q, %d s from now: %v", h, skew, err)
			case outside && skew > 0 && !errors.Is(err, webhook.ErrFromFuture):
				t.Fatalf("Check(%q), %d s from now: err = %v, want ErrFromFuture", h, skew, err)
			case outside && skew < 0 && !errors.Is(err, webhook.ErrTooOld):
				t.Fatalf("Check(%q), %d s from now: err = %v, want ErrTooOld", h, skew, err)
			}
		}
	})
}

// decodedType is the type Decode must give each handled event type's object.
func decodedType(eventType string) reflect.Type {
	switch prefix, _, _ := strings.Cut(eventType, "."); {
	case strings.HasPrefix(eventType, "checkout.session."):
		return reflect.TypeFor[*billing.CheckoutSession]()
	case strings.HasPrefix(eventType, "customer.subscription."):
		return reflect.TypeFor[*billing.Subscription]()
	case strings.HasPrefix(eventType, "customer.discount."):
		return reflect.TypeFor[*billing.DiscountChange]()
	case prefix == "customer":
		return reflect.TypeFor[*billing.Customer]()
	case prefix == "invoice":
		return reflect.TypeFor[*billing.Invoice]()
	case prefix == "invoice_payment":
		return reflect.TypeFor[*billing.InvoicePayment]()
	case prefix == "payment_intent":
		return reflect.TypeFor[*billing.Payment]()
	case prefix == "refund" || eventType == "charge.refund.updated":
		return reflect.TypeFor[*billing.Refund]()
	case strings.HasPrefix(eventType, "charge.dispute."):
		return reflect.TypeFor[*billing.Dispute]()
	case prefix == "charge":
		return reflect.TypeFor[*billing.Charge]()
	}
	return nil
}

// FuzzDecode decodes arbitrary bytes as data.object of every handled event
// type, as Verify hands it over (Event.ObjectJSON) and inside a payload (a
// stored event, replayed): no panic; either an error and no object, or an
// object of the type's Go type; both ways agree. An unhandled type decodes
// to nothing.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, ` `, `null`, `{}`, `[]`, `"x"`, `0`, `{`, "\xff\xfe", `{"id":"\xff"}`,
		`{"id":"in_1","lines":{"data":[null,{},{"period":null,"price":{"id":"price_1"}}]}}`,
		`{"id":"in_1","lines":{"data":[{"price":null,"plan":{"id":"plan_1"},"period":{"start":-1,"end":9223372036854775807}}]}}`,
		`{"id":"in_1","subscription":{"id":"sub_1"},"parent":{"subscription_details":{"subscription":null,"metadata":null}}}`,
		`{"id":"in_1","subscription":123}`,
		`{"id":"sub_1","items":{"data":[null,{"price":null,"current_period_end":9223372036854775807}]},"plan":{}}`,
		`{"id":"sub_1","current_period_start":-9223372036854775808,"current_period_end":1e3}`,
		`{"id":"cs_1","customer":{"id":"cus_1"},"subscription":"sub_1","payment_intent":{"id":null},"metadata":{"credits":"1"}}`,
		`{"id":"pi_1","last_payment_error":{"message":"\u0000"},"created":-1}`,
		`{"id":"ch_1","payment_intent":[],"amount":-9223372036854775808}`,
		`{"id":"re_1","charge":{"id":"ch_1"},"payment_intent":null,"amount":9223372036854775807,"status":"failed"}`,
		`{"id":"di_1","customer":{"id":"cus_1"},"subscription":"sub_1","coupon":{"id":"c","percent_off":1e400}}`,
		`{"id":"dp_1","charge":"ch_1","evidence_details":{"due_by":-1},"amount":-1,"status":"lost"}`,
		`{"id":"cus_1","deleted":true,"metadata":{"":""}}`,
		strings.Repeat(`{"lines":`, 3000) + `{}` + strings.Repeat(`}`, 3000),
		strings.Repeat(`[`, 20000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, object []byte) {
		for _, typ := range billing.HandledEventTypes {
			e := &billing.Event{Type: typ, ObjectJSON: object}
			err := webhook.Decode(e)
			if err != nil {
				if e.Object != nil {
					t.Fatalf("%s: error %v and an object %+v", typ, err, e.Object)
				}
			} else if want := decodedType(typ); reflect.TypeOf(e.Object) != want || reflect.ValueOf(e.Object).IsNil() {
				t.Fatalf("%s: decoded to %T %v, want a %v", typ, e.Object, e.Object, want)
			}
			if !json.Valid(object) {
				continue
			}
			stored := &billing.Event{Type: typ, Payload: []byte(`{"id":"evt_1","data":{"object":` + string(object) + `}}`)}
			serr := webhook.Decode(stored)
			if (err == nil) != (serr == nil) || !reflect.DeepEqual(e.Object, stored.Object) {
				t.Fatalf("%s: from ObjectJSON %v %+v, from the payload %v %+v", typ, err, e.Object, serr, stored.Object)
			}
		}
		e := &billing.Event{Type: "invoice.upcoming", ObjectJSON: object, Object: "stale"}
		if err := webhook.Decode(e); err != nil || e.Object != nil {
			t.Fatalf("unhandled type: err %v, object %v", err, e.Object)
		}
	})
}
