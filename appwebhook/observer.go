package appwebhook

import (
	"net/url"
	"time"
)

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

// Redact is an endpoint's URL as logs, pages and metrics show it: without
// its user info and its query's values, where an app may put a token.
func Redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparsable URL)"
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	if u.RawQuery != "" {
		shown += "?…"
	}
	return shown
}

// Disabled reports whether a configured endpoint is disabled, waiting for an
// operator: one removed from the configuration is not.
func (e Endpoint) Disabled() bool { return !e.DisabledAt.IsZero() && e.DisabledReason != ReasonRemoved }
