package billing

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Messages tell the app what changed. A message is written in the same
// transaction as the change that causes it, into the store's message
// table: a change rolled back sends nothing, one committed is never lost.
// Package appwebhook delivers them; the app API serves them as a feed.
//
// Messages are derived from state, not from Stripe's events: the rules
// compare each object before and after a transaction, so a duplicate or
// replayed event, which changes nothing, says nothing either.

// Message types: our own vocabulary, stable across Stripe API versions.
const (
	MsgSubscriptionActivated    = "subscription.activated"
	MsgSubscriptionUpdated      = "subscription.updated"
	MsgSubscriptionCanceling    = "subscription.canceling"
	MsgSubscriptionResumed      = "subscription.resumed"
	MsgSubscriptionPastDue      = "subscription.past_due"
	MsgSubscriptionCanceled     = "subscription.canceled"
	MsgSubscriptionTrialWillEnd = "subscription.trial_will_end"
	MsgInvoicePaid              = "invoice.paid"
	MsgInvoicePaymentFailed     = "invoice.payment_failed"
	MsgPaymentSucceeded         = "payment.succeeded"
	MsgPaymentFailed            = "payment.failed"
	MsgCreditsGranted           = "credits.granted"
	MsgCreditsExpired           = "credits.expired"
	MsgCreditsTakenBack         = "credits.taken_back"
	MsgCreditsLow               = "credits.low"
	MsgEntitlementsChanged      = "entitlements.changed"
)

// MessageTypes lists every message type, in the order the README tells them.
var MessageTypes = []string{
	MsgSubscriptionActivated, MsgSubscriptionUpdated, MsgSubscriptionCanceling, MsgSubscriptionResumed,
	MsgSubscriptionPastDue, MsgSubscriptionCanceled, MsgSubscriptionTrialWillEnd,
	MsgInvoicePaid, MsgInvoicePaymentFailed, MsgPaymentSucceeded, MsgPaymentFailed,
	MsgCreditsGranted, MsgCreditsExpired, MsgCreditsTakenBack, MsgCreditsLow, MsgEntitlementsChanged,
}

// IsMessageType reports whether t is one of MessageTypes.
func IsMessageType(t string) bool { return slices.Contains(MessageTypes, t) }

// ParseMessageTypes parses a comma-separated list of message types, as the
// feed's types= and `billing app-webhooks listen --types` take it; field
// names the input in the error.
func ParseMessageTypes(field, list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	types := strings.Split(list, ",")
	for _, t := range types {
		if !IsMessageType(t) {
			return nil, Errorf(EINVALID, "%s: %q is not a message type; the types are %s",
				field, t, strings.Join(MessageTypes, ", "))
		}
	}
	return types, nil
}

// Message is one message to the app.
type Message struct {
	// Position is the store's order of messages, internal to the store.
	Position int64
	// ID is the message's id, msg_…: the webhook-id of every attempt.
	ID string
	// Key, when set, names the cause of a message that no state comparison
	// can tell apart (a second failed attempt of an invoice): a key stored
	// already adds nothing.
	Key         string
	Type        string
	WorkspaceID string
	// Sequence counts a workspace's messages from 1, in the order their
	// transactions wrote them.
	Sequence  int64
	CreatedAt time.Time
	// Body is the JSON sent, fixed when the message is written.
	Body []byte
}

// messageBody is a message as sent: data is the read model of the object
// after the change; previous, for subscription.updated and
// entitlements.changed, the fields that changed as they were before.
type messageBody struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	CreatedAt   string `json:"created_at"`
	WorkspaceID string `json:"workspace_id"`
	Sequence    int64  `json:"sequence"`
	Data        any    `json:"data"`
	Previous    any    `json:"previous,omitempty"`
}

// newMessageID returns msg_ and 26 random base32 characters.
func newMessageID() string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	b := make([]byte, 26)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return "msg_" + string(b)
}

// WorkspaceMark is what the app was last told of a workspace: the last
// sequence number given, the entitlement announced (so that a change of it,
// by an event or by time, is told once) and whether the credits were low.
type WorkspaceMark struct {
	WorkspaceID string
	Sequence    int64
	// Entitlement is the signature of the entitlement last announced; ""
	// before the first, which stands for no subscription.
	Entitlement string
	// Until is when the announced entitlement changes by itself (a grace or
	// a cancellation running out); zero for never.
	Until      time.Time
	CreditsLow bool
	// Credits is the workspace's balance, read with the mark.
	Credits Balance
}

// FeedQuery selects messages of the feed.
type FeedQuery struct {
	// After is the cursor a previous page returned; "" starts at the oldest
	// message kept.
	After       string
	Limit       int
	WorkspaceID string
	Types       []string
}

// FeedPage is a page of the feed, in commit order. Next is the cursor to
// ask for the following page with; it is After when no message is new.
type FeedPage struct {
	Messages []Message
	Next     string
}

// Messages are caps of the feed.
const (
	DefaultFeedLimit = 100
	MaxFeedLimit     = 1000
	// DefaultFeedRetention is how long messages are kept (BILLING_FEED_RETENTION).
	DefaultFeedRetention = 30 * 24 * time.Hour
)

// Feed is the store's side of the feed.
type Feed interface {
	// Feed returns the messages after q.After in commit order: a message
	// appears only once every transaction that could still write one before
	// it has ended, so a reader that follows Next never misses one.
	Feed(ctx context.Context, q FeedQuery) (*FeedPage, error)
	// FeedEnd is the cursor after the newest message visible now.
	FeedEnd(ctx context.Context) (string, error)
	// PruneMessages deletes the messages written before t and what their
	// delivery kept, and returns how many.
	PruneMessages(ctx context.Context, before time.Time) (int64, error)
}

// signature is what entitlements.changed compares: the answer without the
// credits, which move on every spend, and without the time it lasts until,
// which moves on every renewal.
func (we *WorkspaceEntitlement) signature() string {
	b, _ := json.Marshal(struct {
		Entitled bool               `json:"entitled"`
		Reason   string             `json:"reason"`
		Plan     string             `json:"plan"`
		Features map[string]Feature `json:"features"`
	}{we.Entitled, we.Reason, we.PlanID, we.Features})
	return string(b)
}

// CheckEntitlements tells the app of the entitlements that changed with
// time since they were announced (a past-due grace or a cancellation ran
// out) and returns how many workspaces it checked. A workspace whose check
// fails is reported, and the others are still checked.
func (s *Service) CheckEntitlements(ctx context.Context) (int, error) {
	due, err := s.Store.DueEntitlementChecks(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("entitlement checks: %w", err)
	}
	var errs []error
	for _, ws := range due {
		err := s.inTx(ctx, func(tx Tx) error {
			// Locked as the workspace's events lock it.
			w, err := tx.Workspace(ctx, ws)
			if err != nil {
				return err
			}
			if err := tx.Lock(ctx, w.StripeCustomerID); err != nil {
				return err
			}
			tx.(*recorder).recheck = append(tx.(*recorder).recheck, ws)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("entitlement of workspace %s: %w", ws, err))
		}
	}
	return len(due), errors.Join(errs...)
}
