package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Adjustment is an operator's correction of a workspace's credits
// (billing credits adjust): one signed ledger entry, keyed so that running
// the same correction again changes nothing.
type Adjustment struct {
	WorkspaceID string
	Amount      int64 // signed
	Bucket      Bucket
	Reason      string
	// Key names the correction within its workspace; "" derives one from
	// the amount, bucket and reason, so a retried command applies once.
	Key string

	// Set by AdjustCredits.
	Balance   Balance // after the adjustment
	CreatedAt time.Time
	Replayed  bool // the key was applied before: nothing changed
}

func (adj *Adjustment) validate() error {
	if err := ValidateWorkspaceID(adj.WorkspaceID); err != nil {
		return err
	}
	switch {
	case adj.Amount == 0 || adj.Amount == math.MinInt64:
		return Errorf(EINVALID, "the amount must be a whole number other than 0")
	case adj.Bucket != BucketPurchased && adj.Bucket != BucketSubscription:
		return Errorf(EINVALID, "bucket must be %s or %s, not %q", BucketPurchased, BucketSubscription, adj.Bucket)
	case adj.Reason == "":
		return Errorf(EINVALID, "a reason is required: it is kept in the ledger")
	}
	if err := checkText("reason", adj.Reason, MaxReason); err != nil {
		return err
	}
	return checkText("key", adj.Key, MaxIdempotencyKey)
}

// AdjustCredits appends an operator's correction to a workspace's ledger.
// A correction never takes a bucket below zero (EINSUFFICIENT) or the
// balance past MaxBalance (EINVALID). The same key again returns the first
// correction with Replayed set, or ECONFLICT when it differs.
func (s *Service) AdjustCredits(ctx context.Context, req Adjustment) (*Adjustment, error) {
	adj := req
	adj.Reason = strings.TrimSpace(adj.Reason)
	if adj.Bucket == "" {
		adj.Bucket = BucketPurchased
	}
	if adj.Key == "" {
		adj.Key = derivedAdjustKey(&adj)
	}
	if err := adj.validate(); err != nil {
		return nil, err
	}
	adj.CreatedAt = s.now()
	err := s.inTx(ctx, func(tx Tx) error { return s.adjustIn(ctx, tx, &adj) })
	if err != nil {
		return nil, fmt.Errorf("adjust the credits of workspace %q by %d: %w", adj.WorkspaceID, adj.Amount, err)
	}
	if !adj.Replayed {
		s.logger().Warn("Credits adjusted by an operator", "workspace", adj.WorkspaceID, "amount", adj.Amount,
			"bucket", adj.Bucket, "reason", adj.Reason, "key", adj.Key, "balance", adj.Balance.Total())
	}
	return &adj, nil
}

func (s *Service) adjustIn(ctx context.Context, tx Tx, adj *Adjustment) error {
	// The balance read locks the workspace row, as Consume's does.
	bal, err := tx.Balance(ctx, adj.WorkspaceID)
	if err != nil {
		return err
	}
	adj.Balance = bal
	key := adjustKey(adj.WorkspaceID, adj.Key)
	prev, err := tx.LedgerEntry(ctx, key)
	switch {
	case err == nil:
		if prev.Amount != adj.Amount || prev.Bucket != adj.Bucket {
			return Errorf(ECONFLICT, "key %q was used for %d %s credits, not %d %s", adj.Key, prev.Amount, prev.Bucket, adj.Amount, adj.Bucket)
		}
		adj.Replayed, adj.Reason, adj.CreatedAt = true, prev.Reason, prev.CreatedAt
		return nil
	case !isNotFound(err):
		return err
	}
	if have := bal.of(adj.Bucket); adj.Amount < 0 && have < -adj.Amount {
		return Errorf(EINSUFFICIENT, "workspace %q has %d %s credits: taking %d would leave it below zero", adj.WorkspaceID, have, adj.Bucket, -adj.Amount)
	}
	if err := checkCap(adj.WorkspaceID, bal, adj.Amount); err != nil {
		return err
	}
	inserted, err := tx.AppendLedger(ctx, &LedgerEntry{WorkspaceID: adj.WorkspaceID, Amount: adj.Amount, Bucket: adj.Bucket,
		Reason: adj.Reason, IdempotencyKey: key, CreatedAt: adj.CreatedAt})
	if err != nil {
		return err
	}
	if !inserted { // LedgerEntry found none a moment ago, in this transaction
		return Errorf(ECONFLICT, "ledger key %q is already used by another entry", key)
	}
	adj.Balance.add(adj.Bucket, adj.Amount)
	return nil
}

// derivedAdjustKey names a correction by what it does, so that the same
// command run twice (a retry after a timeout) applies once; a second,
// identical correction needs a key or reason of its own.
func derivedAdjustKey(adj *Adjustment) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(adj.Amount, 10) + "\x00" + string(adj.Bucket) + "\x00" + adj.Reason))
	return "auto-" + hex.EncodeToString(sum[:8])
}
