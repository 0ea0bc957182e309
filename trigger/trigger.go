// Package trigger builds realistic, signed Stripe events offline, the
// counterpart of `stripe trigger`: from Stripe-shaped fixtures of several API
// versions, with ids tied to a workspace. The CLI sends them to a running
// service; tests use the same builder.
package trigger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/webhook"
)

//go:embed events
var fixtures embed.FS

// LatestAPIVersion is the API version of the newest fixtures, stripe-go v85's.
const LatestAPIVersion = "2026-03-25.dahlia"

// Fixture values that Build replaces.
const (
	fixtureWorkspace   = "ws_1"
	fixturePrice       = "price_TestPro"
	fixturePeriodStart = 1767225600
	fixturePeriodEnd   = 1769904000
)

// fixtureIDs are the object ids the fixtures share, so that they fit together.
var fixtureIDs = []string{
	"cus_TestCustomer1", "sub_TestSub1", "si_TestItem1", "in_TestInvoice1",
	"pi_TestCredits1", "ch_TestCredits1", "cs_test_Sub1", "cs_test_Credits1", "re_TestRefund1", "dp_TestDispute1",
	"di_TestDiscount1", "inpay_TestPay1", "pi_TestSubInvoice1",
}

// aliases are handled types that share another type's fixture.
var aliases = map[string]string{
	"customer.updated":      "customer.created",
	"payment_intent.failed": "payment_intent.payment_failed",
	// A pending update's events carry the subscription as it is after it.
	"customer.subscription.pending_update_applied": "customer.subscription.updated",
	"customer.subscription.pending_update_expired": "customer.subscription.updated",
}

// Options say which event to build.
type Options struct {
	Type string
	// Variant picks another fixture of the type: "payment" for a credits
	// purchase checkout.
	Variant    string
	APIVersion string // default LatestAPIVersion
	Workspace  string // default "ws_1"
	// Key derives the object ids (customer, subscription, …); default the
	// workspace, so that events built for one workspace fit together.
	Key     string
	PriceID string // default the fixtures' price_TestPro
	EventID string // default a random evt_ id
	// Created is the event's time; default now.
	Created time.Time
	// PeriodStart moves the subscription period to start then, one month
	// long; default the fixtures' January 2026.
	PeriodStart time.Time
	// Set overrides fields by dotted path from the event's root, e.g.
	// "data.object.status"; a nil value sets JSON null.
	Set map[string]any
	// Now, when set, moves every time of the fixture by the same span, so
	// that the fixtures' 1 January 2026 falls on it: periods, trial ends,
	// retries and ends keep their places relative to one another, and to
	// now (billing trigger sets it to today).
	Now time.Time
	// Thin builds the thin version of the event, as an event destination
	// sends it: v1.<type>, naming the fixture's object, which the service
	// fetches (Set applies to the thin envelope).
	Thin bool
}

