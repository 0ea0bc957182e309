// Package appwebhook delivers the app's messages (billing.Message) to the
// app's webhook endpoints, signed per the Standard Webhooks specification,
// with retries, and keeps each attempt for the dashboard.
//
// Delivery reads the feed: each endpoint's dispatcher follows the feed's
// cursor and turns every message after it into a delivery, so an endpoint
// gets every message committed once it was registered, whatever order
// transactions committed in.
package appwebhook

import (
	"context"
	"time"
)

// Delivery statuses.
const (
	StatusPending   = "pending"   // waiting for its next attempt
	StatusSending   = "sending"   // claimed by a sender until its lease ends
	StatusDelivered = "delivered" // answered 2xx
	StatusFailed    = "failed"    // out of attempts (3 days)
)

// Endpoint is one configured URL and its health.
type Endpoint struct {
	URL string
	// DisabledAt is when the endpoint answered 410 Gone; nothing is sent to
	// it until an operator enables it again. Zero when enabled.
	DisabledAt     time.Time
	DisabledReason string
	// Counts of its deliveries by status, and its last outcome.
	Pending, Failed, Delivered int64
	LastDeliveredAt            time.Time
	LastError                  string
}

// Delivery is one message owed to one endpoint.
type Delivery struct {
	ID          int64
	Endpoint    string
	MessageID   string
	MessageType string
	WorkspaceID string
	Sequence    int64
	Body        []byte
	Status      string
	Attempts    int
	// FirstAttemptAt starts the 3 days of retries.
	FirstAttemptAt time.Time
	NextAttemptAt  time.Time
	DeliveredAt    time.Time
	CreatedAt      time.Time
	// Claim numbers the claims: only the sender holding the latest settles.
	Claim      int64
	LastStatus int // HTTP status of the last attempt, 0 for none
	LastError  string
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	DeliveryID int64
	At         time.Time
	Duration   time.Duration
	Status     int    // HTTP status, 0 when none came
	Response   string // the start of the response body
	Error      string
}

// DeliveryFilter selects deliveries for the dashboard, newest first.
type DeliveryFilter struct {
	Endpoint string // "" for all
	Status   string // "" for all
	Limit    int
}

// Store is what delivery keeps in the database (package store implements it).
type Store interface {
	// SyncEndpoints registers the configured URLs; a new one starts at the
	// end of the feed (it gets the messages written from then on).
	SyncEndpoints(ctx context.Context, urls []string, now time.Time) error
	// Dispatch turns up to limit messages of the feed after url's cursor into
	// deliveries due now (only types, when given), and moves the cursor. Two
	// instances dispatching one endpoint at once create each delivery once.
	Dispatch(ctx context.Context, url string, types []string, limit int, now time.Time) (int, error)
	// ClaimDelivery marks the oldest due delivery of an enabled endpoint as
	// sending until now+lease and returns it (nil when none is due): a
	// pending one due by now, or one whose sender's lease ran out (it
	// crashed mid-attempt). Two senders never hold the same one.
	ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration) (*Delivery, error)
	// SettleDelivery records an attempt and the delivery's outcome (Status,
	// NextAttemptAt, DeliveredAt, LastStatus, LastError), if d.Claim is
	// still the latest claim.
	SettleDelivery(ctx context.Context, d *Delivery, a Attempt) error
	DisableEndpoint(ctx context.Context, url, reason string, now time.Time) error
	// EnableEndpoint enables a disabled endpoint; its pending deliveries are due at once.
	EnableEndpoint(ctx context.Context, url string, now time.Time) error
	// RetryDelivery makes a delivery not being sent right now due at once,
	// for a new round of attempts ("Send again").
	RetryDelivery(ctx context.Context, id int64, now time.Time) error
	Endpoints(ctx context.Context) ([]Endpoint, error)
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	Delivery(ctx context.Context, id int64) (*Delivery, error)
	Attempts(ctx context.Context, deliveryID int64) ([]Attempt, error)
	// Backlog counts the deliveries pending (or sending) and failed.
	Backlog(ctx context.Context) (pending, failed int64, err error)
}

// ReasonRemoved is the DisabledReason of an endpoint that is no longer
// configured (BILLING_APP_WEBHOOK_URL); configuring it again enables it.
const ReasonRemoved = "not in BILLING_APP_WEBHOOK_URL"
