package billing_test

import (
	"testing"
	"time"

	"github.com/acme/billing"
)

func TestEntitle(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	periodEnd := now.Add(20 * 24 * time.Hour)
	sub := func(status string, edit ...func(*billing.Subscription)) *billing.Subscription {
		s := &billing.Subscription{Status: status, PlanID: "pro", CurrentPeriodEnd: periodEnd}
		for _, e := range edit {
			e(s)
		}
		return s
	}
	cancelAtEnd := func(s *billing.Subscription) { s.CancelAtPeriodEnd = true }
	cancelAt := func(at time.Time) func(*billing.Subscription) {
		return func(s *billing.Subscription) { s.CancelAt = at }
	}
	pastDueFor := func(d time.Duration) func(*billing.Subscription) {
		return func(s *billing.Subscription) { s.PastDueSince = now.Add(-d) }
	}
	pause := func(behavior string, startsAt, resumesAt time.Time) func(*billing.Subscription) {
		return func(s *billing.Subscription) {
			s.Pause = &billing.Pause{Behavior: behavior, StartsAt: startsAt, ResumesAt: resumesAt}
		}
	}
	const grace = 7 * 24 * time.Hour
	for _, tt := range []struct {
		name     string
		sub      *billing.Subscription
		entitled bool
		reason   string
		until    time.Time
	}{
		{"no subscription", nil, false, billing.ReasonNoSubscription, time.Time{}},
		{"active", sub("active"), true, billing.ReasonActive, time.Time{}},
		{"trialing", sub("trialing"), true, billing.ReasonTrialing, time.Time{}},
		{"active, canceling at period end", sub("active", cancelAtEnd), true, billing.ReasonCanceling, periodEnd},
		{"trialing, canceling at period end", sub("trialing", cancelAtEnd), true, billing.ReasonCanceling, periodEnd},
		{"active, cancel_at before the period ends", sub("active", cancelAt(now.Add(time.Hour))), true, billing.ReasonCanceling, now.Add(time.Hour)},
		{"active, its cancellation past, the event not here yet", sub("active", cancelAt(now.Add(-time.Second))), false, billing.ReasonCanceled, time.Time{}},
		{"active, period over and canceling at its end", sub("active", cancelAtEnd, func(s *billing.Subscription) { s.CurrentPeriodEnd = now }), false, billing.ReasonCanceled, time.Time{}},
		{"past due for a day", sub("past_due", pastDueFor(24*time.Hour)), true, billing.ReasonPastDueGrace, now.Add(6 * 24 * time.Hour)},
		{"past due, the grace's last second", sub("past_due", pastDueFor(grace-time.Second)), true, billing.ReasonPastDueGrace, now.Add(time.Second)},
		{"past due for the whole grace", sub("past_due", pastDueFor(grace)), false, billing.ReasonPastDue, time.Time{}},
		{"past due, set to cancel before the grace ends", sub("past_due", pastDueFor(24*time.Hour), cancelAt(now.Add(time.Hour))), true, billing.ReasonPastDueGrace, now.Add(time.Hour)},
		{"past due, its cancellation past", sub("past_due", pastDueFor(24*time.Hour), cancelAt(now.Add(-time.Hour))), false, billing.ReasonCanceled, time.Time{}},
		{"canceled", sub("canceled"), false, billing.ReasonCanceled, time.Time{}},
		{"unpaid", sub("unpaid"), false, billing.ReasonUnpaid, time.Time{}},
		{"incomplete", sub("incomplete"), false, billing.ReasonIncomplete, time.Time{}},
		{"incomplete_expired", sub("incomplete_expired"), false, billing.ReasonIncompleteExpired, time.Time{}},
		{"paused", sub("paused"), false, billing.ReasonPaused, time.Time{}},
		{"void pause, the paid period running", sub("active", pause("void", periodEnd, time.Time{})), true, billing.ReasonPausing, periodEnd},
		{"void pause, started", sub("active", pause("void", now, time.Time{})), false, billing.ReasonPaused, time.Time{}},
		{"void pause, started, resuming later", sub("active", pause("void", now.Add(-time.Hour), now.Add(time.Hour))), false, billing.ReasonPaused, time.Time{}},
		{"void pause whose resumes_at passed", sub("active", pause("void", now.Add(-time.Hour), now)), true, billing.ReasonActive, time.Time{}},
		{"void pause after a cancellation", sub("active", cancelAt(now.Add(time.Hour)), pause("void", periodEnd, time.Time{})), true, billing.ReasonCanceling, now.Add(time.Hour)},
		{"void pause before a cancellation", sub("active", cancelAtEnd, pause("void", now.Add(time.Hour), time.Time{})), true, billing.ReasonPausing, now.Add(time.Hour)},
		{"void pause of a trial", sub("trialing", pause("void", now.Add(-time.Second), time.Time{})), false, billing.ReasonPaused, time.Time{}},
		{"pause keeping invoices as drafts", sub("active", pause("keep_as_draft", now.Add(-time.Hour), time.Time{})), true, billing.ReasonActive, time.Time{}},
		{"pause marking invoices uncollectible", sub("active", pause("mark_uncollectible", now.Add(-time.Hour), time.Time{})), true, billing.ReasonActive, time.Time{}},
		{"past due with a void pause keeps its grace", sub("past_due", pastDueFor(24*time.Hour), pause("void", now.Add(-time.Hour), time.Time{})), true, billing.ReasonPastDueGrace, now.Add(6 * 24 * time.Hour)},
		{"a status Stripe adds later", sub("frozen"), false, billing.ReasonUnknownStatus, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := billing.Entitle(tt.sub, now, grace)
			if e.Entitled != tt.entitled || e.Reason != tt.reason || !e.Until.Equal(tt.until) {
				t.Errorf("Entitle = %+v, want entitled %v, reason %q, until %v", e, tt.entitled, tt.reason, tt.until)
			}
			if tt.sub != nil && e.PlanID != "pro" {
				t.Errorf("plan = %q, want pro", e.PlanID)
			}
		})
	}
}
