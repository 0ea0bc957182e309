// Package billing holds the domain: the billing state this service mirrors from
// Stripe (workspaces, customers, subscriptions, invoices, payments, credits) and
// the rules that turn a verified Stripe event into changes of that state.
//
// It imports neither HTTP nor SQL. Storage implements Store and Tx (package
// store); HTTP and the CLI are adapters around Service (packages api and cli).
package billing

import "time"

// Mode is the Stripe mode the service runs in, taken from its secret key.
type Mode string

// Modes.
const (
	ModeTest Mode = "test"
	ModeLive Mode = "live"
)

// Livemode reports whether events of this mode carry livemode=true.
func (m Mode) Livemode() bool { return m == ModeLive }

// unix converts a Stripe timestamp (seconds, 0 for none) to a time.
func unix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// Unix is unix exported for adapters that read Stripe timestamps.
func Unix(sec int64) time.Time { return unix(sec) }
