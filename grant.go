package billing

import (
	"context"
	"strconv"
)

// Grant keys: each is tied to the Stripe object that pays for the credits,
// so every event that carries the same payment grants once.
func firstPeriodKey(subID string) string { return "sub:" + subID + ":first_period" }
func renewalKey(invoiceID string) string { return "invoice:" + invoiceID }
func purchaseKey(ref string) string      { return "purchase:" + ref }
func refundKey(paymentID string, refunded int64) string {
	return "refund:" + paymentID + ":" + strconv.FormatInt(refunded, 10)
}

// grant applies g once, or keeps it waiting when its workspace is unknown.
func (a *applier) grant(ctx context.Context, g *Grant) error {
	g.EventID, g.CreatedAt = coalesce(g.EventID, a.e.ID), a.now()
	if g.WorkspaceID == "" {
		if g.CustomerID == "" {
			a.log.Warn("Credit grant has no workspace and no customer to link it later; dropped", "key", g.Key)
			return nil
		}
		return a.tx.AddPendingGrant(ctx, g)
	}
	done, err := a.tx.HasLedgerKey(ctx, g.Key)
	if err != nil || done {
		return err
	}
	bal, err := a.tx.Balance(ctx, g.WorkspaceID)
	if err != nil {
		return err
	}
	entry := func(amount int64, bucket Bucket, reason, key string) error {
		return a.tx.AppendLedger(ctx, &LedgerEntry{
			WorkspaceID: g.WorkspaceID, Amount: amount, Bucket: bucket, Reason: reason,
			IdempotencyKey: key, EventID: g.EventID, CreatedAt: g.CreatedAt,
		})
	}
	switch g.Kind {
	case GrantPeriod:
		if !bal.LotStart.IsZero() && g.PeriodStart.Before(bal.LotStart) {
			// A later period, or the end, was applied first. Had the events
			// come in order, this period's credits would have been granted and
			// then expired by it: write exactly that.
			if err := entry(g.Amount, BucketSubscription, g.Reason, g.Key); err != nil {
				return err
			}
			return entry(-g.Amount, BucketSubscription, lotExpired, g.Key+":expire")
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
	return entry(-max(bal.Subscription, 0), BucketSubscription, lotExpired, bal.Lot+":expire")
}

func (b Balance) of(bucket Bucket) int64 {
	if bucket == BucketSubscription {
		return b.Subscription
	}
	return b.Purchased
}

// parseCredits reads a metadata credits value: a positive whole number.
func parseCredits(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && n <= 1_000_000_000
}
