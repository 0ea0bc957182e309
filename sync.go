package billing

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// SyncOutcome is what syncing one object fetched from Stripe did (or, in a
// dry run, would do).
type SyncOutcome string

// Sync outcomes.
const (
	SyncCreated   SyncOutcome = "created"
	SyncUpdated   SyncOutcome = "updated"
	SyncUnchanged SyncOutcome = "unchanged"
)

// SyncResult is what syncing one object did.
type SyncResult struct {
	Outcome SyncOutcome
	// Unlinked: no workspace is known for the object yet; it is stored
	// and attached when its customer is linked.
	Unlinked bool
}

var errDryRun = errors.New("dry run")

// Sync applies an object fetched from Stripe (*Customer, *Subscription,
// *Invoice or *Payment) through the rules webhook events use, as an event
// of fetchedAt reporting the object's state: state stored from a newer event
// stays, and keyed grants already made are not made again. With dryRun the
// transaction is rolled back and the outcome says what would change.
func (s *Service) Sync(ctx context.Context, obj any, fetchedAt time.Time, dryRun bool) (SyncResult, error) {
	e := &Event{Type: syncEventType(obj), Created: fetchedAt, Object: obj}
	if e.Type == "" {
		return SyncResult{}, fmt.Errorf("sync: cannot sync a %T", obj)
	}
	var outcome SyncResult
	err := s.inTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, lockKeys(obj)...); err != nil {
			return err
		}
		before, err := snapshot(ctx, tx, obj)
		if err != nil {
			return err
		}
		a := &applier{Service: s, tx: tx, e: e, log: s.logger().With("sync", e.Type)}
		if _, err := a.apply(ctx); err != nil {
			return err
		}
		after, err := snapshot(ctx, tx, obj)
		if err != nil {
			return err
		}
		outcome = compare(before, after)
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return SyncResult{}, fmt.Errorf("sync %s: %w", e.Type, err)
	}
	return outcome, nil
}

// syncEventType is the event that reports an object in its current state.
func syncEventType(obj any) string {
	switch o := obj.(type) {
	case *Customer:
		if o.Deleted {
			return "customer.deleted"
		}
		return "customer.updated"
	case *Subscription:
		if o.Status == SubCanceled || o.Status == "incomplete_expired" {
			return "customer.subscription.deleted"
		}
		return "customer.subscription.updated"
	case *Invoice:
		if o.Status == "paid" {
			return "invoice.paid"
		}
		// An open invoice's failed attempts were reported when they
		// happened; syncing it records it without failing anything again.
		return "invoice.finalized"
	case *Payment:
		if o.Status == "succeeded" {
			return "payment_intent.succeeded"
		}
		return "payment_intent.updated"
	}
	return ""
}

// snap is an object's stored row and its workspace's balance, without the
// bookkeeping of which event wrote it last.
type snap struct {
	row     any
	ws      string
	balance Balance
}

// snapshot reads obj's snap, or nil when obj is not stored.
func snapshot(ctx context.Context, tx Tx, obj any) (*snap, error) {
	var row any
	var ws string
	var err error
	switch o := obj.(type) {
	case *Customer:
		var c *Customer
		if c, err = tx.Customer(ctx, o.ID); err == nil {
			c.LastEventAt, row, ws = time.Time{}, c, c.WorkspaceID
		}
	case *Subscription:
		var s *Subscription
		if s, err = tx.Subscription(ctx, o.ID); err == nil {
			s.LastEventAt, row, ws = time.Time{}, s, s.WorkspaceID
		}
	case *Invoice:
		var in *Invoice
		if in, err = tx.Invoice(ctx, o.ID); err == nil {
			in.LastEventAt, row, ws = time.Time{}, in, in.WorkspaceID
		}
	case *Payment:
		var p *Payment
		if p, err = tx.Payment(ctx, o.ID); err == nil {
			p.LastEventAt, row, ws = time.Time{}, p, p.WorkspaceID
		}
	}
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sn := &snap{row: row, ws: ws}
	if ws != "" {
		if sn.balance, err = tx.Balance(ctx, ws); err != nil {
			return nil, err
		}
	}
	return sn, nil
}

func compare(before, after *snap) SyncResult {
	r := SyncResult{Outcome: SyncUpdated, Unlinked: after == nil || after.ws == ""}
	switch {
	case before == nil:
		r.Outcome = SyncCreated
	case reflect.DeepEqual(before, after):
		r.Outcome = SyncUnchanged
	}
	return r
}
