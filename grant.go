package billing

import (
	"context"
	"fmt"
)

// grant applies g once, or keeps it waiting when its workspace is unknown.
func (a *applier) grant(ctx context.Context, g *Grant) error {
	_, err := a.grantOnce(ctx, g)
	return err
}

// grantOnce is grant that also reports whether g was new: not in the ledger
// before (granted now, or kept waiting for its workspace).
func (a *applier) grantOnce(ctx context.Context, g *Grant) (fresh bool, err error) {
	g.EventID, g.CreatedAt = coalesce(g.EventID, a.e.ID), a.now()
	if g.WorkspaceID == "" {
		if g.CustomerID == "" {
			a.log.Warn("Credit grant has no workspace and no customer to link it later; dropped", "key", g.Key)
			return true, nil
		}
		return true, a.tx.AddPendingGrant(ctx, g)
	}
	done, err := a.tx.HasLedgerKey(ctx, g.Key)
	if err != nil || done {
		return false, err
	}
	return true, a.applyGrant(ctx, g)
}

// applyGrant writes the ledger entries of a grant not applied yet.
func (a *applier) applyGrant(ctx context.Context, g *Grant) error {
	bal, err := a.tx.Balance(ctx, g.WorkspaceID)
	if err != nil {
		return err
	}
	// appendEntry appends one ledger entry and keeps bal in step with it;
	// entry also refuses one that would pass the cap, checked against the
	// balance each entry of the grant meets.
	appendEntry := func(amount int64, bucket Bucket, reason, key string) error {
		e := &LedgerEntry{
			WorkspaceID: g.WorkspaceID, Amount: amount, Bucket: bucket, Reason: reason,
			IdempotencyKey: key, EventID: g.EventID, CreatedAt: g.CreatedAt,
		}
		if g.Kind == GrantPeriod && key == g.Key {
			e.PeriodStart = g.PeriodStart // the grant, not its lot's expiry
		}
		inserted, err := a.tx.AppendLedger(ctx, e)
		if inserted {
			bal.add(bucket, amount)
		}
		return err
	}
	entry := func(amount int64, bucket Bucket, reason, key string) error {
		if err := checkCap(g.WorkspaceID, bal, amount); err != nil {
			return fmt.Errorf("grant %s: %w", g.Key, err)
		}
		return appendEntry(amount, bucket, reason, key)
	}
	switch g.Kind {
	case GrantPeriod:
		if !bal.LotStart.IsZero() && g.PeriodStart.Before(bal.LotStart) {
			// A later period, or the end, was applied first. Had the events
			// come in order, this period's credits would have been granted and
			// then expired by it: write exactly that. The pair adds nothing,
			// so the cap does not apply to it.
			if err := appendEntry(g.Amount, BucketSubscription, g.Reason, g.Key); err != nil {
				return err
			}
			return appendEntry(-g.Amount, BucketSubscription, lotExpired, expireKey(g.Key))
		}
		if err := a.expireLot(bal, entry); err != nil {
			return err
		}
		if err := entry(g.Amount, BucketSubscription, g.Reason, g.Key); err != nil {
			return err
		}
		return a.tx.SetSubscriptionLot(ctx, g.WorkspaceID, g.Key, g.PeriodStart)
	case GrantEnd:
		if g.PeriodStart.Before(bal.LotStart) {
			return nil // a newer period began after this end
		}
		if err := a.expireLot(bal, entry); err != nil {
			return err
		}
		return a.tx.SetSubscriptionLot(ctx, g.WorkspaceID, "", g.PeriodStart)
	default:
		amount := g.Amount
		if have := bal.of(g.Bucket); amount < 0 && -amount > have {
			// Credits already spent cannot be taken back; the balance stays >= 0.
			amount = -max(have, 0)
		}
		return entry(amount, g.Bucket, g.Reason, g.Key)
	}
}

// lotExpired is the reason of every lot expiry, the same whichever event
// ends the lot, so that the ledger does not depend on delivery order.
const lotExpired = "subscription credits expired at the end of their period"

// expireLot expires what remains of the current period's credits, keyed by
// the grant that gave them, so it happens once whichever event ends them.
func (a *applier) expireLot(bal Balance, entry func(int64, Bucket, string, string) error) error {
	if bal.Lot == "" {
		return nil
	}
	return entry(-max(bal.Subscription, 0), BucketSubscription, lotExpired, expireKey(bal.Lot))
}

func (b Balance) of(bucket Bucket) int64 {
	if bucket == BucketSubscription {
		return b.Subscription
	}
	return b.Purchased
}

// add moves a bucket by amount.
func (b *Balance) add(bucket Bucket, amount int64) {
	if bucket == BucketSubscription {
		b.Subscription += amount
	} else {
		b.Purchased += amount
	}
}

// checkCap refuses an entry that would take a workspace's balance past
// MaxBalance. Only additions are checked: a balance above the cap, which
// only an earlier release or a hand edit could store, may still be spent
// and corrected down.
func checkCap(workspaceID string, bal Balance, amount int64) error {
	if amount > 0 && bal.Total() > MaxBalance-amount {
		return Errorf(EINVALID, "adding %d credits to workspace %q, which has %d, would pass the cap of %d credits per workspace",
			amount, workspaceID, bal.Total(), int64(MaxBalance))
	}
	return nil
}

// metadataCredits reads metadata.credits of a credits purchase, logging a
// value that grants nothing: such a payment is recorded, and its event
// processed, without credits.
func (a *applier) metadataCredits(md map[string]string, object, id string) int64 {
	n, ok := parseCredits(md["credits"])
	if !ok {
		a.log.Warn("Credits purchase has no valid metadata.credits; nothing granted", object, id,
			"credits", md["credits"], "want", fmt.Sprintf("a whole number from 1 to %d", MaxMetadataCredits))
	}
	return n
}
