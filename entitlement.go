package billing

import "time"

// Entitlement is whether a workspace may use what its plan gives now, and
// why: the one answer to "which statuses count", for the API, consumption
// and the app's messages alike.
type Entitlement struct {
	Entitled bool
	// Reason is one of the Reason* constants.
	Reason string
	// PlanID is the subscription's plan, "" for none or a price no plan sells.
	PlanID string
	// Until is when an entitlement known to end ends (a subscription set to
	// cancel, the grace of a past-due one); zero for none.
	Until time.Time
}

// Entitlement reasons: why a workspace is entitled or not.
const (
	ReasonActive            = "active"
	ReasonTrialing          = "trialing"
	ReasonCanceling         = "canceling"      // entitled until the cancellation takes effect
	ReasonPastDueGrace      = "past_due_grace" // entitled for the grace after the payment failed
	ReasonPastDue           = "past_due"       // the grace is over
	ReasonCanceled          = "canceled"       // also: its cancellation took effect, the event not yet here
	ReasonUnpaid            = "unpaid"
	ReasonIncomplete        = "incomplete"
	ReasonIncompleteExpired = "incomplete_expired"
	ReasonPaused            = "paused"
	ReasonNoSubscription    = "no_subscription"
	// ReasonUnknownStatus is a status Stripe added after this release.
	ReasonUnknownStatus = "unknown_status"
)

// Past-due grace: how long a past-due subscription stays entitled by
// default, and the Service.PastDueGrace that gives none.
const (
	DefaultPastDueGrace = 7 * 24 * time.Hour
	NoGrace             = time.Duration(-1)
)

// Entitle says whether sub, a workspace's current subscription (nil for
// none), entitles it at now. active and trialing are entitled; one set to
// cancel is entitled until the cancellation takes effect; past_due is
// entitled for grace after it became past due; every other status is not.
func Entitle(sub *Subscription, now time.Time, grace time.Duration) Entitlement {
	if sub == nil {
		return Entitlement{Reason: ReasonNoSubscription}
	}
	e := Entitlement{PlanID: sub.PlanID}
	switch sub.Status {
	case SubActive, SubTrialing:
		e.Entitled, e.Reason = true, sub.Status
		if end := sub.cancelsAt(); !end.IsZero() {
			e.Entitled, e.Reason, e.Until = now.Before(end), ReasonCanceling, end
			if !e.Entitled {
				e.Reason, e.Until = ReasonCanceled, time.Time{}
			}
		}
	case SubPastDue:
		e.Until = sub.PastDueSince.Add(grace)
		e.Entitled, e.Reason = now.Before(e.Until), ReasonPastDueGrace
		if !e.Entitled {
			e.Reason, e.Until = ReasonPastDue, time.Time{}
		}
	case SubCanceled, SubUnpaid, SubIncomplete, SubIncompleteExpired, SubPaused:
		e.Reason = sub.Status
	default:
		e.Reason = ReasonUnknownStatus
	}
	return e
}

// cancelsAt is when a subscription's scheduled cancellation takes effect:
// cancel_at, or the period's end when it cancels at period end; zero when
// it renews.
func (s *Subscription) cancelsAt() time.Time {
	switch {
	case !s.CancelAt.IsZero():
		return s.CancelAt
	case s.CancelAtPeriodEnd:
		return s.CurrentPeriodEnd
	}
	return time.Time{}
}
