package billing

import (
	"strings"
	"time"
)

// Bucket is the kind of credit: subscription credits expire with their
// period, purchased credits never expire.
type Bucket string

// Buckets.
const (
	BucketSubscription Bucket = "subscription"
	BucketPurchased    Bucket = "purchased"
)

// LedgerEntry is one append-only change of a workspace's credits.
type LedgerEntry struct {
	ID             int64
	WorkspaceID    string
	Amount         int64 // signed
	Bucket         Bucket
	Reason         string
	IdempotencyKey string
	EventID        string
	CreatedAt      time.Time
	// PeriodStart is when the subscription period a grant pays for began;
	// zero for any other entry.
	PeriodStart time.Time
}

// ByOperator reports whether an operator made the entry (AdjustCredits).
func (e *LedgerEntry) ByOperator() bool { return strings.HasPrefix(e.IdempotencyKey, kindAdjust+":") }

// Balance is a workspace's credits by bucket.
type Balance struct {
	Subscription int64
	Purchased    int64
	// Lot is the key of the grant the subscription credits come from and
	// LotStart the start of the period it paid; when a newer period is paid,
	// or the subscription ends, that lot's remainder expires.
	Lot      string
	LotStart time.Time
}

// Total is the spendable balance.
func (b Balance) Total() int64 { return addSaturating(b.Subscription, b.Purchased) }

// GrantKind says how a grant changes the balance.
type GrantKind string

// Grant kinds.
const (
	// GrantAdd adds Amount (negative takes back, never below zero) to Bucket.
	GrantAdd GrantKind = "add"
	// GrantPeriod pays the subscription period starting at PeriodStart: the
	// previous period's remaining credits expire and Amount is added.
	GrantPeriod GrantKind = "period"
	// GrantEnd ends the subscription credits at PeriodStart: the current
	// period's remaining credits expire.
	GrantEnd GrantKind = "end"
)

// Grant is a credit change caused by a Stripe object. Its Key is tied to that
// object, so the same grant is applied once whichever events carry it. A grant
// whose workspace is not known yet waits, keyed by customer and subscription,
// until an event links them.
type Grant struct {
	Key            string
	Kind           GrantKind
	WorkspaceID    string
	CustomerID     string
	SubscriptionID string
	Bucket         Bucket
	Amount         int64
	// PeriodStart orders period grants and ends: see Balance.Lot.
	PeriodStart time.Time
	Reason      string
	EventID     string
	CreatedAt   time.Time
}
