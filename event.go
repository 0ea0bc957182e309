package billing

import "time"

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
	// ObjectJSON is data.object within Payload, when the verifier found it.
	ObjectJSON []byte

	// Object is the decoded data.object: *CheckoutSession, *Subscription,
	// *Invoice, *Payment, *Charge or *Customer; nil for a type we ignore.
	Object any

	Status      EventStatus
	Attempts    int
	LastError   string
	ReceivedAt  time.Time
	ProcessedAt time.Time
}

// EventFilter selects stored events; zero fields match all.
type EventFilter struct {
	Status EventStatus
	Type   string
	Limit  int
}
