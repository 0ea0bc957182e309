package api

import (
	"net/http"
	"strconv"

	"github.com/acme/billing"
)

func (s *Server) listLedgerHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.LedgerEntry, error) {
		return s.Service.Store.Ledger(r.Context(), id)
	}, func(e billing.LedgerEntry) billing.LedgerEntryView { return billing.ViewLedgerEntry(&e) })
}

type consumptionJSON struct {
	WorkspaceID    string              `json:"workspace_id"`
	IdempotencyKey string              `json:"idempotency_key"`
	Amount         int64               `json:"amount"`
	Reason         string              `json:"reason"`
	Spent          spentJSON           `json:"spent"`
	Credits        billing.CreditsView `json:"credits"`
	CreatedAt      *string             `json:"created_at"`
	Replayed       bool                `json:"replayed"`
}

type spentJSON struct {
	Subscription int64 `json:"subscription"`
	Purchased    int64 `json:"purchased"`
}

// consumeHandler spends credits: 200 with the new balance, the same answer
// for the same idempotency key (with Idempotent-Replayed: true, as Stripe
// marks its own replays), 402 when the balance is short.
func (s *Server) consumeHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount         wholeNumber `json:"amount"`
		IdempotencyKey string      `json:"idempotency_key"`
		Reason         string      `json:"reason"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	amount, err := req.Amount.value("amount", billing.MaxConsumeAmount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.Service.Consume(r.Context(), billing.Consumption{
		WorkspaceID: r.PathValue("id"), Amount: amount, IdempotencyKey: req.IdempotencyKey, Reason: req.Reason})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusOK, consumptionJSON{
		WorkspaceID: c.WorkspaceID, IdempotencyKey: c.IdempotencyKey, Amount: c.Amount, Reason: c.Reason,
		Spent:     spentJSON{Subscription: c.FromSubscription, Purchased: c.FromPurchased},
		Credits:   billing.ViewCredits(c.Balance),
		CreatedAt: billing.RFC3339(c.CreatedAt), Replayed: c.Replayed,
	})
}

// wholeNumber is a JSON value that must be an integer: 1.5, 1e3 and
// strings are refused rather than rounded.
type wholeNumber []byte

func (n *wholeNumber) UnmarshalJSON(b []byte) error {
	*n = append((*n)[:0], b...)
	return nil
}

// optional is the number given, or nil for a field left out or null; the
// domain checks its range.
func (n wholeNumber) optional(field string) (*int64, error) {
	if len(n) == 0 || string(n) == "null" {
		return nil, nil
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, billing.Errorf(billing.EINVALID, "%s must be a whole number", field)
	}
	return &v, nil
}

func (n wholeNumber) value(field string, max int64) (int64, error) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < 1 || v > max {
		return 0, billing.Errorf(billing.EINVALID, "%s must be a whole number from 1 to %d", field, max)
	}
	return v, nil
}
