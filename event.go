package billing

import (
	"bytes"
	"encoding/json"
	"time"
)

// EventStatus is what became of a stored Stripe event.
type EventStatus string

// Event statuses. StatusDuplicate is only ever answered, never stored: the
// stored event keeps the status of its first successful application.
const (
	StatusProcessed EventStatus = "processed"
	StatusIgnored   EventStatus = "ignored"
	StatusStale     EventStatus = "stale"
	StatusFailed    EventStatus = "failed"
	StatusDuplicate EventStatus = "duplicate"
	// StatusReceived is an event's status between storing it and applying
	// it, inside the transaction that does both.
	StatusReceived EventStatus = "received"
)

// Done reports whether an event in this status needs no further application.
func (s EventStatus) Done() bool {
	return s == StatusProcessed || s == StatusIgnored || s == StatusStale
}

// Event is a verified Stripe event and its processing record.
type Event struct {
	ID         string
	Type       string
	APIVersion string
	Livemode   bool
	Created    time.Time
	Account    string
	Payload    []byte
	// ObjectJSON is data.object within Payload, when the verifier found it,
	// or a thin event's object as fetched from Stripe.
	ObjectJSON []byte

	// Object is the decoded data.object: *CheckoutSession, *Subscription,
	// *Invoice, *Payment, *Charge, *Refund, *Dispute or *Customer; nil for a
	// type we ignore.
	Object any
	// Thin: a thin event (an event destination's v2.core.event), whose
	// object is fetched from Stripe. Not stored: its payload tells it.
	Thin bool

	Status EventStatus
	// Note says why a rule left the event unapplied (ignored); "" if none.
	Note string
	// ObjectID and WorkspaceID are what the event applied to, as the rules
	// found them; "" when it applied to none (the event log shows them).
	ObjectID    string
	WorkspaceID string
	Attempts    int
	LastError   string
	ReceivedAt  time.Time
	ProcessedAt time.Time
}

// EventFilter selects stored events; zero fields match all.
type EventFilter struct {
	Status EventStatus
	Type   string
	// Since and Until bound the time received: Since <= received < Until.
	Since, Until time.Time
	Limit        int
	Offset       int
}

// EventCount counts stored events of one type and status.
type EventCount struct {
	Type   string
	Status EventStatus
	N      int64
}

// HourCount counts the events of one status received in one hour.
type HourCount struct {
	Hour   time.Time
	Status EventStatus
	N      int64
}

// SameEvent reports whether two deliveries of one event id say the same
// thing. Stripe's redeliveries may differ in pending_webhooks and request,
// and are rendered anew when the endpoint's API version changed, so only
// the type, creation time and data of deliveries in one version count.
func SameEvent(a, b *Event) bool {
	if a.APIVersion != b.APIVersion || bytes.Equal(a.Payload, b.Payload) {
		return true
	}
	x, errA := eventContent(a.Payload)
	y, errB := eventContent(b.Payload)
	return errA == nil && errB == nil && x.Type == y.Type && x.Created == y.Created &&
		bytes.Equal(x.Data, y.Data)
}

type content struct {
	Type    string          `json:"type"`
	Created int64           `json:"created"`
	Data    json.RawMessage `json:"data"`
}

func eventContent(payload []byte) (content, error) {
	var c content
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err
	}
	var compact bytes.Buffer
	err := json.Compact(&compact, c.Data)
	c.Data = compact.Bytes()
	return c, err
}

// objectID is the id of a decoded event's object, "" for none.
func objectID(obj any) string {
	switch o := obj.(type) {
	case *CheckoutSession:
		return o.ID
	case *Subscription:
		return o.ID
	case *Invoice:
		return o.ID
	case *Payment:
		return o.ID
	case *Charge:
		return o.ID
	case *Customer:
		return o.ID
	case *Refund:
		return o.ID
	case *Dispute:
		return o.ID
	case *DiscountChange:
		return o.ID
	case *InvoicePayment:
		return o.ID
	}
	return ""
}