// APIVersions lists the API versions there are fixtures of, oldest first.
func APIVersions() []string {
	entries, _ := fs.ReadDir(fixtures, "events")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// Types lists the event types Build knows, which are all that billing handles.
func Types() []string { return billing.HandledEventTypes }

// ID returns the id Build gives the object a fixture calls fixtureID (e.g.
// "sub_TestSub1") for the given key.
func ID(fixtureID, key string) string {
	prefix := fixtureID[:strings.LastIndexByte(fixtureID[:min(len(fixtureID), 8)], '_')+1]
	sum := sha256.Sum256([]byte(fixtureID + "\x00" + key))
	return prefix + "T" + hex.EncodeToString(sum[:])[:15]
}

// Build returns the payload of an event.
func Build(o Options) ([]byte, error) {
	if o.APIVersion == "" {
		o.APIVersion = LatestAPIVersion
	}
	if o.Workspace == "" {
		o.Workspace = fixtureWorkspace
	}
	if o.Key == "" {
		o.Key = o.Workspace
	}
	name := o.Type
	if a, ok := aliases[name]; ok {
		name = a
	}
	if o.Variant != "" {
		name += "." + o.Variant
	}
	raw, err := fixtures.ReadFile(path.Join("events", o.APIVersion, name+".json"))
	if err != nil {
		return nil, fmt.Errorf("no %s fixture for API version %s (known types: %s)", name, o.APIVersion, strings.Join(Types(), ", "))
	}
	pairs := []string{`"` + fixtureWorkspace + `"`, strconv.Quote(o.Workspace)}
	for _, id := range fixtureIDs {
		pairs = append(pairs, `"`+id+`"`, strconv.Quote(ID(id, o.Key)))
	}
	if o.PriceID != "" {
		pairs = append(pairs, `"`+fixturePrice+`"`, strconv.Quote(o.PriceID))
	}
	if !o.PeriodStart.IsZero() {
		start := o.PeriodStart.Unix()
		pairs = append(pairs, strconv.Itoa(fixturePeriodStart), strconv.FormatInt(start, 10),
			strconv.Itoa(fixturePeriodEnd), strconv.FormatInt(o.PeriodStart.AddDate(0, 1, 0).Unix(), 10))
	}
	raw = []byte(strings.NewReplacer(pairs...).Replace(string(raw)))

	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("fixture %s/%s: %w", o.APIVersion, name, err)
	}
	if !o.Now.IsZero() {
		shiftTimes(ev, o.Now.Unix()-fixturePeriodStart)
	}
	if o.EventID == "" {
		o.EventID = NewEventID()
	}
	if o.Created.IsZero() {
		o.Created = time.Now()
	}
	ev["id"], ev["type"], ev["created"] = o.EventID, o.Type, o.Created.Unix()
	if o.Thin {
		if ev, err = thinOf(ev, o.Created); err != nil {
			return nil, err
		}
	}
	for p, v := range o.Set {
		if err := setPath(ev, p, v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(ev)
}

// Fixture times are from 2025 and 2026; a number in that span is a time.
const (
	fixtureTimesFrom  = 1735689600 // 2025-01-01
	fixtureTimesUntil = 1798761600 // 2027-01-01
)

// shiftTimes adds delta seconds to every time in a JSON value.
func shiftTimes(v any, delta int64) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = shiftTimes(e, delta)
		}
	case []any:
		for i, e := range x {
			x[i] = shiftTimes(e, delta)
		}
	case float64:
		if x >= fixtureTimesFrom && x < fixtureTimesUntil && x == float64(int64(x)) {
			return x + float64(delta)
		}
	}
	return v
}

// resourcePaths are the API paths of the objects fixtures carry.
var resourcePaths = map[string]string{
	"checkout.session": "/v1/checkout/sessions/", "customer": "/v1/customers/", "subscription": "/v1/subscriptions/",
	"invoice": "/v1/invoices/", "payment_intent": "/v1/payment_intents/", "charge": "/v1/charges/",
	"refund": "/v1/refunds/", "dispute": "/v1/disputes/", "invoice_payment": "/v1/invoice_payments/",
}

// thinOf is the thin version of a snapshot event: the same id, type
// v1.<type>, a time to the millisecond, and the related object's id, type
// and URL instead of the object.
func thinOf(ev map[string]any, created time.Time) (map[string]any, error) {
	data, _ := ev["data"].(map[string]any)
	obj, _ := data["object"].(map[string]any)
	id, _ := obj["id"].(string)
	typ, _ := obj["object"].(string)
	path, ok := resourcePaths[typ]
	if !ok || id == "" {
		return nil, fmt.Errorf("no thin version of %v: its object %q has no API path", ev["type"], typ)
	}
	return map[string]any{
		"id": ev["id"], "object": "v2.core.event", "type": "v1." + ev["type"].(string), "livemode": ev["livemode"],
		"created": created.UTC().Format("2006-01-02T15:04:05.000Z"), "context": nil, "reason": nil,
		"related_object": map[string]any{"id": id, "type": typ, "url": path + id},
	}, nil
}

// setPath sets a dotted path in a JSON value; a number indexes an array.
func setPath(root map[string]any, p string, v any) error {
	var cur any = root
	keys := strings.Split(p, ".")
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[k] = v
				return nil
			}
			if c[k] == nil {
				c[k] = map[string]any{}
			}
			cur = c[k]
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("set %s: no element %q", p, k)
			}
			if last {
				c[n] = v
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("set %s: %q is not an object or array", p, k)
		}
	}
	return nil
}

// NewEventID returns a random id shaped like Stripe's.
func NewEventID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "evt_1" + hex.EncodeToString(b)
}

// Response is what the service answered.
type Response struct {
	Status int
	Body   []byte
}

// Send signs payload with secret as Stripe does and posts it to url.
func Send(ctx context.Context, client *http.Client, url, secret string, payload []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", webhook.Sign(payload, secret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &Response{Status: resp.StatusCode, Body: body}, err
}
