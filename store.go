package billing

import (
	"context"
	"time"
)

// Store is the billing database. Implementations live in package store.
type Store interface {
	Feed
	// InTx runs fn in one transaction, committed only if fn returns nil.
	// Everything an event changes goes through one call, so it is durable
	// all at once or not at all.
	InTx(ctx context.Context, fn func(Tx) error) error
	// InBatch takes the locks needs names (see Tx.Lock), then runs each fn
	// in one transaction as if in a savepoint of its own: what a fn that
	// returns an error changed is undone alone. It commits once and returns
	// each fn's error; when the locks or the commit fail, every fn's error
	// is that one. The rows needs names may be read before any fn runs.
	InBatch(ctx context.Context, needs *Needs, fns []func(Tx) error) []error

	// Workspace returns a workspace or an ENOTFOUND error.
	Workspace(ctx context.Context, id string) (*Workspace, error)
	// WorkspaceState returns the read API's view of a workspace, or ENOTFOUND.
	WorkspaceState(ctx context.Context, id string) (*WorkspaceState, error)
	// HasLedgerKey reports whether an entry has the key.
	HasLedgerKey(ctx context.Context, key string) (bool, error)
	// MultiMonthSubscriptions lists the subscriptions not ended whose price
	// bills a year or several months and that had a period paid.
	MultiMonthSubscriptions(ctx context.Context) ([]Subscription, error)
	// Subscriptions lists every subscription a workspace has had, newest first.
	Subscriptions(ctx context.Context, workspaceID string) ([]Subscription, error)
	Invoices(ctx context.Context, workspaceID string) ([]Invoice, error)
	Payments(ctx context.Context, workspaceID string) ([]Payment, error)
	CheckoutSessions(ctx context.Context, workspaceID string) ([]CheckoutSession, error)
	Refunds(ctx context.Context, workspaceID string) ([]Refund, error)
	Disputes(ctx context.Context, workspaceID string) ([]Dispute, error)
	Ledger(ctx context.Context, workspaceID string) ([]LedgerEntry, error)
	// Event returns a stored event with its payload, or ENOTFOUND.
	Event(ctx context.Context, id string) (*Event, error)
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	// RecordFailure marks an event failed, storing it first if needed, and
	// counts the attempt. It runs in a transaction of its own because the
	// one that failed has been rolled back.
	RecordFailure(ctx context.Context, e *Event, cause string, at time.Time) error
	// SavePrices records a refresh of the price cache, shared by every
	// instance: on success (r.Error "") it caches prices, fetched at r.At;
	// on failure it keeps the prices cached before.
	SavePrices(ctx context.Context, prices []Price, r PriceRefresh) error
	// CachedPrices returns the cached prices by id and the last refresh.
	CachedPrices(ctx context.Context) (map[string]Price, PriceRefresh, error)
	// DueEntitlementChecks lists the workspaces whose announced entitlement
	// changes by itself at or before now (WorkspaceMark.Until).
	DueEntitlementChecks(ctx context.Context, now time.Time) ([]string, error)
	Close() error
}

// Tx is what the billing rules read and write inside one transaction.
// Getters return an ENOTFOUND error for a missing row.
type Tx interface {
	// BeginEvent stores e as received and returns nil, or, when its id is
	// already stored, returns the stored event (status and payload). An
	// event not yet done counts a new attempt and keeps e's payload, the one
	// about to be applied.
	BeginEvent(ctx context.Context, e *Event) (prev *Event, err error)
	// FinishEvent records e applied with status at: its note, object and
	// workspace too.
	FinishEvent(ctx context.Context, e *Event, status EventStatus, at time.Time) error
	// Lock serialises, until the transaction ends, the transactions that
	// lock any of the same keys (Stripe object ids), so that concurrent
	// events about one customer apply one after the other on any database.
	Lock(ctx context.Context, keys ...string) error

	Workspace(ctx context.Context, id string) (*Workspace, error)
	// EnsureWorkspace creates a workspace with only its id when it is missing:
	// Stripe may name a workspace before the app creates it.
	EnsureWorkspace(ctx context.Context, id string, at time.Time) error
	CreateWorkspace(ctx context.Context, w *Workspace) (created bool, err error)
	SetWorkspaceCustomer(ctx context.Context, workspaceID, customerID string) error

	Customer(ctx context.Context, id string) (*Customer, error)
	SaveCustomer(ctx context.Context, c *Customer) error
	Subscription(ctx context.Context, id string) (*Subscription, error)
	// CurrentSubscription returns the subscription a workspace's state shows
	// (WorkspaceState.Subscription), or ENOTFOUND.
	CurrentSubscription(ctx context.Context, workspaceID string) (*Subscription, error)
	SaveSubscription(ctx context.Context, s *Subscription) error
	Invoice(ctx context.Context, id string) (*Invoice, error)
	SaveInvoice(ctx context.Context, inv *Invoice) error
	Payment(ctx context.Context, id string) (*Payment, error)
	SavePayment(ctx context.Context, p *Payment) error
	CheckoutSession(ctx context.Context, id string) (*CheckoutSession, error)
	SaveCheckoutSession(ctx context.Context, cs *CheckoutSession) error
	Refund(ctx context.Context, id string) (*Refund, error)
	SaveRefund(ctx context.Context, r *Refund) error
	Dispute(ctx context.Context, id string) (*Dispute, error)
	SaveDispute(ctx context.Context, d *Dispute) error

	// AttachUnlinked gives workspaceID every subscription, invoice, payment and
	// notification of customerID that has no workspace yet.
	AttachUnlinked(ctx context.Context, workspaceID, customerID string) error

	Balance(ctx context.Context, workspaceID string) (Balance, error)
	SetSubscriptionLot(ctx context.Context, workspaceID, key string, start time.Time) error
	HasLedgerKey(ctx context.Context, key string) (bool, error)
	// LedgerEntry returns the entry stored under key, or ENOTFOUND.
	LedgerEntry(ctx context.Context, key string) (*LedgerEntry, error)
	// AppendLedger adds an entry and updates the cached balance in step. An
	// entry whose key is stored already is not added: inserted is false.
	AppendLedger(ctx context.Context, e *LedgerEntry) (inserted bool, err error)
	// Consumption returns the consumption stored under a workspace's
	// idempotency key, or an ENOTFOUND error.
	Consumption(ctx context.Context, workspaceID, key string) (*Consumption, error)
	SaveConsumption(ctx context.Context, c *Consumption) error
	// AddPendingGrant keeps a grant whose workspace is unknown; once per key.
	AddPendingGrant(ctx context.Context, g *Grant) error
	// TakePendingGrants removes and returns, oldest first, the grants that
	// waited for customerID to be linked.
	TakePendingGrants(ctx context.Context, customerID string) ([]Grant, error)

	// AddNotification queues a notification once per key.
	AddNotification(ctx context.Context, n *Notification) error
	// WorkspaceMark returns what the app was last told of a workspace, with
	// its credits, locking it as Balance does until the transaction ends, or
	// ENOTFOUND.
	WorkspaceMark(ctx context.Context, workspaceID string) (*WorkspaceMark, error)
	// AddMessage stores a message for the app; one whose Key is stored
	// already is not added: inserted is false.
	AddMessage(ctx context.Context, m *Message) (inserted bool, err error)
	// AddMessages stores messages without keys and, unless it is nil, the
	// workspace's mark, at once.
	AddMessages(ctx context.Context, ms []*Message, mark *WorkspaceMark) error

	// DiscardNotifications keeps the pending notifications about a Stripe
	// object from being sent, saying why.
	DiscardNotifications(ctx context.Context, objectID, reason string) error
}
