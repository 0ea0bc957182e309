package billing

import (
	"context"
	"maps"
	"time"
)

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
	ReasonPausing           = "pausing" // a void pause_collection: entitled until the paid period ends
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
// cancel is entitled until the cancellation takes effect, and one whose
// collection a void pause stops until the paid period ends (as Pay reads
// pause_behavior void; a pause that keeps invoices as drafts or marks them
// uncollectible gives the service on credit, so it stays entitled); past_due
// is entitled for grace after it became past due; every other status is not.
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
		if p := sub.Pause; e.Entitled && p.stopsService(now) && (e.Until.IsZero() || p.StartsAt.Before(e.Until)) {
			e.Entitled, e.Reason, e.Until = now.Before(p.StartsAt), ReasonPausing, p.StartsAt
			if !e.Entitled {
				e.Reason, e.Until = ReasonPaused, time.Time{}
			}
		}
	case SubPastDue:
		e.Until, e.Reason = sub.PastDueSince.Add(grace), ReasonPastDueGrace
		ended := ReasonPastDue
		if end := sub.cancelsAt(); !end.IsZero() && end.Before(e.Until) {
			e.Until, ended = end, ReasonCanceled // canceled before the grace ends
		}
		if e.Entitled = now.Before(e.Until); !e.Entitled {
			e.Reason, e.Until = ended, time.Time{}
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

// ReasonNotInPlan is a feature's reason when the workspace is entitled but
// its plan does not have the feature.
const ReasonNotInPlan = "not_in_plan"

// WorkspaceEntitlement is what a workspace may use now: its entitlement,
// the features of its plan while entitled, and its credits.
type WorkspaceEntitlement struct {
	Entitlement
	Features map[string]Feature
	Credits  Balance
	// Spendable is what Consume may spend now: purchased credits, and the
	// subscription credits while entitled.
	Spendable int64
}

// FeatureAccess is whether a workspace may use one feature now.
type FeatureAccess struct {
	Feature string
	Allowed bool
	// Limit is the plan's limit of the feature; Limited is false for a
	// feature the plan has without one.
	Limit   int64
	Limited bool
	Reason  string
}

// Entitlements answers what a workspace may use now, or ENOTFOUND.
func (s *Service) Entitlements(ctx context.Context, workspaceID string) (*WorkspaceEntitlement, error) {
	st, err := s.Store.WorkspaceState(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	return s.entitlementOf(st.Subscription, st.Credits), nil
}

// entitlementOf is the answer for a workspace whose current subscription
// is sub (nil for none) and whose balance is bal.
func (s *Service) entitlementOf(sub *Subscription, bal Balance) *WorkspaceEntitlement {
	we := &WorkspaceEntitlement{Entitlement: s.Entitle(sub), Features: map[string]Feature{}, Credits: bal,
		Spendable: bal.Purchased}
	if we.Entitled {
		we.Spendable = bal.Total()
		if plan, ok := s.Plans.ByID(we.PlanID); ok {
			maps.Copy(we.Features, plan.Features)
		}
	}
	return we
}

// FeatureAccess answers whether a workspace may use feature now: allowed
// only while entitled and when its plan has it. A feature no plan has is
// ENOTFOUND, so that a typo in the app does not read as "not allowed".
func (s *Service) FeatureAccess(ctx context.Context, workspaceID, feature string) (*FeatureAccess, error) {
	if !s.Plans.HasFeature(feature) {
		return nil, Errorf(ENOTFOUND, "no plan has the feature %q", feature)
	}
	we, err := s.Entitlements(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	fa := &FeatureAccess{Feature: feature, Reason: we.Reason}
	f, has := we.Features[feature]
	switch {
	case has:
		fa.Allowed = true
		fa.Limit, fa.Limited = f.Limit()
	case we.Entitled:
		fa.Reason = ReasonNotInPlan
	}
	return fa, nil
}
