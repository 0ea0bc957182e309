package appwebhook

import "time"

// Outcomes of an attempt, as an Observer is told them.
const (
	OutcomeDelivered = "delivered" // answered 2xx in time
	OutcomeRetried   = "retried"   // failed; another attempt is scheduled
	OutcomeFailed    = "failed"    // failed, and out of attempts (3 days)
	OutcomeDisabled  = "disabled"  // answered 410 Gone: the endpoint is disabled
)

// Outcomes lists every outcome, so that metrics can export each from the start.
var Outcomes = []string{OutcomeDelivered, OutcomeRetried, OutcomeFailed, OutcomeDisabled}

// Observer is told what the sender did (package metrics implements it).
// Its methods are called from the sender's goroutines and must not block.
type Observer interface {
	// Attempted follows every settled attempt: the endpoint's URL, the
	// outcome (one of Outcomes) and how long the HTTP request took.
	Attempted(endpoint, outcome string, took time.Duration)
	// Delivered follows a delivered attempt, with the time from the
	// message's writing to its delivery.
	Delivered(lag time.Duration)
}
