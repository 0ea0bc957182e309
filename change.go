package billing

// Limits of what a checkout or a change of a subscription asks for.
const (
	// MaxQuantity caps a subscription's seats.
	MaxQuantity = 10_000
	// MaxTrialDays is Stripe's own cap on a trial: two years.
	MaxTrialDays = 730
	// MaxDiscountCode caps a coupon's or promotion code's id, in bytes.
	MaxDiscountCode = 255
)

// Live reports whether a subscription is one the workspace has now, paid or
// not: a second checkout would bill it twice. A status Stripe adds later is
// not counted, nor one no event has told yet.
func (s *Subscription) Live() bool {
	switch s.Status {
	case SubActive, SubTrialing, SubPastDue, SubIncomplete, SubUnpaid, SubPaused:
		return true
	}
	return false
}

// checkCount refuses a count that is given but outside 1..max.
func checkCount(field string, n *int64, max int64) error {
	if n != nil && (*n < 1 || *n > max) {
		return Errorf(EINVALID, "%s must be a whole number from 1 to %d", field, max)
	}
	return nil
}

// valueOr is *p, or or for nil.
func valueOr(p *int64, or int64) int64 {
	if p == nil {
		return or
	}
	return *p
}
