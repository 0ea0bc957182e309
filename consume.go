package billing

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Consumption is credits a workspace spent on the app's request, recorded
// under the app's idempotency key so that a retried request spends once and
// gets the same answer.
type Consumption struct {
	WorkspaceID    string
	IdempotencyKey string
	Amount         int64
	Reason         string
	// FromSubscription and FromPurchased split Amount: subscription credits,
	// which expire, are spent first.
	FromSubscription int64
	FromPurchased    int64
	// Balance is the workspace's balance right after this consumption.
	Balance   Balance
	CreatedAt time.Time
	// Replayed is set when the answer is the stored one of an earlier request.
	Replayed bool
}

// Consumption limits.
const (
	MaxConsumeAmount  = 1_000_000_000
	MaxIdempotencyKey = 255
	MaxReason         = 200
)

func (c *Consumption) validate() error {
	if err := ValidateWorkspaceID(c.WorkspaceID); err != nil {
		return err
	}
	if c.Amount < 1 || c.Amount > MaxConsumeAmount {
		return Errorf(EINVALID, "amount must be a whole number from 1 to %d", MaxConsumeAmount)
	}
	if c.IdempotencyKey == "" {
		return Errorf(EINVALID, "idempotency_key is required")
	}
	if err := checkText("idempotency_key", c.IdempotencyKey, MaxIdempotencyKey); err != nil {
		return err
	}
	return checkText("reason", c.Reason, MaxReason)
}

// Consume spends amount credits of a workspace, subscription credits first.
// Subscription credits are spendable only while the workspace is entitled
// (Entitle); purchased credits always are. The same idempotency key again
// returns the first answer and spends nothing; with another amount it is a
// conflict. A balance short of amount spends nothing (EINSUFFICIENT, or
// ENOTENTITLED when the subscription credits would cover it), and that
// refusal is not remembered, so the same key may succeed later.
func (s *Service) Consume(ctx context.Context, req Consumption) (*Consumption, error) {
	c := req
	c.Reason = strings.TrimSpace(c.Reason)
	if c.Reason == "" {
		c.Reason = "consume"
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.CreatedAt = s.now()
	var out *Consumption
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		out, err = s.consumeIn(ctx, tx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("consume %d credits of workspace %q: %w", c.Amount, c.WorkspaceID, err)
	}
	return out, nil
}

// spendableSubscriptionCredits is the part of the subscription credits the
// workspace may spend now: all while it is entitled, none otherwise. A
// shortfall that only subscription credits would cover is ENOTENTITLED.
func (s *Service) spendableSubscriptionCredits(ctx context.Context, tx Tx, c Consumption, bal Balance) (int64, error) {
	if bal.Subscription <= 0 {
		return 0, nil
	}
	sub, err := tx.CurrentSubscription(ctx, c.WorkspaceID)
	if err != nil && !isNotFound(err) {
		return 0, err
	}
	ent := Entitle(sub, c.CreatedAt, s.pastDueGrace())
	switch {
	case ent.Entitled:
		return bal.Subscription, nil
	case bal.Purchased < c.Amount && bal.Total() >= c.Amount:
		return 0, Errorf(ENOTENTITLED, "workspace %q is not entitled (%s): its %d subscription credits cannot be spent now, and %d purchased credits are fewer than %d",
			c.WorkspaceID, ent.Reason, bal.Subscription, bal.Purchased, c.Amount)
	}
	return 0, nil
}

func (s *Service) consumeIn(ctx context.Context, tx Tx, c Consumption) (*Consumption, error) {
	// The balance read locks the workspace row until the transaction ends
	// (PostgreSQL; SQLite has one writer): concurrent consumers queue here.
	bal, err := tx.Balance(ctx, c.WorkspaceID)
	if err != nil {
		return nil, err
	}
	if prev, err := tx.Consumption(ctx, c.WorkspaceID, c.IdempotencyKey); err == nil {
		if prev.Amount != c.Amount {
			return nil, Errorf(ECONFLICT, "idempotency_key %q was used for %d credits, not %d", c.IdempotencyKey, prev.Amount, c.Amount)
		}
		prev.Replayed = true
		return prev, nil
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, err
	}
	spendable, err := s.spendableSubscriptionCredits(ctx, tx, c, bal)
	if err != nil {
		return nil, err
	}
	if addSaturating(spendable, bal.Purchased) < c.Amount {
		return nil, Errorf(EINSUFFICIENT, "workspace %q has %d credits, %d needed", c.WorkspaceID, bal.Total(), c.Amount)
	}
	c.FromSubscription = min(c.Amount, spendable)
	c.FromPurchased = c.Amount - c.FromSubscription
	for _, part := range []struct {
		bucket Bucket
		amount int64
	}{{BucketSubscription, c.FromSubscription}, {BucketPurchased, c.FromPurchased}} {
		if part.amount == 0 {
			continue
		}
		key := consumeKey(&c, part.bucket)
		inserted, err := tx.AppendLedger(ctx, &LedgerEntry{WorkspaceID: c.WorkspaceID, Amount: -part.amount, Bucket: part.bucket,
			Reason: c.Reason, IdempotencyKey: key, CreatedAt: c.CreatedAt})
		if err != nil {
			return nil, err
		}
		if !inserted {
			// No consumption of this key is stored, so its entry cannot be
			// either: the key is taken by another cause. Spending nothing
			// while answering "spent" would hand out credits.
			return nil, Errorf(ECONFLICT, "ledger key %q is already used by another entry", key)
		}
	}
	c.Balance = bal
	c.Balance.Subscription -= c.FromSubscription
	c.Balance.Purchased -= c.FromPurchased
	return &c, tx.SaveConsumption(ctx, &c)
}
