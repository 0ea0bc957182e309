// Package webhook verifies Stripe webhook deliveries and decodes their
// payloads, of any API version since 2019, into billing types. Signatures are
// checked by stripe-go's webhook package; this package adds what it leaves
// out: several secrets for rotation, timestamps from the future, the mode.
package webhook

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	stripe "github.com/stripe/stripe-go/v85"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"

	"github.com/acme/billing"
)

// Reasons a delivery is refused. Each is a billing.EINVALID error, answered
// 400, and its message says which check failed.
var (
	ErrNoSignature    = billing.Errorf(billing.EINVALID, "missing Stripe-Signature header")
	ErrBadHeader      = billing.Errorf(billing.EINVALID, "malformed Stripe-Signature header")
	ErrBadSignature   = billing.Errorf(billing.EINVALID, "no signature matches any configured webhook secret")
	ErrTooOld         = billing.Errorf(billing.EINVALID, "signature timestamp is older than the tolerance")
	ErrFromFuture     = billing.Errorf(billing.EINVALID, "signature timestamp is further in the future than the tolerance")
	ErrNotEvent       = billing.Errorf(billing.EINVALID, "body is not a Stripe event")
	ErrLiveToTestMode = billing.Errorf(billing.EINVALID, "livemode event sent to a service in test mode: this endpoint's webhook secret belongs to a live-mode endpoint but STRIPE_SECRET_KEY is a test key")
	ErrTestToLiveMode = billing.Errorf(billing.EINVALID, "test-mode event sent to a service in live mode: this endpoint's webhook secret belongs to a test-mode endpoint but STRIPE_SECRET_KEY is a live key")
)

// Verifier checks deliveries against the configured webhook secrets.
type Verifier struct {
	// Secrets are tried in turn, so a secret can be rotated without downtime.
	Secrets   []string
	Tolerance time.Duration
	Mode      billing.Mode
	// Now is the clock for the future-timestamp check; stripe-go checks age
	// against the real clock.
	Now func() time.Time
}

// Verify checks a delivery's signature and returns its event, decoded.
func (v *Verifier) Verify(payload []byte, header string) (*billing.Event, error) {
	if err := v.Check(payload, header); err != nil {
		return nil, err
	}
	return Parse(payload, v.Mode)
}

// Parse reads an event's envelope, refusing what is no Stripe event or an
// event of the other mode. Verify uses it after the signature check; events
// fetched from Stripe's Events API need no signature.
func Parse(payload []byte, mode billing.Mode) (*billing.Event, error) {
	var env envelope
	err := json.Unmarshal(payload, &env)
	if env.Object == thinObject {
		return parseThin(payload, mode) // its created, a time, fails the envelope's
	}
	if err != nil || env.Object != "event" || env.ID == "" || env.Type == "" ||
		len(env.Data.Object) == 0 || env.Data.Object[0] != '{' ||
		hasControl(env.ID, env.Type, env.APIVersion, env.Account) {
		return nil, ErrNotEvent
	}
	if err := checkMode(env.Livemode, mode); err != nil {
		return nil, err
	}
	return &billing.Event{
		ID: env.ID, Type: env.Type, APIVersion: env.APIVersion, Livemode: env.Livemode,
		Created: billing.Unix(env.Created), Account: env.Account, Payload: payload, ObjectJSON: env.Data.Object,
	}, nil
}

func checkMode(livemode bool, mode billing.Mode) error {
	switch {
	case livemode && !mode.Livemode():
		return ErrLiveToTestMode
	case !livemode && mode.Livemode():
		return ErrTestToLiveMode
	}
	return nil
}

// thinObject is the object of a thin event's envelope: an event
// destination's notification, which names its object rather than carrying
// it.
const thinObject = "v2.core.event"

// parseThin reads a thin event with stripe-go. The thin version of a
// snapshot event type is v1.<type> (v1.invoice.paid): it is stored as
// that type, so that it is applied as the snapshot event would be, once
// its object is fetched. Its context names a connected account.
func parseThin(payload []byte, mode billing.Mode) (*billing.Event, error) {
	n, err := stripe.EventNotificationFromJSON(payload, stripe.Client{})
	if err != nil {
		return nil, ErrNotEvent
	}
	base := n.GetEventNotification()
	var account string
	if c := base.Context; c != nil && len(c.Segments) > 0 {
		account = c.Segments[len(c.Segments)-1]
	}
	if base.ID == "" || base.Type == "" || hasControl(base.ID, base.Type, account) {
		return nil, ErrNotEvent
	}
	if err := checkMode(base.Livemode, mode); err != nil {
		return nil, err
	}
	return &billing.Event{ID: base.ID, Type: strings.TrimPrefix(base.Type, "v1."), Livemode: base.Livemode,
		Created: billing.Unix(base.Created.Unix()), Account: account, Payload: payload, Thin: true}, nil
}

// hasControl reports whether any of the names has a control character, as
// no Stripe id or type does; PostgreSQL's text columns refuse NUL.
func hasControl(names ...string) bool {
	for _, n := range names {
		if strings.ContainsFunc(n, unicode.IsControl) {
			return true
		}
	}
	return false
}

// envelope is a Stripe event with its object left raw, for Decode. It reads
// what stripe.Event does, without building stripe-go's map of the object.
type envelope struct {
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

// Check verifies only a delivery's signature and timestamp: stripe-go's
// check against each secret, and the future bound stripe-go leaves out.
func (v *Verifier) Check(payload []byte, header string) error {
	if strings.TrimSpace(header) == "" {
		return ErrNoSignature
	}
	ts, err := signedAt(header)
	if err != nil {
		return err
	}
	if v.now().Sub(ts) < -v.Tolerance {
		return ErrFromFuture
	}
	err = ErrBadSignature
	for _, secret := range v.Secrets {
		err = stripewebhook.ValidatePayloadWithTolerance(payload, header, secret, v.Tolerance)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, stripewebhook.ErrNoValidSignature):
			err = ErrBadSignature
		case errors.Is(err, stripewebhook.ErrTooOld):
			return ErrTooOld
		default:
			return ErrBadHeader
		}
	}
	return err
}

// signedAt reads the t= timestamp of a Stripe-Signature header as stripe-go
// does (keys untrimmed, the last t= counts), so that the future bound checks
// the timestamp the signature covers: "t=0,t=FUTURE,v1=…" is from the future.
func signedAt(header string) (time.Time, error) {
	var ts time.Time
	found := false
	for _, part := range strings.Split(header, ",") {
		if k, val, ok := strings.Cut(part, "="); ok && k == "t" {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return time.Time{}, ErrBadHeader
			}
			ts, found = time.Unix(n, 0), true
		}
	}
	if !found {
		return time.Time{}, ErrBadHeader
	}
	return ts, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Sign returns a Stripe-Signature header for payload, signed with secret at
// time t, as Stripe signs deliveries. It is for tests and `billing trigger`.
func Sign(payload []byte, secret string, t time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: t,
	}).Header
}

// rawObject is data.object of an event, still raw; billing.ErrThinEvent
// for a thin event, which has none.
func rawObject(e *billing.Event) (json.RawMessage, error) {
	if e.ObjectJSON != nil {
		return e.ObjectJSON, nil
	}
	var env envelope
	err := json.Unmarshal(e.Payload, &env)
	switch {
	case env.Object == thinObject:
		return nil, billing.ErrThinEvent
	case err != nil:
		return nil, err
	}
	return env.Data.Object, nil
}
